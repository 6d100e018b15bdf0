"""Params validation: every bad value stops a stage with one line naming the key and what is allowed."""

import copy
from pathlib import Path

import pytest
import yaml

from colorization.core.errors import UserError
from colorization.core.params import DATA_SOURCES, parse_params
from colorization.models import resolve
from colorization.sources import SOURCES
from conftest import ROOT, copy_project, run

DEFAULT = yaml.safe_load((ROOT / "params.yaml").read_text())


def with_change(path: str, value):
    params = copy.deepcopy(DEFAULT)
    *parents, last = path.split(".")
    section = params
    for key in parents:
        section = section[key]
    section[last] = value
    return params


def test_the_committed_params_are_valid():
    """Five models out of the box: the study's three with its loss, and what the issue of losses adds."""
    params = parse_params(DEFAULT)
    specs = {name: resolve(params, name) for name in params.models}
    assert {name: (spec.arch, spec.loss) for name, spec in specs.items()} == {
        "cnn_v1": ("cnn_v1", "mse"),
        "cnn_v2": ("cnn_v2", "mse"),
        "resnet18": ("resnet18", "mse"),
        "resnet18_cls": ("resnet18", "classification"),
        "unet_gan": ("unet", "gan"),
    }
    assert specs["unet_gan"].lr == 0.0002  # pix2pix's
    assert params.data.image_size % 8 == 0


def test_every_model_is_in_the_dvc_plots():
    """Each model's loss curves, and each classification model's decoding curve."""
    params = parse_params(DEFAULT)
    plots = {
        name: definition
        for plot in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
        if isinstance(plot, dict)
        for name, definition in plot.items()
    }
    for name in ("train_loss", "val_mse"):
        assert {path.split("/")[1] for path in plots[name]["y"]} == set(params.models)
    swept = {name for name in params.models if resolve(params, name).loss == "classification"}
    assert {Path(path).stem for path in plots["decoding"]["y"]} == swept


def test_every_source_allowed_by_params_is_implemented():
    assert set(DATA_SOURCES) == set(SOURCES)


