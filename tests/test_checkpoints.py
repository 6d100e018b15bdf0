"""Checkpoints in process: the fingerprint names what changed (params, data, code, package versions), a
checkpoint made otherwise is discarded, and an interrupted training resumes to the uninterrupted result."""

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from colorization.core.params import DataParams, parse_params
from colorization.core.paths import Project
from colorization.lab.prepare import prepare
from colorization.models import resolve
from colorization.sources import download
from colorization.training import checkpoints
from colorization.training.loop import learning_rate, train
from conftest import ROOT, deep_update

TINY = {"data": {"n_images": 24, "image_size": 16}, "train": {"epochs": 2, "batch_size": 8}}


def params_with(changes: dict):
    raw = deep_update(yaml.safe_load((ROOT / "params.yaml").read_text()), copy.deepcopy(TINY))
    return parse_params(deep_update(raw, changes))


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    download(DataParams("sample", 24, 16, 0.25, 16), 0, root / "raw")
    prepare(root / "raw", root / "lab", image_size=16, val_fraction=0.25, shard_size=16, seed=0, workers=1)
    return root / "lab"


@dataclass(frozen=True)
class Outputs(Project):
    """One training's outputs straight under `root` (model/, live/, checkpoints/), on shared shards."""

    shards: Path = Path("lab")

    @property
    def lab(self) -> Path:
        return self.shards

    @property
    def prior(self) -> Path:
        return self.shards / "prior.json"

    def model(self, name: str) -> Path:
        return self.root / "model"

    def live(self, name: str) -> Path:
        return self.root / "live"

    def checkpoints(self, name: str) -> Path:
        return self.root / "checkpoints"


def run_training(params, lab_dir, out, name="resnet18"):
    return train(resolve(params, name), params, Outputs(out, lab_dir))


def test_the_fingerprint_covers_the_modules_the_training_runs_and_the_framework_versions(lab_dir):
    params = params_with({})
    spec = resolve(params, "resnet18")
    from colorization.engines import create

    create(spec.arch, params.lr, 0.5, 0.25, params.seed)  # loads the engine and the architecture
    fingerprint = checkpoints.fingerprint(spec, params, lab_dir)
    assert {
        "architectures/resnet18.py",
        "engines/torch_engine.py",
        "models/__init__.py",
        "training/loop.py",
        "training/checkpoints.py",
        "lab/shards.py",
        "core/encoding.py",
    } <= set(fingerprint["code"])
    assert {"torch", "torchvision", "numpy", "numba"} <= set(fingerprint["versions"])
    assert checkpoints.differences(fingerprint, fingerprint) == ""


def test_differences_name_what_changed(lab_dir):
    params = params_with({})
    current = checkpoints.fingerprint(resolve(params, "resnet18"), params, lab_dir)
    edited = copy.deepcopy(current)
    edited["code"]["architectures/resnet18.py"] = "0" * 64
    assert checkpoints.differences(edited, current) == "with other code (architectures/resnet18.py)"
    other = checkpoints.fingerprint(
        resolve(params_with({"lr": 0.002}), "resnet18"), params_with({"lr": 0.002}), lab_dir
    )
    assert checkpoints.differences(other, current) == "with other params"
    edited = copy.deepcopy(current)
    edited["versions"]["torch"] = "1.0"
    assert (
        checkpoints.differences(edited, current)
        == f"with other package versions (torch 1.0 -> {current['versions']['torch']})"
    )
    assert checkpoints.differences("a digest of an older version", current) == "by an older version of this project"


HINTED = {"arch": "resnet18", "hints": True}


