"""The models that ship inside the package (`colorization/weights/`), which `colorize` and the page use
right after the install, without `dvc repro`: `objects` (the Lite0 U-Net with its ImageNet encoder,
trained at the study's scale), `reference_hints`, and `reference`, the automatic model that one was
fine-tuned from; and the recipes that reproduce them."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from dvc.utils.hydra import compose_and_dump
from PIL import Image

from colorization.colorize.render import load_model, trained_models
from colorization.core.color import rgb_to_lab
from colorization.core.paths import SHIPPED, Project
from colorization.models import saved
from colorization.models.ship import MAX_BYTES, ship
from conftest import ROOT, colorize_project, run
from photo_files import colour_photo

REFERENCE = SHIPPED / "reference"
SHIPPED_MODELS = ("objects", "reference", "reference_hints")
# architecture, hint input, and the photos of their training and validation splits
TRAINED = {
    "objects": ("lite0_unet", True, {"train": 39346, "val": 6003}),
    "reference": ("resnet18", False, {"train": 20907, "val": 2322}),
    "reference_hints": ("resnet18", True, {"train": 20907, "val": 2322}),
}
FILES = {"config.json", "model.pt", "metrics.json", "gray.json", "decoding.json", "recipe.yaml", "provenance.json"}


def test_the_shipped_models_are_objects_and_the_two_references():
    assert sorted(path.parent.name for path in SHIPPED.glob("*/config.json")) == list(SHIPPED_MODELS)


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_each_shipped_model_is_inside_the_package_within_10_mb(name):
    folder = SHIPPED / name
    arch, hints, counts = TRAINED[name]
    assert {path.name for path in folder.iterdir()} == FILES | ({"hints.json"} if hints else set())
    assert sum(path.stat().st_size for path in folder.iterdir()) <= MAX_BYTES
    spec = saved.read_config(folder)
    assert (spec.arch, spec.loss, spec.image_size, spec.hints) == (arch, "classification", 128, hints)
    assert json.loads((folder / "provenance.json").read_text())["data"]["counts"] == counts


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_each_recipe_reproduces_the_shipped_settings(tmp_path, name):
    """conf/recipe/NAME.yaml composes into the params.yaml that trained the shipped model."""
    composed = tmp_path / "params.yaml"
    compose_and_dump(composed, str(ROOT / "conf"), None, "config", "", [f"+recipe={name}"])
    assert yaml.safe_load(composed.read_text()) == yaml.safe_load((SHIPPED / name / "recipe.yaml").read_text())


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_the_shipped_models_beat_the_grey_image_where_colour_is_rare(name):
    """Their own validation split: more colour than the grey image, and the rare colours found more often."""
    metrics = json.loads((SHIPPED / name / "metrics.json").read_text())
    gray = json.loads((SHIPPED / name / "gray.json").read_text())
    assert metrics["n_images"] == gray["n_images"] == TRAINED[name][2]["val"]
    assert metrics["colorfulness_ratio"] >= 0.7
    assert metrics["auc_rebalanced"] >= gray["auc_rebalanced"] + 0.02


def test_the_hint_model_without_hints_is_as_good_as_the_reference_it_started_from():
    """Why it is the default: on the same split, within 0.003 raw AuC and 0.02 colourfulness ratio of the
    automatic reference, and told 10 points of the truth it gains PSNR and AuC."""
    hinted = json.loads((SHIPPED / "reference_hints" / "metrics.json").read_text())
    reference = json.loads((REFERENCE / "metrics.json").read_text())
    assert abs(hinted["auc"] - reference["auc"]) <= 0.003
    assert abs(hinted["colorfulness_ratio"] - reference["colorfulness_ratio"]) <= 0.02
    curve = {row["points"]: row for row in json.loads((SHIPPED / "reference_hints" / "hints.json").read_text())}
    assert list(curve) == [0, 1, 2, 5, 10, 20]
    assert curve[10]["psnr"] >= curve[0]["psnr"] + 2 and curve[10]["auc"] >= curve[0]["auc"] + 0.02
    assert hinted["hints"]["locality"]["near_change"] > 10 * hinted["hints"]["locality"]["far_change"]


def test_colorize_uses_the_shipped_model_in_a_folder_with_no_trained_model(tmp_path):
    photo = tmp_path / "garden.png"
    rgb = np.asarray(colour_photo(5, 96, 64))
    Image.fromarray(rgb).convert("L").save(photo)
    assert trained_models(tmp_path) == ["objects", "reference", "reference_hints"]
    result = run([sys.executable, "-m", "colorization.colorize", photo, "--output", tmp_path / "out"], cwd=tmp_path)
    assert "colorize: 1 done, 0 skipped" in result.stdout and "; model objects;" in result.stdout
    with Image.open(tmp_path / "out" / "garden.png") as image:
        coloured = np.asarray(image.convert("RGB"))
    assert coloured.shape == (64, 96, 3)
    lab = rgb_to_lab(coloured)
    assert np.abs(lab[..., 1:]).mean() > 2.0  # it adds colour
    np.testing.assert_allclose(lab[..., 0], rgb_to_lab(np.asarray(Image.open(photo).convert("RGB")))[..., 0], atol=1.5)


def test_a_workspace_model_of_the_same_name_takes_the_shipped_ones_place(tmp_path):
    project = colorize_project(tmp_path, ("resnet18",))
    shutil.copytree(project / "models" / "resnet18", project / "models" / "reference")
    assert trained_models(project) == ["reference", "resnet18", "objects", "reference_hints"]
    assert load_model("reference", project).directory == project / "models" / "reference"
    shutil.rmtree(project / "models" / "reference")
    assert trained_models(project) == ["resnet18", "objects", "reference", "reference_hints"]
    assert load_model("reference", project).directory == REFERENCE


def test_ship_copies_a_trained_and_evaluated_model_with_its_recipe(tmp_path):
    project = Project(colorize_project(tmp_path / "project", ("resnet18",)))
    (project.root / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    for path, values in ((project.model_metrics("resnet18"), {"mse": 0.01}), (project.gray_metrics, {"mse": 0.02})):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    project.decoding_curve("resnet18").parent.mkdir(parents=True)
    project.decoding_curve("resnet18").write_text("[]")
    folder = ship(project, "resnet18", tmp_path / "weights", note="a test")
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        ["config.json", "model.pt", "metrics.json", "gray.json", "decoding.json", "recipe.yaml", "provenance.json"]
    )
    assert load_model(str(folder), Path(tmp_path)).network.predict(np.full((1, 16, 16, 1), 0.5, np.float32)).shape == (
        1,
        16,
        16,
        2,
    )
    assert json.loads((folder / "provenance.json").read_text())["note"] == "a test"
    lightness = np.random.default_rng(0).random((2, 32, 48, 1), dtype=np.float32)
    exact = load_model(str(folder), Path(tmp_path)).network.predict(lightness)

    halved = ship(project, "resnet18", tmp_path / "half", half=True)
    assert halved.joinpath("model.pt").stat().st_size < 0.6 * folder.joinpath("model.pt").stat().st_size
    assert json.loads((halved / "provenance.json").read_text())["weights"] == "float16"
    loaded = load_model(str(halved), Path(tmp_path)).network
    assert all(parameter.dtype == torch.float32 for parameter in loaded.module.parameters()), "loads as float32"
    assert np.abs(loaded.predict(lightness) - exact).max() * 128 < 1.0, "within a LAB unit of the float32 weights"