@pytest.mark.parametrize(
    "path,value,expected",
    [
        ("data.image_size", 30, "data.image_size = 30: must be a multiple of 8"),
        ("data.image_size", 0, "data.image_size = 0: must be an integer >= 8"),
        ("data.n_images", -5, "data.n_images = -5: must be an integer >= 2"),
        ("data.n_images", "many", "data.n_images = 'many': must be an integer >= 2"),
        ("data.shard_size", 0, "data.shard_size = 0: must be an integer >= 1"),
        ("data.source", "imagenet", "data.source = 'imagenet': allowed values are sample, places365, folder"),
        ("data.path", 7, "data.path = 7: must be a non-empty string or null"),
        ("data.cache_dir", "", "data.cache_dir = '': must be a non-empty string or null"),
        ("data.places365.url", None, "data.places365.url = None: must be a non-empty string"),
        ("data.places365.md5", "abc", "data.places365.md5 = 'abc': must be 32 hexadecimal digits or null"),
        ("data.places365", "http://x", "data.places365 must be a mapping"),
        ("data.val_fraction", 1.5, "data.val_fraction = 1.5: must be a number between 0.0 and 1.0"),
        ("train.epochs", 0, "train.epochs = 0: must be an integer >= 1"),
        ("train.batch_size", True, "train.batch_size = True: must be an integer >= 1"),
        ("lr", -0.1, "lr = -0.1: must be a number between 0.0 and 1.0"),
        ("train.mixed_precision", "yes", "train.mixed_precision = 'yes': must be true or false"),
        ("train.hflip", 1, "train.hflip = 1: must be true or false"),
        ("seed", None, "seed = None: must be an integer >= 0"),
        ("models.cnn_v1.n_train", 0, "models.cnn_v1.n_train = 0: must be an integer >= 1 or null"),
        ("models.cnn_v1.arch", 3, "models.cnn_v1.arch = 3: must be a non-empty string or null"),
        ("models.a/b", {"n_train": None}, "models.a/b: a model name is letters, digits"),
        ("models", {}, "models is empty"),
        ("models.cnn_v1.loss", 7, "models.cnn_v1.loss = 7: must be a non-empty string or null"),
        (
            "models.resnet18_cls.loss_args.temperature",
            0,
            "models.resnet18_cls.loss_args.temperature = 0: must be a number between 0.0 and 10.0",
        ),
        (
            "models.resnet18_cls.loss_args.rebalance",
            1.5,
            "models.resnet18_cls.loss_args.rebalance = 1.5: must be a number between 0.0 and 1.0 (1.0 included)",
        ),
        (
            "models.resnet18_cls.loss_args.rebalance",
            0,
            "models.resnet18_cls.loss_args.rebalance = 0: must be a number between 0.0 and 1.0 (1.0 included)",
        ),
        (
            "models.resnet18_cls.loss_args.decode_rebalance",
            "high",
            "models.resnet18_cls.loss_args.decode_rebalance = 'high': must be a number between 0.0 and 1.0 "
            "(1.0 included) or null",
        ),
        (
            "models.resnet18_cls.loss_args.tempreature",
            0.5,
            "models.resnet18_cls.loss_args.tempreature: unknown key; allowed: temperature, rebalance, decode_rebalance",
        ),
        (
            "models.resnet18_cls.loss_args",
            [0.38],
            "models.resnet18_cls.loss_args = [0.38]: must be a mapping of settings",
        ),
        (
            "models.cnn_v1.loss_args",
            {"temperature": 0.5},
            "models.cnn_v1.loss_args.temperature: unknown key; allowed: ",
        ),
        ("models.cnn_v1.epochs", 3, "models.cnn_v1.epochs: unknown key; allowed: arch, loss, lr, n_train, loss_args"),
        ("train.epoch", 3, "train.epoch: unknown key; allowed: epochs, batch_size"),
        (
            "classification",
            {"temperature": 0.38},
            "params.yaml: classification: a loss's settings now belong to each model that uses it, as "
            "models.NAME.loss_args",
        ),
        ("train.lr_schedule", "linear", "train.lr_schedule = 'linear': allowed values are constant, cosine, step"),
        ("train.keep", "best", "train.keep = 'best': allowed values are val_loss, val_mse, last"),
        ("models.cnn_v1.lr", 2, "models.cnn_v1.lr = 2: must be a number between 0.0 and 1.0 (exclusive) or null"),
        (
            "models.unet_gan.loss_args.l1_weight",
            -1,
            "models.unet_gan.loss_args.l1_weight = -1: must be a number between 0.0 and 1000000.0",
        ),
        (
            "models.unet_gan.loss_args.warmup_epochs",
            1.5,
            "models.unet_gan.loss_args.warmup_epochs = 1.5: must be an integer >= 0",
        ),
        ("gan", {"l1_weight": 100}, "params.yaml: gan: a loss's settings now belong to each model"),
    ],
)
def test_bad_values_give_one_line_naming_key_and_allowed(path, value, expected):
    """Checked when params.yaml is read, or a models entry when it is resolved (the stages that use it)."""
    with pytest.raises(UserError) as caught:
        params = parse_params(with_change(path, value))
        for name in params.models:
            resolve(params, name)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "entry,expected",
    [
        (
            {"n_train": None},
            "params.yaml: models.vgg16.arch: unknown architecture 'vgg16'; "
            "allowed: cnn_v1, cnn_v2, resnet18, lite0_unet, unet",
        ),
        (
            {"arch": "vgg"},
            "params.yaml: models.vgg16.arch: unknown architecture 'vgg'; "
            "allowed: cnn_v1, cnn_v2, resnet18, lite0_unet, unet",
        ),
    ],
)
def test_an_unknown_architecture_is_named_when_its_entry_is_resolved(entry, expected):
    params = parse_params(with_change("models.vgg16", entry))
    with pytest.raises(UserError) as caught:
        resolve(params, "vgg16")
    assert str(caught.value) == expected


def test_an_unknown_loss_is_named_when_its_entry_is_resolved():
    params = parse_params(with_change("models.cnn_v1.loss", "perceptual"))
    with pytest.raises(UserError) as caught:
        resolve(params, "cnn_v1")
    assert str(caught.value) == (
        "params.yaml: models.cnn_v1.loss = 'perceptual': unknown loss; allowed: mse, classification, gan"
    )


def test_a_loss_for_one_framework_names_the_architectures_it_allows():
    params = parse_params(with_change("models.cnn_v1.loss", "gan"))
    with pytest.raises(UserError) as caught:
        resolve(params, "cnn_v1")
    assert str(caught.value) == (
        "params.yaml: models.cnn_v1: loss gan trains torch architectures only, and "
        "cnn_v1 is keras; allowed arch: resnet18, lite0_unet, unet"
    )


def test_a_model_takes_its_own_learning_rate_or_the_top_level_one():
    params = parse_params(with_change("models.cnn_v1.lr", 0.0002))
    assert resolve(params, "cnn_v1").lr == 0.0002
    assert resolve(params, "cnn_v2").lr == params.lr == 0.01