@pytest.mark.parametrize("name", ["resnet18", "unet_gan", "hinted"])
def test_an_interrupted_training_resumes_to_the_uninterrupted_result(lab_dir, tmp_path, monkeypatch, capsys, name):
    """For the GAN, epoch 1 is the L1-only warm-up and the discriminator joins after the resume; the
    images mirrored in epoch 2 come from the restored generator too; the hint model's epoch 2 hints
    come from their own generator, seeded by the epoch."""
    params = params_with(
        {
            "models": {"unet_gan": {"loss_args": {"warmup_epochs": 1}}, "hinted": HINTED},
            "train": {"keep": "last", "hflip": True},
        }
    )
    run_training(params, lab_dir, tmp_path / "whole", name)
    expected = (tmp_path / "whole" / "model" / "model.pt").read_bytes()
    expected_checkpoint = (tmp_path / "whole" / "checkpoints" / "epoch_0002" / "checkpoint.pt").read_bytes()

    real_save = checkpoints.save

    def save_then_stop(*args, **kwargs):
        real_save(*args, **kwargs)
        raise KeyboardInterrupt  # stopped right after epoch 1's checkpoint, as a kill would

    monkeypatch.setattr(checkpoints, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_training(params, lab_dir, tmp_path / "cut", name)
    monkeypatch.undo()
    capsys.readouterr()
    run_training(params, lab_dir, tmp_path / "cut", name)
    assert f"{name}: resuming after epoch 1" in capsys.readouterr().out
    assert (tmp_path / "cut" / "model" / "model.pt").read_bytes() == expected
    assert (tmp_path / "cut" / "checkpoints" / "epoch_0002" / "checkpoint.pt").read_bytes() == expected_checkpoint
    for log in ("metrics.json", "plots/metrics/val/mse.tsv", "plots/metrics/lr.tsv"):  # re-logged from state.json
        assert (tmp_path / "cut" / "live" / log).read_bytes() == (tmp_path / "whole" / "live" / log).read_bytes()


def test_hints_leave_the_batch_order_and_the_mirroring_as_they_were(lab_dir, tmp_path):
    params = params_with({"models": {"hinted": HINTED}, "train": {"hflip": True}})
    run_training(params, lab_dir, tmp_path / "plain", "resnet18")
    run_training(params, lab_dir, tmp_path / "hinted", "hinted")
    states = [
        json.loads((tmp_path / run / "checkpoints" / "epoch_0002" / checkpoints.STATE_FILE).read_text())["rng_state"]
        for run in ("plain", "hinted")
    ]
    assert states[0] == states[1]


def test_the_best_validation_epoch_is_kept_and_recorded(lab_dir, tmp_path):
    """With keep: val_loss the saved model is the best epoch's, named in config.json and dvclive."""
    params = params_with({"train": {"epochs": 3, "keep": "val_loss"}, "lr": 0.05})
    kept = run_training(params, lab_dir, tmp_path)
    history = json.loads(next((tmp_path / "checkpoints").glob("epoch_*/state.json")).read_text())["history"]
    losses = [epoch["val_loss"] for epoch in history]
    assert kept["epoch"] == 1 + losses.index(min(losses))
    assert json.loads((tmp_path / "model" / "config.json").read_text())["epoch"] == kept["epoch"]
    assert json.loads((tmp_path / "live" / "metrics.json").read_text())["best_epoch"] == kept["epoch"]
    best = tmp_path / "checkpoints" / checkpoints.BEST / "model.pt"
    assert (tmp_path / "model" / "model.pt").read_bytes() == best.read_bytes()
    last = run_training(params_with({"train": {"epochs": 3, "keep": "last"}, "lr": 0.05}), lab_dir, tmp_path / "last")
    assert last["epoch"] == 3
    assert [epoch["lr"] for epoch in history] == [0.05] * 3


def test_learning_rate_schedules():
    assert [learning_rate(0.1, "constant", epoch, 4) for epoch in range(4)] == [0.1] * 4
    assert [learning_rate(1.0, "cosine", epoch, 4) for epoch in range(4)] == pytest.approx(
        [1.0, 0.8536, 0.5, 0.1464], abs=1e-4
    )
    assert [learning_rate(1.0, "step", epoch, 8) for epoch in range(8)] == pytest.approx(
        [1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01]
    )
    assert [learning_rate(1.0, "step", epoch, 5) for epoch in range(5)] == pytest.approx([1, 1, 1, 0.1, 0.01])


def test_a_checkpoint_made_with_other_params_is_discarded(lab_dir, tmp_path, capsys):
    run_training(params_with({}), lab_dir, tmp_path)
    capsys.readouterr()
    run_training(params_with({"lr": 0.002}), lab_dir, tmp_path)
    output = capsys.readouterr().out
    assert "was made with other params; starting fresh" in output and "resuming" not in output
    assert "epoch 1/2" in output


def test_a_checkpoint_of_an_older_version_is_discarded(lab_dir, tmp_path, capsys):
    params = params_with({})
    run_training(params, lab_dir, tmp_path)
    state_file = next((tmp_path / "checkpoints").glob("epoch_*/state.json"))
    state = json.loads(state_file.read_text())
    state["fingerprint"] = "0" * 64  # what the version before this one wrote: one digest
    state_file.write_text(json.dumps(state))
    capsys.readouterr()
    run_training(params, lab_dir, tmp_path)
    output = capsys.readouterr().out
    assert "was made by an older version of this project; starting fresh" in output and "epoch 1/2" in output


def test_hflip_trains_on_mirrored_images_and_is_part_of_the_fingerprint(lab_dir, tmp_path):
    plain = params_with({"train": {"epochs": 1, "keep": "last"}})
    mirrored = params_with({"train": {"epochs": 1, "keep": "last", "hflip": True}})
    run_training(plain, lab_dir, tmp_path / "plain")
    run_training(mirrored, lab_dir, tmp_path / "mirrored")
    assert (tmp_path / "plain" / "model" / "model.pt").read_bytes() != (
        tmp_path / "mirrored" / "model" / "model.pt"
    ).read_bytes()
    fingerprints = [
        checkpoints.fingerprint(resolve(params, "resnet18"), params, lab_dir) for params in (plain, mirrored)
    ]
    assert checkpoints.differences(*fingerprints) == "with other params"
