"""The folder source and bad input: every odd file is used correctly or skipped, counted and named;
archive members never land outside data/raw; a folder with nothing usable is named in the error."""

import csv
import shutil
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from colorization.core.errors import UserError
from colorization.core.params import DataParams
from colorization.lab.prepare import load_square, prepare
from colorization.sources import download, summary
from colorization.sources.manifest import read_manifest, read_skipped
from photo_files import add_member, colour_photo, encode, odd_files, write_files

IMAGE_SIZE = 32


def folder_params(path: Path, n_images: int = 1000) -> DataParams:
    return DataParams(
        source="folder", n_images=n_images, image_size=IMAGE_SIZE, val_fraction=0.25, shard_size=8, path=path
    )


@pytest.fixture
def odd_folder(tmp_path) -> tuple[Path, dict]:
    files = odd_files(small_side=IMAGE_SIZE - 8)
    folder = write_files(tmp_path / "photos", {name: data for name, (data, _) in files.items()})
    (folder / "README.txt").write_text("not a photo, not considered")
    return folder, files


DUPLICATES = {"photo.jpg", "nested/copy_of_photo.jpg"}


def expected_outcome(files: dict, kept_copy: str) -> tuple[set[str], Counter]:
    """The files that must be in the manifest and the skip reasons, given which of two identical files
    was kept (the one whose seeded key is smaller; either is right)."""
    used = {name for name, (_, reason) in files.items() if reason is None and name not in DUPLICATES}
    return used | {kept_copy}, Counter(reason for _, reason in files.values() if reason is not None)


def kept_copy(raw: Path) -> str:
    kept = DUPLICATES & {row.file for row in read_manifest(raw)}
    assert len(kept) == 1, "exactly one of two identical files is kept"
    return kept.pop()


def test_every_odd_file_is_used_or_skipped_counted_and_named(odd_folder, tmp_path):
    folder, files = odd_folder
    raw = tmp_path / "raw"
    gathered = download(folder_params(folder), seed=0, raw_dir=raw)
    original = kept_copy(raw)
    used, skipped_reasons = expected_outcome(files, original)

    manifest = read_manifest(raw)
    assert {row.file for row in manifest} == used
    assert Counter(row.reason for row in read_skipped(raw)) == skipped_reasons
    assert {row.source.split(":", 1)[1] for row in read_skipped(raw)} == set(files) - used
    for row in manifest:
        assert (raw / row.file).read_bytes() == files[row.file][0], "raw files are byte-for-byte copies"
    assert not (raw / "README.txt").exists() and not (tmp_path / "raw.tmp").exists()

    by_file = {row.file: row for row in manifest}
    pair = [by_file["photo_resized.jpg"], by_file[original]]
    group = pair[0].group
    assert pair[1].group == group and group in ("photo_resized.jpg", original), "near-duplicates share one group"
    follower = next(row for row in pair if row.file != group)
    assert follower.near_duplicate_of == group and by_file[group].near_duplicate_of == ""
    assert sum(1 for row in manifest if row.near_duplicate_of) == 1
    assert (by_file["rotated.jpg"].width, by_file["rotated.jpg"].height) == (40, 80)
    duplicate = next(row for row in read_skipped(raw) if row.reason == "duplicate")
    assert duplicate.source == f"photos:{(DUPLICATES - {original}).pop()}" and original in duplicate.detail

    line = summary(gathered, folder_params(folder), raw)
    assert f"download: {len(used)} images from {len(used) - 1} source photos" in line
    assert "1 near-duplicates grouped" in line
    assert f"skipped {sum(skipped_reasons.values())}: " in line
    for reason, count in skipped_reasons.items():
        assert f"{count} {reason}" in line

    meta = prepare(raw, tmp_path / "lab", IMAGE_SIZE, 0.25, 8, seed=0)
    assert meta.skipped_smaller_than_image_size == 1
    assert meta.counts["train"] + meta.counts["val"] == len(used) - 1
    with open(tmp_path / "lab" / "skipped.csv", newline="") as handle:
        assert [row["file"] for row in csv.DictReader(handle)] == ["small.jpg"]


def test_odd_files_are_decoded_to_the_right_pixels(odd_folder):
    folder, _ = odd_folder
    upright = np.asarray(load_square(folder / "rotated.jpg", 16)).astype(int)
    assert upright[1, 8, 0] > 150 and upright[1, 8, 2] < 80, "top of the upright photo is red"
    assert upright[14, 8, 2] > 150 and upright[14, 8, 0] < 80, "bottom is blue"

    transparent = np.asarray(load_square(folder / "rgba.png", 40)).astype(int)
    assert (transparent[0, 0] == 255).all(), "transparent pixels become white, not the hidden black"
    assert transparent[20, 20, 1] > 180 and transparent[20, 20, 0] < 60

    deep = np.asarray(load_square(folder / "deep" / "sixteen_bit.png", 40)).astype(int)
    assert np.abs(deep[5, 5] - [255, 128, 0]).max() <= 1 and np.abs(deep[35, 5] - [255, 128, 255]).max() <= 1

    original = np.asarray(colour_photo(3, 64, 64).resize((32, 32))).astype(int)
    cmyk = np.asarray(load_square(folder / "cmyk.jpg", 32)).astype(int)
    assert np.abs(cmyk - original).mean() < 8, "CMYK JPEG keeps its colours (not inverted)"


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "zip"])
def test_an_archive_of_the_folder_gives_the_same_images(odd_folder, tmp_path, kind):
    folder, files = odd_folder
    archive = tmp_path / f"photos.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as bundle:
            for name, (data, _) in files.items():
                bundle.writestr(name, data)
    else:
        shutil.make_archive(str(tmp_path / "photos"), "gztar" if kind == "tar.gz" else "tar", folder)
    download(folder_params(archive), seed=0, raw_dir=tmp_path / "raw")
    used, skipped_reasons = expected_outcome(files, kept_copy(tmp_path / "raw"))
    assert {row.file for row in read_manifest(tmp_path / "raw")} == used
    assert Counter(row.reason for row in read_skipped(tmp_path / "raw")) == skipped_reasons


