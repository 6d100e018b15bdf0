"""Scene context (Iizuka et al. 2016): Places photos' scene categories travel from the archive's folders
through the manifest into the shards' labels, and a ResNet18 with `scene: true` fuses a global branch
into every position and trains a scene classifier on those labels -- or, without labels, the branch alone."""

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from test_places365 import places_params

from colorization.core.errors import UserError
from colorization.core.params import load_params
from colorization.core.paths import Project
from colorization.engines import create
from colorization.lab.meta import open_prepared
from colorization.lab.prepare import prepare
from colorization.models import SCENE_WEIGHT, ModelSpec, resolve, saved
from colorization.sources import download
from colorization.sources.manifest import read_manifest
from colorization.sources.places365 import scene_category
from colorization.training.loop import train
from conftest import ROOT, TINY_PARAMS, deep_update, encoded_batch
from photo_files import places_tar


@pytest.mark.parametrize(
    ("member", "category"),
    [
        ("data_256/a/abbey/00000001.jpg", "abbey"),
        ("data_128/b/bedchamber/indoor/00000007.jpg", "bedchamber/indoor"),
        ("photos/holiday.jpg", ""),
        ("data_256/abbey/00000001.jpg", ""),  # not the <letter>/<category> layout
    ],
)
def test_a_places_member_names_its_scene(member, category):
    assert scene_category(member) == category


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A project whose data/raw came from a Places-layout archive of 3 scenes, prepared into shards."""
    root = tmp_path_factory.mktemp("scenes")
    archive = root / "places.tar"
    places_tar(archive, categories=3, per_category=8)
    project = Project(root / "project")
    download(places_params(str(archive), None, root / "cache", n_images=24), seed=0, raw_dir=project.raw)
    prepare(project.raw, project.lab, image_size=16, val_fraction=0.25, shard_size=8, seed=0, workers=1)
    return project


def test_the_manifest_and_the_shards_carry_each_photos_scene(labelled):
    rows = read_manifest(labelled.raw)
    assert {row.category for row in rows} == {"category00", "category01", "category02"}
    data = open_prepared(labelled.lab)
    assert data.meta.categories == ["category00", "category01", "category02"]
    for split in (data.train, data.val):
        assert split.labels.dtype == np.int16 and len(split.labels) == len(split)
    index = {row.file: row.category for row in rows}
    files = (labelled.lab / "train" / "index.csv").read_text().splitlines()[1:]
    expected = [data.meta.categories.index(index[line.split(",")[1]]) for line in files]
    assert data.train.labels.tolist() == expected
    encoded, labels = next(data.train.batches(4, np.arange(len(data.train))[::-1], encoded=True, labels=True))
    assert labels.tolist() == expected[::-1][:4] and encoded.shape == (4, 16, 16, 3)


def test_photos_without_scenes_leave_no_labels(tmp_path):
    project = Project(tmp_path)
    params = load_params(ROOT / "params.yaml")  # the sample source: no scene names
    download(params.data, seed=0, raw_dir=project.raw)
    prepare(project.raw, project.lab, image_size=32, val_fraction=0.25, shard_size=8, seed=0, workers=1)
    data = open_prepared(project.lab)
    assert data.meta.categories == [] and data.train.labels is None
    with pytest.raises(UserError, match="no scene labels in .*train: run the prepare stage"):
        next(data.train.batches(4, labels=True))


def test_the_scene_classifier_learns_the_labels_beside_the_colour():
    """Two scenes told apart by lightness: the classifier's loss falls; colour trains as before."""
    network = create(
        "resnet18",
        lr=0.003,
        l_mean=0.5,
        l_std=0.29,
        seed=0,
        options={"scene": True, "scene_classes": 2},
        scene_weight=1.0,
    )
    dark, light = encoded_batch(4, 16, seed=1), encoded_batch(4, 16, seed=2)
    dark[..., 0] //= 3
    batch, labels = np.concatenate([dark, light]), np.array([0] * 4 + [1] * 4, dtype=np.int16)
    first = network.train_step(batch, labels)
    for _ in range(15):
        last = network.train_step(batch, labels)
    assert set(first) == {"loss", "scene"} and last["scene"] < 0.5 * first["scene"]
    assert last["loss"] < first["loss"]
    assert set(network.train_step(batch, np.full(8, -1, dtype=np.int16))) == {"loss", "scene"}  # no label: 0
    assert network.predict(batch[..., :1].astype(np.float32) / 255).shape == (8, 16, 16, 2)


def test_the_global_branch_reaches_every_position():
    """With scene context a pixel's colour depends on lightness far outside its receptive field."""
    outputs = {}
    for scene in (False, True):
        network = create("resnet18", lr=0.001, l_mean=0.5, l_std=0.29, seed=0, options={"scene": scene})
        network.module.eval()
        image = torch.full((1, 1, 256, 256), 0.5)
        changed = image.clone()
        changed[..., 224:, 224:] = 1.0  # the far corner, beyond the convolutions' reach
        with torch.inference_mode():
            outputs[scene] = (network.module(changed) - network.module(image))[..., :8, :8].abs().max().item()
    assert outputs[False] == 0.0 and outputs[True] > 0.0


def test_scene_is_an_option_of_the_architectures_that_offer_it():
    with pytest.raises(
        UserError, match="models.small.scene: architecture cnn_v1 has no scene context; architectures that do: resnet18"
    ):
        ModelSpec.parse("small", {"arch": "cnn_v1", "scene": True}, "params.yaml", "models.small")
    spec = ModelSpec.parse("context", {"arch": "resnet18", "scene": True}, "params.yaml", "models.context")
    assert spec.scene_weight == SCENE_WEIGHT == 1 / 300


@pytest.mark.parametrize("labels", [True, False])
def test_a_scene_model_trains_saves_and_loads_with_or_without_labels(labelled, tmp_path, capsys, labels):
    if labels:
        project = labelled
    else:  # the same shards without their labels
        project = Project(tmp_path)
        project.lab.parent.mkdir(parents=True)
        shutil.copytree(labelled.lab, project.lab)
        for split in ("train", "val"):
            (project.lab / split / "labels.npy").unlink()
        meta = json.loads((project.lab / "meta.json").read_text())
        (project.lab / "meta.json").write_text(json.dumps(meta | {"categories": []}))
    raw = deep_update(yaml.safe_load((ROOT / "params.yaml").read_text()), TINY_PARAMS)
    raw["models"] = {"context": {"arch": "resnet18", "scene": True, "n_train": None}}
    raw["ensembles"] = {}
    raw["data"]["image_size"] = 16
    raw["train"]["epochs"] = 1
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(raw))
    params = load_params(params_path)
    train(resolve(params, "context"), params, project=project)
    out = capsys.readouterr().out
    network, spec = saved.load(project.model("context"))
    assert spec.scene and spec.scene_classes == (3 if labels else 0)
    assert ("no scene labels" in out) is not labels
    live = (project.live("context") / "plots" / "metrics" / "train" / "scene.tsv").is_file()
    assert live is labels
    assert network.predict(np.full((1, 24, 32, 1), 0.5, dtype=np.float32)).shape == (1, 24, 32, 2)
