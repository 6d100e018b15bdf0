"""The contenders the benchmarks compare, each a plain function over the same files."""

import os
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from skimage import color as skcolor

from colorization.core.params import DataParams
from colorization.lab.prepare import load_square
from colorization.sources import download

ROOT = Path(__file__).resolve().parents[1]


def make_images(directory: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` 256x256 JPEG photos cut from the bundled sample photos (the pipeline's own source)."""
    if not (directory / "manifest.csv").is_file():
        download(DataParams("sample", count, 256, 0.25, 1024), seed, directory)
    return sorted(directory.glob("*.jpg"))


def naive_prepare(files: list[Path], size: int) -> np.ndarray:
    """The study's loop: PIL open, resize, skimage rgb2lab per image, append to a list, np.array at the end."""
    converted = []
    for path in files:
        image = Image.open(path).convert("RGB").resize((size, size))
        converted.append(skcolor.rgb2lab(np.asarray(image)))
    return np.array(converted)


def _decode_only(job: tuple[Path, int]) -> None:
    load_square(*job)


def decode_bound(files: list[Path], size: int, workers: int) -> None:
    """The floor of prepare: decode and resize the same files in as many processes, keep nothing."""
    with Pool(workers) as pool:
        for _ in pool.imap_unordered(_decode_only, [(path, size) for path in files], chunksize=16):
            pass


def timed(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def peak_rss_mb(code: str, cwd: Path = ROOT) -> float:
    """Run Python `code` in a fresh process; the peak resident memory in MB of it or of its largest worker.

    The process's own peak is VmHWM from /proc, which starts afresh at exec (ru_maxrss would carry
    over this benchmark process's peak through fork); its workers' peaks come from RUSAGE_CHILDREN.
    """
    probe = ("\nimport re, resource\n"
             "own = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
             "print('PEAK', max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n")
    result = subprocess.run([sys.executable, "-c", code + probe], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    line = [line for line in result.stdout.splitlines() if line.startswith("PEAK")][-1]
    return int(line.split()[1]) / 1024


def per_item_image(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A per-item loader's __getitem__: decode, resize, skimage rgb2lab, split into L/100 and ab/128."""
    with Image.open(path) as image:
        rgb = np.asarray(ImageOps.fit(image.convert("RGB"), (size, size)))
    lab = skcolor.rgb2lab(rgb).astype(np.float32)
    return lab[..., :1] / 100, lab[..., 1:] / 128
