"""Data sources for the download stage: each gathers raw colour photos into a directory with a manifest.

The manifest (manifest.csv) lists every raw file with its origin, its group and its size and sha256.
The group names the original photograph a file was cut from; prepare splits train and validation by
group, so no validation image shares a source photo with a training image.
"""

import csv
import hashlib
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import matplotlib
import numpy as np
import skimage
from PIL import Image

from .errors import UserError
from .params import DataParams

MANIFEST = "manifest.csv"
SAMPLE_SIZE = 256

# Colour photographs that ship inside installed packages: (group, package, file). The motorcycle pair is
# one stereo scene, so both halves share a group and land on the same side of the split.
SAMPLE_PHOTOS = [
    ("astronaut", "skimage", "astronaut.png"),
    ("chelsea", "skimage", "chelsea.png"),
    ("coffee", "skimage", "coffee.png"),
    ("motorcycle", "skimage", "motorcycle_left.png"),
    ("motorcycle", "skimage", "motorcycle_right.png"),
    ("rocket", "skimage", "rocket.jpg"),
    ("grace_hopper", "matplotlib", "grace_hopper.jpg"),
    ("present", "matplotlib", "Minduka_Present_Blue_Pack.png"),
]


@dataclass(frozen=True)
class RawImage:
    file: str
    source: str
    group: str
    size: int
    sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_file(package: str, name: str) -> Path:
    folder = Path(skimage.data_dir) if package == "skimage" else Path(matplotlib.get_data_path()) / "sample_data"
    return folder / name


def gather_sample(data: DataParams, seed: int, out_dir: Path) -> list[RawImage]:
    """Cut `data.n_images` deterministic random crops (scale, position, flip) of the bundled photos.

    Crops cycle through the photos so each gets an equal share; each is resized to 256x256 (the size
    of Places365's small images) and saved as a quality-95 JPEG.
    """
    rng = np.random.default_rng(seed)
    photos = []
    for group, package, name in SAMPLE_PHOTOS:
        with Image.open(_package_file(package, name)) as image:
            photos.append((group, f"{package}:{name}", image.convert("RGB")))
    rows = []
    for index in range(data.n_images):
        group, source, photo = photos[index % len(photos)]
        width, height = photo.size
        side = int(rng.uniform(0.35, 1.0) * min(width, height))
        left, top = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        crop = photo.crop((left, top, left + side, top + side)).resize((SAMPLE_SIZE, SAMPLE_SIZE), Image.BICUBIC)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        path = out_dir / f"sample_{index:06d}_{group}.jpg"
        crop.save(path, quality=95)
        rows.append(RawImage(path.name, source, group, path.stat().st_size, sha256_of(path)))
    return rows


SOURCES = {"sample": gather_sample}


def write_manifest(directory: Path, rows: list[RawImage]) -> None:
    with open(directory / MANIFEST, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(RawImage.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)


def read_manifest(directory: Path) -> list[RawImage]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise UserError(f"{path} not found: run the download stage first (dvc repro download)")
    with open(path, newline="") as handle:
        return [RawImage(row["file"], row["source"], row["group"], int(row["size"]), row["sha256"])
                for row in csv.DictReader(handle)]


def download(data: DataParams, seed: int, raw_dir: Path) -> list[RawImage]:
    """Gather the configured source into `raw_dir`, built in a temporary sibling and renamed when whole."""
    raw_dir = Path(raw_dir)
    temporary = raw_dir.with_name(raw_dir.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    rows = SOURCES[data.source](data, seed, temporary)
    write_manifest(temporary, rows)
    shutil.rmtree(raw_dir, ignore_errors=True)
    os.replace(temporary, raw_dir)
    return rows
