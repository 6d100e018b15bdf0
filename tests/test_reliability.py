"""Reliability: killed stages resume to the uninterrupted result, crafted files are never run,
and a failed write names its path and keeps the previous output."""

import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import copy_project, project_env, run

KILL_PARAMS = {
    "data": {"n_images": 160, "image_size": 32, "shard_size": 32},
    "train": {"epochs": 6, "batch_size": 8},
    "models": {"cnn_v1": {"n_train": None}},
}


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    """Start a command in its own process group, so a SIGKILL reaches every process it started."""
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=project_env(cwd),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_when(process: subprocess.Popen, path: Path, timeout: float = 600) -> None:
    """SIGKILL the process group as soon as `path` exists."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"finished before {path} appeared:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear in {timeout} s")
        time.sleep(0.002)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def outputs(project: Path, arch: str) -> dict[str, bytes]:
    files = [
        *(project / "models" / arch).iterdir(),
        *(project / "dvclive" / arch).rglob("*.tsv"),
        project / "dvclive" / arch / "metrics.json",
    ]
    return {str(path.relative_to(project)): path.read_bytes() for path in files if path.is_file()}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("kill") / "project", KILL_PARAMS)
    run(["python", "stages/download.py"], cwd=project)
    run(["python", "stages/prepare.py"], cwd=project)
    return project


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["resnet18"])
def test_training_killed_in_epoch_4_resumes_to_the_uninterrupted_result(prepared, arch):
    """A SIGKILL mid-training of the stage in one process. The other trainings are killed elsewhere, so
    each is checked once: cnn_v1 inside `dvc repro` (test_pipeline), the GAN with both networks, both
    optimizers and dropout in a killed DDP worker (test_distributed) and in process (test_checkpoints)."""
    command = ["python", "stages/train.py", arch]
    run(command, cwd=prepared)
    uninterrupted = outputs(prepared, arch)
    for folder in ("models", "dvclive", "checkpoints"):
        shutil.rmtree(prepared / folder / arch)

    checkpoint_dir = prepared / "checkpoints" / arch
    kill_when(start(command, prepared), checkpoint_dir / "epoch_0003" / "state.json")
    newest = max(p.name for p in checkpoint_dir.iterdir() if not p.name.endswith(".tmp"))
    assert newest in ("epoch_0003", "epoch_0004"), "the kill should land in epoch 4 or just after its checkpoint"
    resumed = run(command, cwd=prepared)
    assert f"{arch}: resuming after epoch" in resumed.stdout
    assert outputs(prepared, arch) == uninterrupted


@pytest.mark.slow
def test_an_edited_architecture_discards_the_checkpoint_and_trains_from_epoch_1(prepared):
    """The issue's case: with the last epoch's checkpoint in place, changing one activation of the
    architecture must retrain it, not resume after the last epoch and keep the old weights."""
    command = ["python", "stages/train.py", "resnet18"]
    run(command, cwd=prepared)
    before = (prepared / "models" / "resnet18" / "model.pt").read_bytes()
    unchanged = run(command, cwd=prepared)
    assert "resnet18: resuming after epoch 6" in unchanged.stdout
    assert (prepared / "models" / "resnet18" / "model.pt").read_bytes() == before

    source = prepared / "src" / "colorization" / "architectures" / "resnet18.py"
    original = source.read_text()
    assert "nn.ReLU()" in original
    source.write_text(original.replace("nn.ReLU()", "nn.LeakyReLU(0.2)"))
    try:
        edited = run(command, cwd=prepared)
    finally:
        source.write_text(original)
    assert "was made with other code (architectures/resnet18.py); starting fresh" in edited.stdout
    assert "resuming" not in edited.stdout and "resnet18 epoch 1/6" in edited.stdout
    assert (prepared / "models" / "resnet18" / "model.pt").read_bytes() != before


class _Payload:
    """Unpickling this runs a shell command: what a crafted model file would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch '{self.marker}'",)


def plant_pickle(model_dir: Path, marker: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.json").write_text('{"arch": "resnet18", "framework": "torch", "image_size": 32}')
    with open(model_dir / "model.pt", "wb") as handle:
        pickle.dump({"weights": _Payload(marker)}, handle)


def test_the_planted_payload_is_live_when_unpickled_unsafely(tmp_path):
    marker = tmp_path / "unsafe-marker"
    plant_pickle(tmp_path / "model", marker)
    code = "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "model" / "model.pt")], check=True)
    assert marker.exists()


@pytest.mark.slow
def test_evaluate_refuses_a_crafted_pickle_and_never_runs_it(tmp_path):
    project = copy_project(tmp_path / "project")
    marker = tmp_path / "marker"
    plant_pickle(project / "models" / "resnet18", marker)
    result = run(["python", "stages/evaluate.py", "resnet18"], cwd=project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: models/resnet18/model.pt could not be loaded safely: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists()


@pytest.mark.slow
def test_a_keras_model_carrying_code_is_refused(tmp_path):
    marker = tmp_path / "marker"
    model_dir = tmp_path / "models" / "cnn_v1"
    script = f"""
import pathlib
from colorization.models import saved
from colorization.models import ModelSpec
from colorization.engines.keras_engine import KerasNetwork, keras
touch = lambda x: (pathlib.Path({str(marker)!r}).touch(), x)[1]
layers = [keras.Input((None, None, 1)), keras.layers.Lambda(touch), keras.layers.Conv2D(2, 3, padding="same")]
model = keras.Sequential(layers)
saved.save(KerasNetwork(model), pathlib.Path({str(model_dir)!r}), ModelSpec(name="cnn_v1", image_size=32))
"""
    run([sys.executable, "-c", script], cwd=tmp_path)
    marker.unlink()
    check = "from colorization.models import saved; import sys; saved.load(sys.argv[1])"
    result = run([sys.executable, "-c", check, str(model_dir)], cwd=tmp_path, check=False)
    assert result.returncode != 0
    assert "could not be loaded safely: it carries Python code (a Lambda layer)" in result.stderr
    assert not marker.exists()


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


@pytest.mark.slow
def test_a_failed_write_names_the_path_and_keeps_the_previous_output(tmp_path):
    project = copy_project(tmp_path / "project", {"data": {"n_images": 24, "image_size": 16}})
    for stage in ("download", "prepare", "baseline"):
        run(["python", f"stages/{stage}.py"], cwd=project)
    previous = (project / "metrics" / "gray.json").read_bytes()
    result = subprocess.run(
        ["python", "stages/baseline.py"],
        cwd=project,
        env=project_env(project),
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: cannot write metrics/gray.json: File too large"
    assert (project / "metrics" / "gray.json").read_bytes() == previous
    assert not [p.name for p in (project / "metrics").iterdir() if p.name.startswith("tmp-")]


@pytest.mark.slow
def test_an_output_directory_that_is_a_file_is_named(tmp_path):
    project = copy_project(tmp_path / "project", {"data": {"n_images": 24, "image_size": 16}})
    for stage in ("download", "prepare"):
        run(["python", f"stages/{stage}.py"], cwd=project)
    shutil.rmtree(project / "metrics")
    (project / "metrics").write_text("not a directory")
    result = run(["python", "stages/baseline.py"], cwd=project, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: cannot write metrics/gray.json: ")
