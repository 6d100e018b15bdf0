"""The settings files: `dvc exp run` composes params.yaml from conf/ (DVC's Hydra composition), so the
committed params.yaml must be exactly what composing conf/ gives, and every recipe must compose into
settings the stages accept."""

from pathlib import Path

import pytest
import yaml
from dvc.repo import Repo
from dvc.utils.hydra import compose_and_dump

from colorization.core.params import load_params
from colorization.models import resolve

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(path.stem for path in (ROOT / "conf" / "recipe").glob("*.yaml"))


def compose(tmp_path: Path, *overrides: str) -> Path:
    """params.yaml as `dvc exp run -S OVERRIDE ...` writes it, in `tmp_path`."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    output = tmp_path / "params.yaml"
    compose_and_dump(output, str(ROOT / "conf"), None, "config", "", list(overrides))
    return output


def test_the_committed_params_are_the_composed_defaults(tmp_path):
    # byte for byte: a plain `dvc exp run` leaves params.yaml as committed, no diff to explain
    assert compose(tmp_path).read_text() == (ROOT / "params.yaml").read_text()
    with Repo(ROOT) as repo:
        assert repo.config["hydra"]["enabled"] is True


def test_there_are_the_recipes_the_docs_name():
    assert RECIPES == ["encoder_ab", "miniplaces", "objects", "reference", "reference_hints", "scene_ab", "study"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_recipe_composes_into_settings_the_stages_accept(tmp_path, recipe):
    params = load_params(compose(tmp_path, f"+recipe={recipe}"))
    specs = [resolve(params, name) for name in params.models]
    assert specs and all(spec.arch for spec in specs)
    assert params.data.source == "places365"


def test_the_reference_recipe_trains_the_reference_model_alone(tmp_path):
    raw = yaml.safe_load(compose(tmp_path, "+recipe=reference", "train.epochs=2").read_text())
    assert list(raw["models"]) == ["reference"]
    assert raw["train"]["epochs"] == 2  # a -S value still wins over the recipe
    assert raw["data"]["image_size"] == 128
    assert raw["data"]["places365"]["md5"] == "60310ee90827f3fee803228011ea1318"
    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert raw["seed"] == default["seed"] and raw["evaluate"] == default["evaluate"]


def test_the_hints_recipe_is_the_reference_recipe_with_a_hint_input_started_from_the_shipped_reference(tmp_path):
    reference = yaml.safe_load(compose(tmp_path / "reference", "+recipe=reference").read_text())
    hints = yaml.safe_load(compose(tmp_path / "hints", "+recipe=reference_hints").read_text())
    assert hints["data"] == reference["data"] and hints["evaluate"] == reference["evaluate"]
    assert {**hints["train"], "epochs": 9} == reference["train"] and hints["train"]["epochs"] == 4
    [(name, model)] = hints["models"].items()
    assert name == "reference_hints"
    assert {key: value for key, value in model.items() if key not in ("hints", "init", "lr")} == reference["models"][
        "reference"
    ]
    assert (model["hints"], model["init"], model["lr"]) == (True, "reference", 0.001)


def test_the_miniplaces_recipe_keeps_the_study_models_with_their_sizes(tmp_path):
    raw = yaml.safe_load(compose(tmp_path, "+recipe=miniplaces").read_text())
    assert list(raw["models"]) == ["cnn_v1", "cnn_v2", "resnet18", "resnet18_cls", "unet_gan"]
    assert raw["models"]["cnn_v1"]["n_train"] == 6000 and raw["models"]["resnet18"]["n_train"] is None
    assert raw["models"]["resnet18_cls"]["loss_args"]["rebalance"] == 0.5  # untouched: from conf/models/study.yaml


def test_the_scene_recipe_differs_between_its_two_models_only_in_the_scene_context(tmp_path):
    models = yaml.safe_load(compose(tmp_path, "+recipe=scene_ab").read_text())["models"]
    assert models["scene"].pop("scene") is True and models["plain"] == models["scene"]