def test_an_entry_resolves_once_into_name_architecture_framework_n_train_and_loss():
    params = parse_params(with_change("models.small", {"arch": "resnet18", "n_train": 100, "loss": "classification"}))
    spec = resolve(params, "small")
    assert (spec.name, spec.arch, spec.framework, spec.n_train, spec.loss) == (
        "small",
        "resnet18",
        "torch",
        100,
        "classification",
    )
    assert resolve(params, "cnn_v1").loss == "mse"
    assert {resolve(params, name).framework for name in params.models} == {"keras", "torch"}


def test_two_models_may_use_one_loss_with_their_own_settings_and_only_training_ones_change_the_recipe():
    params = parse_params(
        with_change(
            "models.warm",
            {"arch": "resnet18", "loss": "classification", "loss_args": {"temperature": 0.2, "rebalance": 1}},
        )
    )
    warm, default = resolve(params, "warm"), resolve(params, "resnet18_cls")
    assert (warm.loss_args.temperature, warm.loss_args.rebalance) == (0.2, 1.0)
    assert (default.loss_args.temperature, default.loss_args.rebalance) == (0.38, 0.5)
    assert warm.recipe()["loss_args"] == {"rebalance": 1.0}, "the temperature only decodes"


def test_the_folder_source_needs_a_path_taken_from_the_params_file(tmp_path):
    params = with_change("data.source", "folder")
    with pytest.raises(UserError, match="params.yaml: data.path is null: data.source = folder needs a folder"):
        parse_params(params)
    params["data"]["path"] = "../photos"
    assert parse_params(params, base=tmp_path / "project").data.path == tmp_path / "project" / ".." / "photos"
    params["data"]["path"] = "~/photos"
    assert parse_params(params).data.path == Path.home() / "photos"


def test_the_places365_source_needs_its_archive_and_accepts_a_null_md5():
    params = with_change("data.source", "places365")
    params["data"]["places365"]["md5"] = None
    assert parse_params(params).data.places365[0].md5 is None
    del params["data"]["places365"]
    with pytest.raises(UserError, match="params.yaml: data.places365 is missing"):
        parse_params(params)
    sample = copy.deepcopy(DEFAULT)
    del sample["data"]["places365"], sample["data"]["path"], sample["data"]["cache_dir"]
    assert parse_params(sample).data.places365 == (), "other sources do not need the places365 keys"


def test_the_places365_source_reads_a_list_of_archives_in_order():
    params = with_change("data.source", "places365")
    params["data"]["places365"] = {"url": ["a.tar", "b.tar"], "md5": [None, "F" * 32]}
    assert [(places.url, places.md5) for places in parse_params(params).data.places365] == [
        ("a.tar", None),
        ("b.tar", "f" * 32),
    ]
    params["data"]["places365"]["md5"] = [None, "abc"]
    with pytest.raises(UserError, match=r"data.places365.md5\[1\] = 'abc': must be 32 hexadecimal digits or null"):
        parse_params(params)
    params["data"]["places365"]["md5"] = None
    with pytest.raises(UserError, match="data.places365.md5 = None: with 2 urls, must be a list of 2 MD5s"):
        parse_params(params)
    params["data"]["places365"] = {"url": [], "md5": []}
    with pytest.raises(UserError, match="data.places365.url is an empty list"):
        parse_params(params)


def test_a_missing_section_is_named():
    params = copy.deepcopy(DEFAULT)
    del params["train"]
    with pytest.raises(UserError, match="params.yaml: train is missing"):
        parse_params(params)


@pytest.mark.slow
@pytest.mark.parametrize(
    "stage", ["download.py", "prepare.py", "train.py cnn_v1", "evaluate.py resnet18", "baseline.py", "plots.py"]
)
def test_a_stage_with_bad_params_prints_one_line_and_no_traceback(stage, tmp_path):
    project = copy_project(tmp_path / "project", {"data": {"image_size": 30}})
    result = run(["python", *f"stages/{stage}".split()], cwd=project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: params.yaml: data.image_size = 30: must be a multiple of 8 (the networks downsample by 8)"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_stage_whose_input_is_missing_names_the_stage_that_makes_it(tmp_path):
    project = copy_project(tmp_path / "project")
    result = run(["python", "stages/evaluate.py", "cnn_v1"], cwd=project, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.strip() == "error: models/cnn_v1 not found: run the training stage first (dvc repro train@cnn_v1)"
    )
