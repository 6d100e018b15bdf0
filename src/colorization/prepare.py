"""The prepare stage: raw photos -> square crops at `image_size` -> encoded LAB shards, split by group.

Images are decoded and converted by a pool of worker processes and streamed into shard files one at a
time, so peak memory does not depend on how many images there are. Photos whose short side is below
`image_size` are left out (upscaled photos would teach blur) and listed in data/lab/skipped.csv; that
check lives here, not in download, so changing image_size never downloads again.
"""

import csv
import math
import os
import shutil
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .color import L_STEPS, encode_lab, rgb_to_lab
from .dataset import META_FILE
from .errors import UserError
from .files import atomic_path, write_json
from .images import open_image, to_rgb
from .manifest import RawImage, read_manifest
from .shards import write_shards

SKIPPED_FILE = "skipped.csv"
ENCODING = "uint8 (H, W, 3): round(L*255/100), round(a)+128, round(b)+128; see colorization.color"


def split_by_group(rows: list[RawImage], val_fraction: float, seed: int) -> tuple[list[RawImage], list[RawImage]]:
    """Put a seeded random `val_fraction` of the groups (at least one, never all) in validation.

    Training images come out in a seeded random order (so a prefix is a random subset); validation
    images in file-name order.
    """
    groups = sorted({row.group for row in rows})
    if len(groups) < 2:
        raise UserError(f"the raw data has {len(groups)} source group(s); a train/validation split needs at least 2")
    rng = np.random.default_rng(seed)
    n_val = min(len(groups) - 1, max(1, round(val_fraction * len(groups))))
    val_groups = set(rng.permutation(groups)[:n_val].tolist())
    train = [row for row in rows if row.group not in val_groups]
    val = sorted((row for row in rows if row.group in val_groups), key=lambda row: row.file)
    train = [train[i] for i in rng.permutation(len(train))]
    return train, val


def load_square(path: Path, size: int) -> Image.Image:
    """Open an image upright and as 8-bit RGB (see `images.to_rgb`), resized and centre-cropped to size x size."""
    with open_image(path) as image:
        return ImageOps.fit(to_rgb(image), (size, size), method=Image.BICUBIC)


def encode_file(job: tuple[Path, int]) -> np.ndarray:
    """Worker: one raw file to its encoded LAB array (size, size, 3) uint8."""
    path, size = job
    try:
        rgb = np.asarray(load_square(path, size))
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot be decoded ({error})") from None
    return encode_lab(rgb_to_lab(rgb))


class _LStatistics:
    """Running mean and standard deviation of the network input L/100, in float64."""

    def __init__(self):
        self.total = self.squares = 0.0
        self.count = 0

    def add(self, encoded: np.ndarray) -> np.ndarray:
        l_input = encoded[..., 0].astype(np.float64) / (L_STEPS * 100.0)
        self.total += l_input.sum()
        self.squares += np.square(l_input).sum()
        self.count += l_input.size
        return encoded

    def result(self) -> tuple[float, float]:
        mean = self.total / self.count
        return mean, math.sqrt(max(self.squares / self.count - mean * mean, 1e-12))


def large_enough(rows: list[RawImage], image_size: int) -> tuple[list[RawImage], list[RawImage]]:
    """Split rows into those at least image_size on their short side and those smaller."""
    usable = [row for row in rows if min(row.width, row.height) >= image_size]
    return usable, [row for row in rows if min(row.width, row.height) < image_size]


def _write_too_small(path: Path, rows: list[RawImage], image_size: int) -> None:
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "width", "height", "reason"])
        writer.writerows((row.file, row.width, row.height, f"smaller than image_size {image_size}") for row in rows)


def _write_index(path: Path, rows: list[RawImage]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["position", "file", "group"])
        writer.writerows((position, row.file, row.group) for position, row in enumerate(rows))


def prepare(raw_dir: Path, lab_dir: Path, image_size: int, val_fraction: float, shard_size: int, seed: int,
            workers: int | None = None) -> dict:
    """Write data/lab/{train,val}/shard_*.npy, index.csv per split and meta.json; return the metadata."""
    raw_dir, lab_dir = Path(raw_dir), Path(lab_dir)
    rows, too_small = large_enough(read_manifest(raw_dir), image_size)
    if not rows:
        example = too_small[0] if too_small else None
        raise UserError(f"no image in {raw_dir} is at least {image_size}x{image_size} (data.image_size)"
                        + (f"; all {len(too_small)} are smaller, e.g. {example.file} at {example.width}x{example.height}"
                           if example else ""))
    train_rows, val_rows = split_by_group(rows, val_fraction, seed)
    temporary = lab_dir.with_name(lab_dir.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    shape = (image_size, image_size, 3)
    statistics = _LStatistics()
    with Pool(workers or os.cpu_count()) as pool:
        for split, rows in (("train", train_rows), ("val", val_rows)):
            jobs = [(raw_dir / row.file, image_size) for row in rows]
            encoded = pool.imap(encode_file, jobs, chunksize=8)
            if split == "train":
                encoded = map(statistics.add, encoded)
            write_shards(encoded, len(rows), shape, temporary / split, shard_size)
            _write_index(temporary / split / "index.csv", rows)
    l_mean, l_std = statistics.result()
    meta = {"image_size": image_size, "encoding": ENCODING, "counts": {"train": len(train_rows), "val": len(val_rows)},
            "val_groups": sorted({row.group for row in val_rows}), "l_mean": l_mean, "l_std": l_std,
            "skipped_smaller_than_image_size": len(too_small)}
    _write_too_small(temporary / SKIPPED_FILE, too_small, image_size)
    write_json(temporary / META_FILE, meta)
    shutil.rmtree(lab_dir, ignore_errors=True)
    os.replace(temporary, lab_dir)
    return meta
