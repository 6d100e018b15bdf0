"""Training beyond one CPU process, through the real train stage on the CPU: data-parallel training under
torchrun (gloo) in two processes, on two "nodes" on 127.0.0.1, with a worker killed mid-epoch, and two
processes against one; and the Keras models on Keras's PyTorch backend, their path to a GPU."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_reliability import outputs

from conftest import copy_project, project_env, run

DDP_PARAMS = {
    "data": {"n_images": 96, "image_size": 32, "shard_size": 32},
    "models": {"cnn_v1": {"n_train": None}},
    "train": {"epochs": 3, "batch_size": 8, "devices": 2},
}

# A test-only architecture without normalisation layers: on CPUs PyTorch has no SyncBatchNorm, so each
# worker normalises its own half of a batch; without BatchNorm, 2 workers must match 1 process.
PLAIN_ARCHITECTURE = '''"""Test only: two convolutions, no normalisation."""

from torch import nn

from . import register


@register("plain", framework="torch", size_multiple=1)
def build(l_mean: float, l_std: float, outputs: int = 2) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, outputs, 3, padding=1))
'''


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    project = copy_project(tmp_path_factory.mktemp("ddp") / "project", DDP_PARAMS)
    (project / "src/colorization/architectures/plain.py").write_text(PLAIN_ARCHITECTURE)
    registry = project / "src/colorization/architectures/__init__.py"
    registry.write_text(registry.read_text() + "from . import plain  # noqa: E402, F401\n")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"]["plain"] = {"n_train": None}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("download", "prepare", "prior"):
        run(["python", f"stages/{stage}.py"], cwd=project)
    return project


def set_train(project: Path, **values) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def clear_outputs(project: Path, name: str) -> None:
    for folder in ("models", "dvclive", "checkpoints"):
        shutil.rmtree(project / folder / name, ignore_errors=True)


def weights(project: Path, name: str) -> dict[str, torch.Tensor]:
    return torch.load(project / "models" / name / "model.pt", weights_only=True)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: no procps needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def two_workers(prepared) -> tuple[str, dict[str, torch.Tensor]]:
    """ResNet18 trained by the stage in 2 DDP workers: its output and weights."""
    set_train(prepared, devices=2)
    clear_outputs(prepared, "resnet18")
    result = run(["python", "stages/train.py", "resnet18"], cwd=prepared)
    return result.stdout, weights(prepared, "resnet18")


@pytest.mark.slow
def test_two_processes_train_through_the_stage_and_only_rank_0_writes(prepared, two_workers):
    stdout = two_workers[0]
    assert "resnet18: data-parallel training in 2 processes (torchrun, gloo on the CPU)" in stdout
    assert "on cpu (1 thread) (2 workers, rank 0)" in stdout  # the machine's cores, shared
    for epoch in (1, 2, 3):
        assert stdout.count(f"resnet18 epoch {epoch}/3:") == 1, stdout  # rank 0 alone logs
    loss_log = (prepared / "dvclive/resnet18/plots/metrics/train/loss.tsv").read_text().splitlines()
    assert len(loss_log) == 1 + 3  # one header, one line per epoch: one writer
    assert sorted(p.name for p in (prepared / "checkpoints/resnet18").iterdir()) == ["best", "epoch_0003"]
    assert (prepared / "models/resnet18/model.pt").is_file()


@pytest.mark.slow
def test_two_workers_with_half_the_batch_reach_the_weights_of_one_process_with_all_of_it(prepared):
    """Without BatchNorm (the test's own architecture), DDP's averaged gradients are the whole batch's:
    equal up to float rounding, amplified a little by Adam, after 3 epochs of 9 steps."""
    initial = {}
    for devices in (1, 2):
        set_train(prepared, devices=devices)
        clear_outputs(prepared, "plain")
        run(["python", "stages/train.py", "plain"], cwd=prepared)
        initial[devices] = weights(prepared, "plain")
    one, two = initial[1], initial[2]
    difference = max(float((one[key] - two[key]).abs().max()) for key in one)
    scale = max(float(one[key].abs().max()) for key in one)
    assert difference < 1e-5 * scale + 1e-6, difference


@pytest.mark.slow
def test_a_worker_killed_mid_epoch_ends_the_stage_in_one_line_and_the_rerun_resumes(prepared):
    """The GAN: both networks and both optimizers, and dropout, under DDP."""
    set_train(prepared, devices=2)
    command = ["python", "stages/train.py", "unet_gan"]
    clear_outputs(prepared, "unet_gan")
    run(command, cwd=prepared)
    uninterrupted = outputs(prepared, "unet_gan")
    clear_outputs(prepared, "unet_gan")

    stage = subprocess.Popen(
        command,
        cwd=prepared,
        env=project_env(prepared),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    first = prepared / "checkpoints/unet_gan/epoch_0001/state.json"
    deadline = time.monotonic() + 300
    while not first.exists():
        assert stage.poll() is None and time.monotonic() < deadline, stage.communicate()
        time.sleep(0.01)
    workers = children(stage.pid)
    assert len(workers) == 2, workers
    os.kill(max(workers), signal.SIGKILL)
    stdout, stderr = stage.communicate(timeout=120)
    assert stage.returncode == 2, stdout + stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "was killed by SIGKILL; torchrun stopped the others" in errors[0], stderr
    assert "Traceback" not in stderr, stderr
    time.sleep(0.5)
    with pytest.raises(ProcessLookupError):  # no worker left behind in the stage's process group
        os.killpg(stage.pid, 0)

    resumed = run(command, cwd=prepared)
    assert "unet_gan: resuming after epoch" in resumed.stdout
    assert outputs(prepared, "unet_gan") == uninterrupted


@pytest.mark.slow
def test_two_nodes_on_localhost_train_like_two_processes_on_one(prepared, two_workers, tmp_path):
    """Two torchrun launches, one worker each, meeting at a rendezvous endpoint on 127.0.0.1; the second
    "node" is another folder with the data and no checkpoints: rank 0 alone writes, in its own folder."""
    one_machine = two_workers[1]
    set_train(prepared, devices=2)
    clear_outputs(prepared, "resnet18")

    node1 = tmp_path / "node1"
    node1.mkdir()
    for part in ("params.yaml", "stages", "src", "data"):
        copy = shutil.copytree if (prepared / part).is_dir() else shutil.copy2
        copy(prepared / part, node1 / part)
    endpoint = f"127.0.0.1:{free_port()}"
    # Each node's worker on its own half of the cores, so it computes with the threads each of the two workers
    # on one machine had: the same sums in the same order, whatever the CPU (other thread splits round
    # differently, and Adam amplifies that past the tolerance on some CPUs).
    cores = sorted(os.sched_getaffinity(0))
    halves = [cores[: len(cores) // 2], cores[len(cores) // 2 :]]
    pinned = len(cores) >= 2 and shutil.which("taskset") is not None
    nodes = [
        subprocess.Popen(
            [
                *(["taskset", "--cpu-list", ",".join(map(str, halves[rank]))] if pinned else []),
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nnodes",
                "2",
                "--node-rank",
                str(rank),
                "--nproc-per-node",
                "1",
                "--rdzv-backend",
                "static",
                "--rdzv-endpoint",
                endpoint,
                "stages/train.py",
                "resnet18",
            ],
            cwd=folder,
            env=project_env(folder),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for rank, folder in enumerate([prepared, node1])
    ]
    try:
        logs = [node.communicate(timeout=300)[0] for node in reversed(nodes)][::-1]
    finally:  # a node that failed leaves the other waiting at the rendezvous
        for node in nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
    assert [node.returncode for node in nodes] == [0, 0], logs
    assert "(2 workers, rank 0)" in logs[0] and "resnet18 epoch 3/3" in logs[0]
    assert not (node1 / "models").exists() and not (node1 / "checkpoints").exists()
    two_nodes = weights(prepared, "resnet18")
    for key, value in one_machine.items():
        np.testing.assert_allclose(two_nodes[key].numpy(), value.numpy(), rtol=1e-3, atol=1e-4, err_msg=key)


@pytest.mark.slow
def test_the_keras_models_train_on_the_pytorch_backend_and_tensorflow_loads_them(prepared):
    """The Keras CNNs' path to the GPU that PyTorch sees: the same stage, model and `.keras` file."""
    set_train(prepared, devices=2, keras_backend="torch")
    clear_outputs(prepared, "cnn_v1")
    trained = run(["python", "stages/train.py", "cnn_v1"], cwd=prepared)
    assert (
        "cnn_v1: a keras model trains in one process; train.devices = 2 applies to the models whose engine "
        "trains data-parallel"
    ) in trained.stdout
    assert "on cpu (Keras on torch) (one process)" in trained.stdout
    assert "cnn_v1 epoch 3/3" in trained.stdout
    evaluated = run(["python", "stages/evaluate.py", "cnn_v1"], cwd=prepared)  # on TensorFlow, the default
    metrics = json.loads((prepared / "metrics/cnn_v1.json").read_text())
    assert metrics["n_images"] == 24 and np.isfinite(metrics["mse"]), evaluated.stdout

    set_train(prepared, keras_backend="tensorflow")
    retrained = run(["python", "stages/train.py", "cnn_v1"], cwd=prepared)
    assert "keras_backend torch -> tensorflow" in retrained.stdout and "starting fresh" in retrained.stdout
    assert "on cpu (Keras on tensorflow) (one process)" in retrained.stdout
