"""The prepare stage: raw photos -> square crops at `image_size` -> encoded LAB shards, split by group.

A pool of worker processes decodes and converts the images and writes each one straight into its slot
of the shard files; only the sum and the sum of squares of its encoded L come back per image (for the
mean and standard deviation CNN v2 standardizes with). Peak memory does not depend on how many images
there are. Photos whose short side is below `image_size` are left out (upscaled photos would teach
blur) and listed in data/lab/skipped.csv; that check lives here, not in download, so changing
image_size never downloads again.
"""

import csv
import math
import os
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..core.encoding import L_STEPS, encode_rgb_and_sum_lightness
from ..core.errors import UserError
from ..core.files import atomic_directory, atomic_path
from ..core.photo import open_image, to_rgb
from ..sources.manifest import RawImage, read_manifest
from .meta import LabMeta
from .shards import LABELS_FILE, ShardWriter, write_image

SKIPPED_FILE = "skipped.csv"


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
    """Open an image upright and as 8-bit RGB (see `core.photo.to_rgb`), resized and centre-cropped to size x size."""
    with open_image(path) as image:
        return ImageOps.fit(to_rgb(image), (size, size), method=Image.BICUBIC)


def encode_into(job: tuple[Path, int, tuple[str, int]]) -> tuple[int, int]:
    """Worker: decode one raw file, write its encoding into its shard slot, return its L byte sums."""
    path, size, slot = job
    try:
        image = load_square(path, size)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: cannot be decoded ({error})") from None
    encoded, total, squares = encode_image(image)
    write_image(slot, encoded, encoded.shape)
    return total, squares


def encode_image(image: Image.Image) -> tuple[np.ndarray, int, int]:
    """An 8-bit RGB image to its shard encoding (H, W, 3), with the sum and sum of squares of its L bytes."""
    # Pillow keeps RGB as 4 bytes a pixel: handing them over as RGBX skips repacking them to 3.
    pixels = np.frombuffer(image.tobytes("raw", "RGBX"), dtype=np.uint8)
    return encode_rgb_and_sum_lightness(pixels.reshape(image.height, image.width, 4))


def load_kernels() -> None:
    """Compile the kernels (or load them from numba's cache) in this process, so that forked workers
    inherit them instead of each compiling its own."""
    encode_image(Image.new("RGB", (1, 1)))


def l_statistics(count: int, total: int, squares: int) -> tuple[float, float]:
    """Mean and standard deviation of the network input L/100 from `count` encoded L bytes, their sum and
    the sum of their squares."""
    scale = L_STEPS * 100.0
    mean = total / count
    variance = (squares - total * mean) / count
    return mean / scale, math.sqrt(max(variance, 1e-12 * scale**2)) / scale


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


def _write_labels(path: Path, rows: list[RawImage], categories: list[str]) -> None:
    """Each image's scene class, its category's index in `categories`; -1 for a category no training
    image has, or none."""
    index = {category: position for position, category in enumerate(categories)}
    np.save(path, np.array([index.get(row.category, -1) for row in rows], dtype=np.int16))


def prepare(
    raw_dir: Path,
    lab_dir: Path,
    image_size: int,
    val_fraction: float,
    shard_size: int,
    seed: int,
    workers: int | None = None,
) -> LabMeta:
    """Write data/lab/{train,val}/shard_*.npy, index.csv (and labels.npy where the photos have scene
    categories) per split and meta.json; return the metadata."""
    raw_dir, lab_dir = Path(raw_dir), Path(lab_dir)
    rows, too_small = large_enough(read_manifest(raw_dir), image_size)
    if not rows:
        example = too_small[0] if too_small else None
        raise UserError(
            f"no image in {raw_dir} is at least {image_size}x{image_size} (data.image_size)"
            + (
                f"; all {len(too_small)} are smaller, e.g. {example.file} at {example.width}x{example.height}"
                if example
                else ""
            )
        )
    train_rows, val_rows = split_by_group(rows, val_fraction, seed)
    splits = (("train", train_rows), ("val", val_rows))
    shape = (image_size, image_size, 3)
    with atomic_directory(lab_dir) as temporary:
        writers = {split: ShardWriter(temporary / split, len(rows), shape, shard_size) for split, rows in splits}
        jobs = [
            (raw_dir / row.file, image_size, writers[split].slot(index))
            for split, rows in splits
            for index, row in enumerate(rows)
        ]
        train_sums = np.zeros(2, dtype=np.int64)
        load_kernels()
        with Pool(workers or os.cpu_count()) as pool:
            # One queue for both splits, so no worker idles at the end of the first; results in job order.
            for position, sums in enumerate(pool.imap(encode_into, jobs, chunksize=16)):
                if position < len(train_rows):
                    train_sums += sums
        categories = sorted({row.category for row in train_rows if row.category})
        for split, rows in splits:
            writers[split].commit()
            _write_index(temporary / split / "index.csv", rows)
            if categories:
                _write_labels(temporary / split / LABELS_FILE, rows, categories)
        l_mean, l_std = l_statistics(len(train_rows) * image_size**2, *map(int, train_sums))
        meta = LabMeta(
            image_size=image_size,
            counts={"train": len(train_rows), "val": len(val_rows)},
            val_groups=sorted({row.group for row in val_rows}),
            l_mean=l_mean,
            l_std=l_std,
            skipped_smaller_than_image_size=len(too_small),
            categories=categories,
        )
        _write_too_small(temporary / SKIPPED_FILE, too_small, image_size)
        meta.write(temporary)
    return meta
