"""End to end: the real `dvc repro`, `dvc exp run`, `dvc metrics` and `dvc plots` in a project copy."""

import copy
import json
import re

import pytest

from conftest import SHARED_DATA, TINY_PARAMS, copy_project, deep_update, dvc, run

ARCHS = ["cnn_v1", "cnn_v2", "resnet18"]
METRIC_KEYS = {"mse", "rmse_ab", "psnr", "n_images"}


def ran_stages(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.mark.slow
def test_pipeline_runs_end_to_end_and_reruns_only_what_a_param_touches(tiny_project):
    project = tiny_project
    first = dvc("repro", cwd=project)
    assert ran_stages(first.stdout) == {"download", "prepare", "baseline", "plots",
                                        *(f"{stage}@{arch}" for stage in ("train", "evaluate") for arch in ARCHS)}
    for arch in ARCHS:
        model_file = "model.pt" if arch == "resnet18" else "model.keras"
        assert (project / "models" / arch / model_file).is_file()
        assert (project / "dvclive" / arch / "plots" / "metrics" / "val" / "loss.tsv").is_file()
    metrics = {name: json.loads((project / "metrics" / f"{name}.json").read_text()) for name in [*ARCHS, "gray"]}
    for values in metrics.values():
        assert set(values) == METRIC_KEYS and values["mse"] > 0 and values["n_images"] == metrics["gray"]["n_images"]
    for name in ("loss.png", "metrics.png", "examples.png"):
        assert (project / "plots" / name).stat().st_size > 1000

    second = dvc("repro", cwd=project)
    assert ran_stages(second.stdout) == set()
    assert "Data and pipelines are up to date" in second.stdout

    ignored = run(["git", "status", "--porcelain", "--ignored"], cwd=project).stdout
    for output in ("data/raw", "data/lab", "models", "dvclive", "plots"):
        assert output in ignored, f"{output} should be a DVC output ignored by git"
    run(["git", "add", "-A"], cwd=project)
    run(["git", "commit", "-q", "-m", "baseline run"], cwd=project)

    experiment = dvc("exp", "run", "-S", "lr=0.003", cwd=project)
    assert ran_stages(experiment.stdout) == {"plots", *(f"{stage}@{arch}" for stage in ("train", "evaluate")
                                                        for arch in ARCHS)}

    diff = dvc("metrics", "diff", "--json", cwd=project)
    changed = json.loads(diff.stdout)
    assert {f"metrics/{arch}.json" for arch in ARCHS} <= set(changed)
    shown = dvc("metrics", "show", cwd=project).stdout
    rows = [line.split()[0] for line in shown.splitlines()[1:] if line.strip()]
    assert rows == [f"metrics/{name}.json" for name in [*ARCHS, "gray"]]

    html = project / "plots_html"
    dvc("plots", "show", "-o", str(html), cwd=project)
    page = (html / "index.html").read_text()
    assert "val_loss" in page and "examples.png" in page


PLACES_SAMPLE = SHARED_DATA / "places_sample"


@pytest.mark.slow
@pytest.mark.skipif(not PLACES_SAMPLE.is_dir(), reason=f"{PLACES_SAMPLE} is not on this machine")
def test_the_pipeline_runs_on_a_folder_of_real_photos(tmp_path):
    folder_params = deep_update(copy.deepcopy(TINY_PARAMS), {
        "data": {"source": "folder", "path": str(PLACES_SAMPLE), "n_images": 60}, "train": {"epochs": 1}})
    project = copy_project(tmp_path / "project", folder_params)
    result = dvc("repro", cwd=project)
    assert ran_stages(result.stdout) == {"download", "prepare", "baseline", "plots",
                                         *(f"{stage}@{arch}" for stage in ("train", "evaluate") for arch in ARCHS)}
    assert re.search(r"download: 60 images from 60 source photos \(folder .*places_sample\)", result.stdout)
    manifest = (project / "data" / "raw" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 61 and all(",places_sample:" in line for line in manifest[1:])
    meta = json.loads((project / "data" / "lab" / "meta.json").read_text())
    assert meta["counts"]["train"] + meta["counts"]["val"] == 60
    for name in [*ARCHS, "gray"]:
        assert json.loads((project / "metrics" / f"{name}.json").read_text())["n_images"] == meta["counts"]["val"]