def test_a_folder_larger_than_n_images_gives_a_seeded_subset(tmp_path):
    folder = write_files(tmp_path / "many", {f"p{i:03d}.jpg": encode(colour_photo(i)) for i in range(30)})
    first = download(folder_params(folder, n_images=10), seed=1, raw_dir=tmp_path / "a").images
    again = download(folder_params(folder, n_images=10), seed=1, raw_dir=tmp_path / "b").images
    other = download(folder_params(folder, n_images=10), seed=2, raw_dir=tmp_path / "c").images
    assert len(first) == 10 and first == again
    assert {row.file for row in first} != {row.file for row in other}
    assert len([path for path in (tmp_path / "a").iterdir() if path.suffix == ".jpg"]) == 10


UNSAFE = ["/tmp/absolute_escape.jpg", "../climb_escape.jpg", "inside/../../nested_escape.jpg"]


def test_archive_members_never_land_outside_the_target(tmp_path):
    photo = encode(colour_photo(11))
    bundle = tmp_path / "work" / "bundle.tar"
    bundle.parent.mkdir()
    with tarfile.open(bundle, "w") as archive:
        add_member(archive, "good/photo.jpg", photo)
        for seed, name in enumerate(UNSAFE, start=20):
            add_member(archive, name, encode(colour_photo(seed)))
        for kind, name, target in (
            (tarfile.SYMTYPE, "symlink.jpg", "../../outside.jpg"),
            (tarfile.LNKTYPE, "hardlink.jpg", "/etc/hostname"),
        ):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    zipped = tmp_path / "work" / "bundle.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("good/photo.jpg", photo)
        for seed, name in enumerate(UNSAFE, start=20):
            archive.writestr(zipfile.ZipInfo(name), encode(colour_photo(seed)))
        link = zipfile.ZipInfo("symlink.jpg")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "../../outside.jpg")

    for source in (bundle, zipped):
        raw = tmp_path / "work" / "out" / "raw"
        download(folder_params(source), seed=0, raw_dir=raw)
        assert [row.file for row in read_manifest(raw)] == ["good/photo.jpg"]
        reasons = Counter(row.reason for row in read_skipped(raw))
        assert reasons["unsafe path"] == len(UNSAFE) and reasons["link"] == (2 if source == bundle else 1)
        written = {path.name for path in tmp_path.rglob("*")} | {path.name for path in Path("/tmp").glob("*escape*")}
        assert not {name for name in written if "escape" in name or name == "outside.jpg"}
        shutil.rmtree(raw)


def test_a_folder_with_no_usable_image_says_so_and_names_it(tmp_path):
    empty = tmp_path / "empty_album"
    empty.mkdir()
    (empty / "IMG_0001.HEIC").write_bytes(b"\0" * 100)
    with pytest.raises(UserError, match=r"empty_album: no image files \(jpg, jpeg, png.*IMG_0001.HEIC"):
        download(folder_params(empty), seed=0, raw_dir=tmp_path / "raw")
    broken = write_files(tmp_path / "broken_album", {"a.jpg": b"", "b.png": b"text", "c.jpg": b"\xff\xd8\xff"})
    with pytest.raises(UserError, match=r"broken_album: no usable image among its 3 image files \(.*1 empty file"):
        download(folder_params(broken), seed=0, raw_dir=tmp_path / "raw")
    assert not (tmp_path / "raw").exists() and not (tmp_path / "raw.tmp").exists()
    with pytest.raises(UserError, match="data.path = .*nowhere': no such folder or file"):
        download(folder_params(tmp_path / "nowhere"), seed=0, raw_dir=tmp_path / "raw")


def test_a_failed_download_keeps_the_previous_raw_data(odd_folder, tmp_path):
    folder, _ = odd_folder
    raw = tmp_path / "raw"
    download(folder_params(folder), seed=0, raw_dir=raw)
    before = sorted(path.name for path in raw.rglob("*"))
    with pytest.raises(UserError):
        download(folder_params(tmp_path / "nowhere"), seed=0, raw_dir=raw)
    assert sorted(path.name for path in raw.rglob("*")) == before


def test_prepare_refuses_when_every_image_is_too_small(tmp_path):
    folder = write_files(tmp_path / "thumbs", {f"t{i}.png": encode(colour_photo(i, 16, 16), "PNG") for i in range(4)})
    download(folder_params(folder), seed=0, raw_dir=tmp_path / "raw")
    with pytest.raises(UserError, match=r"no image in .*raw is at least 32x32 \(data.image_size\); all 4 are smaller"):
        prepare(tmp_path / "raw", tmp_path / "lab", 32, 0.25, 8, seed=0)


def test_inspection_reads_the_bytes_it_is_given(tmp_path):
    """A photo whose suffix lies (PNG bytes named .jpg) is still a photo."""
    folder = write_files(
        tmp_path / "lying", {"a.jpg": encode(colour_photo(1), "PNG"), "b.jpg": encode(colour_photo(2))}
    )
    images = download(folder_params(folder), seed=0, raw_dir=tmp_path / "raw").images
    assert [row.file for row in images] == ["a.jpg", "b.jpg"]
    assert (tmp_path / "raw" / "a.jpg").read_bytes().startswith(b"\x89PNG")
