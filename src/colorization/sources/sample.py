"""The sample source: seeded crops of the colour photos bundled with scikit-image and matplotlib, offline."""

from pathlib import Path

import matplotlib
import numpy as np
import skimage
from PIL import Image

from ..core.params import DataParams
from .manifest import Gathered, RawImage, sha256_of

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
