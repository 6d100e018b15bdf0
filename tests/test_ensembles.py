"""Ensembles: the mean of trained models' predictions, in the members' own terms where they share a loss."""

import numpy as np
import pytest
import torch
import yaml

from colorization.core.errors import UserError
from colorization.core.params import parse_params
from colorization.engines import create
from colorization.losses import classification as cls
from colorization.models import ModelSpec, saved
from colorization.models.ensemble import Ensemble
from conftest import ONE_COLOUR, ROOT, encoded_batch

SIZE = 16
DEFAULT_PARAMS_RAW = yaml.safe_load((ROOT / "params.yaml").read_text())


def trained(directory, loss: str, seed: int, **decoding):
    """A ResNet18 trained a few steps with `loss`, saved in `directory` like a training stage does."""
    network = create(
        "resnet18",
        lr=0.005,
        l_mean=0.5,
        l_std=0.29,
        seed=seed,
        loss=cls.Classification(**decoding) if loss == "classification" else None,
    )
    for _ in range(3):
        network.train_step(encoded_batch(4, SIZE, ONE_COLOUR))
    spec = ModelSpec(name=directory.name, arch="resnet18", loss=loss, image_size=SIZE, decoding=network.loss.decoding())
    saved.save(network, directory, spec)
    return directory


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    root = tmp_path_factory.mktemp("members")
    return {
        "mse": trained(root / "mse", "mse", seed=0),
        "cls_a": trained(root / "cls_a", "classification", seed=1, temperature=0.38),
        "cls_b": trained(root / "cls_b", "classification", seed=2, temperature=0.5),
    }


def l_input(n: int = 5) -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 1, (n, SIZE, SIZE, 1)).astype(np.float32)


def test_an_ensemble_of_one_model_twice_predicts_what_the_model_does(members, tmp_path):
    network, _ = saved.load(members["cls_a"])
    ensemble = Ensemble("twice", [members["cls_a"], members["cls_a"]])
    np.testing.assert_allclose(ensemble.predict(l_input()), network.predict(l_input()), atol=1e-5)


def test_classification_members_average_their_class_distributions(members):
    """By hand: each member's softmax over the Q classes, their mean, annealed at the first member's T."""
    distributions = []
    for name in ("cls_a", "cls_b"):
        network, _ = saved.load(members[name])
        network.module.eval()
        with torch.inference_mode():
            logits = network.module(torch.from_numpy(l_input().transpose(0, 3, 1, 2))).float().numpy()
        logits = (
            logits.repeat(2, axis=2).repeat(2, axis=3).transpose(0, 2, 3, 1).astype(np.float64)
        )  # the head's blocks
        exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
        distributions.append(exp / exp.sum(axis=-1, keepdims=True))
    annealed = np.mean(distributions, axis=0) ** (1 / 0.38)
    annealed /= annealed.sum(axis=-1, keepdims=True)
    expected = annealed @ cls.bin_centres() / 128
    predicted = Ensemble("pair", [members["cls_a"], members["cls_b"]]).predict(l_input())
    assert predicted.shape == (5, SIZE, SIZE, 2)
    np.testing.assert_allclose(predicted, expected, atol=2e-4)
    # not the mean of the members' decoded ab: the distributions are mixed before decoding
    decoded = np.mean([saved.load(members[name])[0].predict(l_input()) for name in ("cls_a", "cls_b")], axis=0)
    assert np.abs(predicted - decoded).max() > 1e-3


def test_members_with_different_losses_average_their_ab(members):
    expected = np.mean([saved.load(members[name])[0].predict(l_input(20)) for name in ("mse", "cls_a")], axis=0)
    predicted = Ensemble("mixed", [members["mse"], members["cls_a"]]).predict(l_input(20))  # chunks of 16
    np.testing.assert_allclose(predicted, expected, atol=1e-6)


def test_a_member_not_trained_yet_is_one_line(tmp_path):
    with pytest.raises(
        UserError, match=r"ensembles.pair: .*missing not found: train it first \(dvc repro train@missing\)"
    ):
        Ensemble("pair", [tmp_path / "missing", tmp_path / "other"])


@pytest.mark.parametrize(
    ("ensembles", "message"),
    [
        ({"pair": {"members": ["resnet18"]}}, r"ensembles.pair.members = \['resnet18'\]: must list two or more"),
        ({"pair": {"members": ["resnet18", "vgg"]}}, r"ensembles.pair.members: 'vgg' is no models entry"),
        ({"pair": {"members": ["resnet18", "cnn_v1"], "weights": [1, 2]}}, r"ensembles.pair.weights: unknown setting"),
        (
            {"resnet18": {"members": ["cnn_v1", "cnn_v2"]}},
            r"ensembles.resnet18: needs a name .* that no models entry has",
        ),
    ],
)
def test_ensemble_entries_are_checked(ensembles, message):
    with pytest.raises(UserError, match=message):
        parse_params(DEFAULT_PARAMS_RAW | {"ensembles": ensembles})


def test_the_default_params_have_the_study_ensemble():
    assert parse_params(DEFAULT_PARAMS_RAW).ensembles == {"ensemble": ("cnn_v1", "cnn_v2", "resnet18")}
