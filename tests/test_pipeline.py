"""End to end: the real `dvc repro`, `dvc exp run`, `dvc metrics` and `dvc plots` in a project copy."""

import copy
import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml
from test_reliability import kill_when, start

from conftest import ROOT, SHARED_DATA, TINY_PARAMS, copy_project, deep_update, dvc, run

MODELS = {
    "cnn_v1": "model.keras",
    "cnn_v2": "model.keras",
    "resnet18": "model.pt",
    "resnet18_cls": "model.pt",
    "unet_gan": "model.pt",
}  # params.yaml's five, with their weights file
ARCHS = list(MODELS)
METRIC_KEYS = {
    "mse",
    "rmse_ab",
    "psnr",
    "ssim",
    "colorfulness",
    "colorfulness_truth",
    "colorfulness_ratio",
    "auc",
    "auc_rebalanced",
    "n_images",
    "semantic_agreement",  # the judge's (evaluation/judge.py)
    "semantic_agreement_grey",
    "semantic_kl",
    "semantic_kl_grey",
    "fd_lite2",
    "fd_lite2_grey",
}


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def output_hashes(project) -> dict[str, str]:
    """md5 of every data and metrics output, as dvc.lock records them."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    hashes = {}
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"].startswith(("data/", "metrics/")):
                hashes[out["path"]] = out["md5"]
    return hashes


RECORDER = ROOT / "tests" / "import_recorder"


def recorded_imports(log: Path) -> list[dict]:
    """The import recorder's lines: each process's argv and the project module files it imported."""
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A tiny project after one uninterrupted `dvc repro`, with every process's imports recorded:
    (project, its output, output hashes, metrics bytes, recorded imports)."""
    root = tmp_path_factory.mktemp("pipeline")
    project = copy_project(root / "project", TINY_PARAMS)
    log = root / "imports.jsonl"
    recording = {
        "PYTHONPATH": os.pathsep.join([str(project / "src"), str(RECORDER)]),
        "COLORIZATION_IMPORT_LOG": str(log),
    }
    result = dvc("repro", cwd=project, env=recording)
    folder = project / "metrics"
    metrics = {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*.json")}
    return project, result, output_hashes(project), metrics, recorded_imports(log)


def stage_imports(project: Path, imports: list[dict]) -> dict[str, set[str]]:
    """For each stage in dvc.lock, the project files its command imported, relative to the project."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    stage_of_command = {stage["cmd"]: name for name, stage in lock.items()}
    found: dict[str, set[str]] = {}
    for record in imports:
        command = "python " + " ".join(record["argv"])
        if command in stage_of_command:
            files = {Path(file).resolve().relative_to(project.resolve()).as_posix() for file in record["files"]}
            found.setdefault(stage_of_command[command], set()).update(files)
    return found


def covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


@pytest.mark.slow
def test_every_project_module_a_stage_imports_is_one_of_its_deps(first_run):
    """Recorded in the real `dvc repro`: each stage's imports (importlib's included) come from the project
    copy's src/ and are covered by that stage's deps in dvc.lock, so editing any of them reruns it."""
    project, _, _, _, imports = first_run
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    found = stage_imports(project, imports)
    assert set(found) == set(lock), "every stage should have run and been recorded"
    assert "src/colorization/architectures/resnet18.py" in found["evaluate@resnet18"]
    assert "src/colorization/engines/torch_engine.py" in found["train@resnet18"]  # imported when first needed
    missing = {
        stage: sorted(path for path in files if not covered(path, [dep["path"] for dep in lock[stage]["deps"]]))
        for stage, files in found.items()
    }
    assert not any(missing.values()), f"imported but not in the stage's deps: {missing}"


@pytest.mark.slow
def test_killed_runs_resume_to_identical_outputs(first_run, tmp_path):
    """A second clone, killed during prepare and during a training, gives byte-identical outputs."""
    _, _, expected, metrics, _ = first_run
    project = copy_project(tmp_path / "project", TINY_PARAMS)
    repro = [sys.executable, "-m", "dvc", "repro"]
    kill_when(start(repro, project), project / "data" / "lab.tmp" / "val" / "tmp-shard_00000.npy")
    assert not (project / "data" / "lab").exists(), "the kill should land in prepare"
    kill_when(start(repro, project), project / "checkpoints" / "cnn_v1" / "epoch_0001" / "state.json")
    assert not (project / "models" / "cnn_v1" / "model.keras").exists(), "the kill should land in train@cnn_v1"
    resumed = dvc("repro", cwd=project)
    assert "cnn_v1: resuming after epoch 1" in resumed.stdout
    assert output_hashes(project) == expected
    # each model's metrics, decoding curve and curve against hints, the ensemble's, the grey image's
    assert len(metrics) == 3 * len(ARCHS) + 2
    for name, content in metrics.items():
        assert (project / "metrics" / name).read_bytes() == content


@pytest.mark.slow
def test_pipeline_runs_end_to_end_and_reruns_only_what_a_param_touches(first_run):
    project, first, _, _, _ = first_run
    assert ran_stages(first.stdout) == {
        "download",
        "prepare",
        "prior",
        "baseline",
        "plots",
        *(f"{stage}@{arch}" for stage in ("train", "evaluate") for arch in ARCHS),
        "ensemble@ensemble",
    }
    for arch, model_file in MODELS.items():
        assert (project / "models" / arch / model_file).is_file()
        for metric in ("train/loss", "val/loss", "val/mse", "lr"):
            assert (project / "dvclive" / arch / "plots" / "metrics" / f"{metric}.tsv").is_file()
        kept = json.loads((project / "dvclive" / arch / "metrics.json").read_text())["best_epoch"]
        assert json.loads((project / "models" / arch / "config.json").read_text())["epoch"] == kept in (1, 2)
    assert (project / "dvclive" / "unet_gan" / "plots" / "metrics" / "train" / "discriminator.tsv").is_file()
    metrics = {
        name: json.loads((project / "metrics" / f"{name}.json").read_text()) for name in [*ARCHS, "ensemble", "gray"]
    }
    for name, values in metrics.items():
        expected = METRIC_KEYS if name in ("gray", "ensemble") else METRIC_KEYS | {"epoch"}
        assert set(values) == expected and values["mse"] > 0 and values["n_images"] == metrics["gray"]["n_images"]
    for name in ("loss.png", "metrics.png", "mse_vs_colorfulness.png", "examples.png"):
        assert (project / "plots" / name).stat().st_size > 1000

    second = dvc("repro", cwd=project)
    assert ran_stages(second.stdout) == set()
    assert "Data and pipelines are up to date" in second.stdout

    ignored = run(["git", "status", "--porcelain", "--ignored"], cwd=project).stdout
    for output in ("data/raw", "data/lab", "models", "dvclive", "plots"):
        assert output in ignored, f"{output} should be a DVC output ignored by git"
    run(["git", "add", "-A"], cwd=project)
    run(["git", "commit", "-q", "-m", "baseline run"], cwd=project)

    experiment = dvc("exp", "run", "-S", "lr=0.001", cwd=project)
    # every training stage depends on lr; the GAN keeps its own (models.unet_gan.lr), so its training
    # resumes after its last epoch and re-saves the same model, and its evaluation is not rerun
    assert ran_stages(experiment.stdout) == {
        "plots",
        *(f"train@{arch}" for arch in ARCHS),
        *(f"evaluate@{arch}" for arch in ARCHS if arch != "unet_gan"),
        "ensemble@ensemble",  # its members changed
    }
    assert "unet_gan: resuming after epoch 2" in experiment.stdout

    diff = dvc("metrics", "diff", "--json", cwd=project)
    changed = json.loads(diff.stdout)
    assert {f"metrics/{arch}.json" for arch in ARCHS if arch != "unet_gan"} <= set(changed)
    shown = dvc("metrics", "show", cwd=project).stdout
    rows = [line.split()[0] for line in shown.splitlines()[1:] if line.strip()]
    assert rows == [f"metrics/{name}.json" for name in [*ARCHS, "ensemble", "gray"]]
    header = shown.splitlines()[0].split()
    assert set(header) >= {"colorfulness_ratio", "auc", "ssim"}

    html = project / "plots_html"
    dvc("plots", "show", "-o", str(html), cwd=project)
    page = (html / "index.html").read_text()
    assert "val_mse" in page and "examples.png" in page and "mse_vs_colorfulness.png" in page


@pytest.mark.slow
def test_touching_a_module_a_stage_imports_makes_dvc_status_list_that_stage(first_run):
    """One module of each folder of the library: appending a comment to it makes `dvc status` list every
    stage that imported it; restoring it makes the pipeline up to date again."""
    project, _, _, _, imports = first_run
    found = stage_imports(project, imports)
    modules = sorted(set().union(*found.values()))
    one_per_folder = {str(Path(path).parent): path for path in modules if path.startswith("src/")}
    assert len(one_per_folder) >= 7
    for path in one_per_folder.values():
        source = project / path
        original = source.read_text()
        source.write_text(original + "# touched\n")
        try:
            status = json.loads(dvc("status", "--json", cwd=project).stdout)
        finally:
            source.write_text(original)
        importers = {stage for stage, files in found.items() if path in files}
        assert importers <= set(status), f"{path}: {sorted(importers - set(status))} not listed by dvc status"
    assert json.loads(dvc("status", "--json", cwd=project).stdout) == {}


PLACES_SAMPLE = SHARED_DATA / "places_sample"


@pytest.mark.slow
@pytest.mark.skipif(not PLACES_SAMPLE.is_dir(), reason=f"{PLACES_SAMPLE} is not on this machine")
def test_the_pipeline_runs_on_a_folder_of_real_photos(tmp_path):
    folder_params = deep_update(
        copy.deepcopy(TINY_PARAMS),
        {"data": {"source": "folder", "path": str(PLACES_SAMPLE), "n_images": 60}, "train": {"epochs": 1}},
    )
    project = copy_project(tmp_path / "project", folder_params)
    result = dvc("repro", cwd=project)
    assert ran_stages(result.stdout) == {
        "download",
        "prepare",
        "prior",
        "baseline",
        "plots",
        *(f"{stage}@{arch}" for stage in ("train", "evaluate") for arch in ARCHS),
        "ensemble@ensemble",
    }
    assert re.search(r"download: 60 images from 60 source photos \(folder .*places_sample\)", result.stdout)
    manifest = (project / "data" / "raw" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 61 and all(",places_sample:" in line for line in manifest[1:])
    meta = json.loads((project / "data" / "lab" / "meta.json").read_text())
    assert meta["counts"]["train"] + meta["counts"]["val"] == 60
    for name in [*ARCHS, "gray"]:
        assert json.loads((project / "metrics" / f"{name}.json").read_text())["n_images"] == meta["counts"]["val"]
