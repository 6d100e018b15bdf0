"""The download and prepare stages' library: the bundled sample source, the manifest, the group split."""

import numpy as np
import pytest

from colorization.core.errors import UserError
from colorization.core.params import DataParams
from colorization.lab.meta import LabMeta, open_prepared
from colorization.lab.prepare import prepare, split_by_group
from colorization.sources import download
from colorization.sources.manifest import RawImage, read_manifest, read_skipped, sha256_of


def sample_params(n_images: int = 24) -> DataParams:
    return DataParams(source="sample", n_images=n_images, image_size=16, val_fraction=0.25, shard_size=5)


def test_sample_source_is_deterministic_and_listed_in_the_manifest(tmp_path):
    first = download(sample_params(), seed=3, raw_dir=tmp_path / "a").images
    second = download(sample_params(), seed=3, raw_dir=tmp_path / "b").images
    other = download(sample_params(), seed=4, raw_dir=tmp_path / "c").images
    assert [row.sha256 for row in first] == [row.sha256 for row in second]
    assert [row.sha256 for row in first] != [row.sha256 for row in other]
    assert read_manifest(tmp_path / "a") == first
    assert read_skipped(tmp_path / "a") == []
    assert {(row.width, row.height) for row in first} == {(256, 256)}
    for row in first:
        path = tmp_path / "a" / row.file
        assert path.stat().st_size == row.size and sha256_of(path) == row.sha256
    assert len({row.group for row in first}) == 7
    assert not (tmp_path / "a.tmp").exists()


def rows(groups: dict[str, int]) -> list[RawImage]:
    return [
        RawImage(f"{group}_{i}.jpg", "test", group, 1, "x", 256, 256) for group, n in groups.items() for i in range(n)
    ]


def test_split_keeps_every_source_photo_on_one_side():
    images = rows({f"photo{g}": 5 for g in range(8)})
    train, val = split_by_group(images, val_fraction=0.25, seed=0)
    assert len({r.group for r in val}) == 2
    assert not {r.group for r in train} & {r.group for r in val}
    assert sorted(train + val, key=lambda r: r.file) == sorted(images, key=lambda r: r.file)
    again_train, again_val = split_by_group(images, val_fraction=0.25, seed=0)
    assert again_train == train and again_val == val


def test_split_needs_two_groups():
    with pytest.raises(UserError, match="at least 2"):
        split_by_group(rows({"only": 4}), 0.25, 0)


def test_prepare_writes_shards_metadata_and_an_index(tmp_path):
    download(sample_params(), seed=0, raw_dir=tmp_path / "raw")
    meta = prepare(tmp_path / "raw", tmp_path / "lab", image_size=16, val_fraction=0.25, shard_size=5, seed=0)
    data = open_prepared(tmp_path / "lab")
    assert meta.counts["train"] == len(data.train) and meta.counts["val"] == len(data.val)
    assert len(data.train) + len(data.val) == 24
    assert data.train.image_shape == (16, 16, 3)
    assert 0.05 < meta.l_mean < 0.95 and 0.01 < meta.l_std < 0.5
    val_files = (tmp_path / "lab" / "val" / "index.csv").read_text()
    assert all(group in val_files for group in meta.val_groups)
    l_input, _ = data.train.batch(np.arange(len(data.train)))
    assert abs(float(l_input.mean()) - meta.l_mean) < 1e-4
    assert abs(float(l_input.std()) - meta.l_std) < 1e-4
    assert LabMeta.read(tmp_path / "lab") == meta == data.meta


def test_a_damaged_meta_json_is_one_line_naming_it(tmp_path):
    (tmp_path / "meta.json").write_text('{"image_size": 16}')
    with pytest.raises(UserError, match=r"meta.json is not a meta.json written by this version .*dvc repro -f prepare"):
        LabMeta.read(tmp_path)


def test_prepare_is_deterministic(tmp_path):
    download(sample_params(), seed=0, raw_dir=tmp_path / "raw")
    for name in ("one", "two"):
        prepare(tmp_path / "raw", tmp_path / name, 16, 0.25, 5, seed=0, workers=2)
    for path in sorted((tmp_path / "one").rglob("*.*")):
        assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()


def test_n_train_above_what_exists_is_refused(tmp_path):
    download(sample_params(), seed=0, raw_dir=tmp_path / "raw")
    prepare(tmp_path / "raw", tmp_path / "lab", 16, 0.25, 5, seed=0)
    with pytest.raises(UserError, match="n_train = 1000 is more than"):
        open_prepared(tmp_path / "lab", n_train=1000)
