"""Beyond one run in one folder, with the real DVC: queued experiments run two at a time, and results
pushed to a remote from one clone and pulled into another."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import TINY_PARAMS, copy_project, dvc, project_env, run, write_params

LEARNING_RATES = ("0.001", "0.003")


@pytest.fixture(scope="module")
def committed_run(tmp_path_factory) -> Path:
    """A tiny project with one model (ResNet18), after `dvc repro`, committed."""
    project = copy_project(tmp_path_factory.mktemp("experiments") / "project", TINY_PARAMS)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["models"] = {"resnet18": {"n_train": None}}
    params["ensembles"] = {}  # the default one's members are gone
    write_params(project, params)
    dvc("repro", cwd=project)
    run(["git", "add", "-A"], cwd=project)
    run(["git", "commit", "-q", "-m", "baseline run"], cwd=project)
    return project


def experiment_metrics(project: Path) -> dict[str, dict]:
    """name -> metrics/resnet18.json of every experiment `dvc exp show --json` lists."""
    found = {}

    def walk(node):
        if isinstance(node, dict):
            name, data = node.get("name"), node.get("data")
            if name and isinstance(data, dict) and data.get("metrics"):
                found[name] = data["metrics"]["metrics/resnet18.json"]["data"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(dvc("exp", "show", "--json", cwd=project).stdout))
    return found


def queue_states(project: Path) -> list[str]:
    """The status column of `dvc queue status`, one per experiment."""
    lines = dvc("queue", "status", cwd=project).stdout.splitlines()
    states = ("Queued", "Running", "Success", "Failed")
    return [word for line in lines[1:] for word in line.split() if word in states]


def running_experiments(project: Path) -> int:
    """How many queued experiments are running now: each has its own workspace under .dvc/tmp/exps."""
    return len(list((project / ".dvc" / "tmp" / "exps").glob("tmp*")))


@pytest.mark.slow
def test_queued_experiments_run_two_at_a_time_with_the_results_of_one_after_the_other(committed_run):
    project = committed_run
    for lr in LEARNING_RATES:
        dvc("exp", "run", "--queue", "-S", f"lr={lr}", "-n", f"queued-{lr}", cwd=project)
    assert queue_states(project) == ["Queued", "Queued"]
    # Not through pipes: the queue's workers, detached, would hold them open until they have finished.
    subprocess.run(
        [sys.executable, "-m", "dvc", "queue", "start", "-j", "2"],
        cwd=project,
        env=project_env(project),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    deadline, most_at_once, states = time.monotonic() + 900, 0, []
    while states.count("Success") + states.count("Failed") < 2:
        assert time.monotonic() < deadline, states
        for _ in range(20):
            most_at_once = max(most_at_once, running_experiments(project))
            time.sleep(0.1)
        states = queue_states(project)
    assert states == ["Success", "Success"], dvc("queue", "logs", f"queued-{LEARNING_RATES[0]}", cwd=project).stdout
    assert most_at_once == 2, "the two experiments should have run at the same time"

    for lr in LEARNING_RATES:
        dvc("exp", "run", "-S", f"lr={lr}", "-n", f"serial-{lr}", cwd=project)
    metrics = experiment_metrics(project)
    for lr in LEARNING_RATES:
        assert metrics[f"queued-{lr}"] == metrics[f"serial-{lr}"], lr
    assert metrics[f"serial-{LEARNING_RATES[0]}"] != metrics[f"serial-{LEARNING_RATES[1]}"]
    run(["git", "checkout", "--", "."], cwd=project)  # the workspace back to the committed run
    dvc("checkout", "-f", cwd=project)


@pytest.mark.slow
def test_results_pushed_from_one_clone_are_pulled_into_another_without_retraining(committed_run, tmp_path):
    project = committed_run
    remote = tmp_path / "remote"
    dvc("remote", "add", "-d", "shared", str(remote), cwd=project)
    run(["git", "commit", "-q", "-am", "a shared DVC remote"], cwd=project)
    dvc("push", cwd=project)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], cwd=tmp_path)
    pulled = dvc("pull", cwd=clone)
    assert "fetched" in pulled.stdout.lower() or "added" in pulled.stdout.lower(), pulled.stdout
    status = dvc("status", cwd=clone)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    repro = dvc("repro", cwd=clone)
    assert "Running stage" not in repro.stdout, repro.stdout
    for path in sorted((project / "metrics").rglob("*.json")):
        name = path.relative_to(project).as_posix()
        assert (clone / name).read_bytes() == path.read_bytes(), name

    photo = clone / "photo.jpg"
    shutil.copy(next((clone / "data" / "raw").glob("*.jpg")), photo)
    colorized = run(
        [
            sys.executable,
            "-m",
            "colorization.colorize",
            str(photo),
            "--output",
            str(clone / "out"),
            "--model",
            "resnet18",
        ],
        cwd=clone,
    )
    assert list((clone / "out").iterdir()), colorized.stdout
