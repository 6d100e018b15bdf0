"""The registry of data sources for the download stage: each gathers raw colour photos into a directory.

- `sample` (here): seeded crops of the photos bundled with scikit-image and matplotlib, offline;
- `places365` (`places365.py`): a seeded uniform subset of the Places365 archive, downloaded once;
- `folder` (`folder.py`): your own photos, from a folder or an archive.

`download` builds data/raw in a temporary sibling and renames it when whole, with manifest.csv (the
usable images) and skipped.csv (what was left out and why); see `manifest`.
"""

import os
import shutil
from collections import Counter
from pathlib import Path

import matplotlib
import numpy as np
import skimage
from PIL import Image

from .folder import gather_folder
from .manifest import SKIPPED, Gathered, RawImage, sha256_of, write_manifest
from .params import DataParams
from .places365 import gather_places365

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


def _package_file(package: str, name: str) -> Path:
    folder = Path(skimage.data_dir) if package == "skimage" else Path(matplotlib.get_data_path()) / "sample_data"
    return folder / name


def gather_sample(data: DataParams, seed: int, out_dir: Path) -> Gathered:
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
        rows.append(RawImage(path.name, source, group, path.stat().st_size, sha256_of(path), SAMPLE_SIZE, SAMPLE_SIZE))
    return Gathered(rows, [], len(rows))


SOURCES = {"sample": gather_sample, "places365": gather_places365, "folder": gather_folder}


def download(data: DataParams, seed: int, raw_dir: Path) -> Gathered:
    """Gather the configured source into `raw_dir`, built in a temporary sibling and renamed when whole;
    on any error the temporary is removed and an existing `raw_dir` is left as it was."""
    raw_dir = Path(raw_dir)
    temporary = raw_dir.with_name(raw_dir.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        gathered = SOURCES[data.source](data, seed, temporary)
        write_manifest(temporary, gathered.images, gathered.skipped)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    shutil.rmtree(raw_dir, ignore_errors=True)
    os.replace(temporary, raw_dir)
    return gathered


def summary(gathered: Gathered, data: DataParams, raw_dir: Path) -> str:
    """The download stage's one-line report: images, source photos, near-duplicates, skipped by reason."""
    images = gathered.images
    origin = {"folder": f"folder {data.path}", "places365": f"places365 {data.places365.url if data.places365 else ''}"}
    line = (f"download: {len(images)} images from {len({row.group for row in images})} source photos "
            f"({origin.get(data.source, data.source)}) in {raw_dir}")
    grouped = sum(1 for row in images if row.near_duplicate_of)
    if grouped:
        line += f"; {grouped} near-duplicates grouped with their originals (column near_duplicate_of)"
    if gathered.skipped:
        reasons = Counter(skipped.reason for skipped in gathered.skipped)
        line += (f"; skipped {len(gathered.skipped)}: "
                 f"{', '.join(f'{count} {reason}' for reason, count in reasons.most_common())} "
                 f"(listed in {Path(raw_dir) / SKIPPED})")
    if len(images) < data.n_images:
        line += f"; only {len(images)} usable images of the {data.n_images} asked for (data.n_images)"
    return line
