"""A loss and an architecture added from a module outside the package, through the registries alone (no
file of the package edited): resolved from a models entry, trained, saved, loaded back and refused with
one line where they do not fit."""

import copy
import importlib
import sys

import numpy as np
import pytest
import yaml

from colorization import architectures, losses
from colorization.core.errors import UserError
from colorization.core.params import DataParams, parse_params
from colorization.core.paths import Project
from colorization.lab.meta import open_prepared
from colorization.lab.prepare import prepare
from colorization.models import resolve, saved
from colorization.sources import download
from colorization.training.loop import train
from conftest import ROOT, deep_update


@pytest.fixture(autouse=True, scope="module")
def toy_plugins():
    """Import the plugin module, which registers toy_conv and toy_l1; remove them afterwards, so that the
    other tests' lists of what is allowed stay the package's own."""
    yield importlib.import_module("plugins.toy")
    architectures.ARCHITECTURES.pop("toy_conv")
    losses.LOSSES.pop("toy_l1")
    sys.modules.pop("plugins.toy")


TOY = {
    "data": {"n_images": 24, "image_size": 16},
    "train": {"epochs": 1, "batch_size": 32, "keep": "last"},
    "models": {"toy": {"arch": "toy_conv", "loss": "toy_l1", "loss_args": {"scale": 2.0}}},
}


def toy_params(changes: dict | None = None):
    raw = deep_update(yaml.safe_load((ROOT / "params.yaml").read_text()), copy.deepcopy(TOY))
    return parse_params(deep_update(raw, changes or {}))


def test_the_toy_plugins_are_registered_beside_the_built_in_ones():
    assert architectures.get("toy_conv").framework == "torch"
    assert "toy_conv" in architectures.colorizers() and "toy_l1" in losses.LOSSES
    spec = resolve(toy_params(), "toy")
    assert (spec.arch, spec.loss, spec.loss_args.scale, spec.framework) == ("toy_conv", "toy_l1", 2.0, "torch")


def test_a_plugin_loss_checks_its_own_settings_and_frameworks():
    with pytest.raises(UserError, match=r"^params.yaml: models.toy.loss_args.scale = -1: must be a number between"):
        resolve(toy_params({"models": {"toy": {"loss_args": {"scale": -1}}}}), "toy")
    with pytest.raises(
        UserError,
        match=r"^params.yaml: models.toy: loss toy_l1 trains torch architectures only, "
        r"and cnn_v1 is keras",
    ):
        resolve(toy_params({"models": {"toy": {"arch": "cnn_v1"}}}), "toy")


def test_the_toy_model_trains_one_step_saves_and_loads_back(tmp_path):
    project = Project(tmp_path)
    download(DataParams("sample", 24, 16, 0.25, 16), 0, project.raw)
    prepare(project.raw, project.lab, image_size=16, val_fraction=0.25, shard_size=16, seed=0, workers=1)
    params = toy_params()
    losses_of_epoch = train(resolve(params, "toy"), params, project)
    assert np.isfinite(losses_of_epoch["train_loss"]) and losses_of_epoch["epoch"] == 1
    network, spec = saved.load(project.model("toy"))
    images = open_prepared(project.lab).meta.counts["train"]
    assert (spec.arch, spec.loss, spec.loss_args.scale, spec.train_images) == ("toy_conv", "toy_l1", 2.0, images)
    assert images <= 32, "one batch: one optimizer step"
    prediction = network.predict(np.full((1, 8, 12, 1), 0.5, dtype=np.float32))
    assert prediction.shape == (1, 8, 12, 2) and np.isfinite(prediction).all()
