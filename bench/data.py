"""Benchmarks of the data flow: prepare (speed, where its time goes, memory), the stored encoding's
error, and the shard reader against a per-item loader."""

import shutil
import time
from pathlib import Path

import numpy as np
import torch
from skimage import color as skcolor

from colorization.core.encoding import decode_lab, encode_rgb
from colorization.lab.prepare import prepare
from colorization.lab.shards import LabShards

from .workloads import decode_bound, make_images, naive_prepare, peak_rss_mb, per_item_image, timed


def bench_prepare(raw: Path, work: Path, n_images: int, workers: int, rounds: int = 3) -> dict:
    files = sorted(raw.glob("*.jpg"))[:n_images]
    subset = work / "raw_prepare"
    if not subset.exists():
        subset.mkdir()
        lines = (raw / "manifest.csv").read_text().splitlines()
        (subset / "manifest.csv").write_text("\n".join(lines[: n_images + 1]) + "\n")
        for path in files:
            (subset / path.name).symlink_to(path)
    ours, floor = [], []
    for _ in range(rounds):  # interleaved, best of each: this machine is shared and its speed wanders
        ours.append(timed(prepare, subset, work / "lab_prepare", 256, 0.25, 1024, 0, workers))
        floor.append(timed(decode_bound, files, 256, workers))
    ours, floor = min(ours), min(floor)
    naive = timed(naive_prepare, files, 256)
    shard_bytes = sum(p.stat().st_size for p in (work / "lab_prepare").rglob("shard_*.npy"))
    return {
        "prepare_speedup_vs_naive": naive / ours,
        "prepare_vs_decode_bound": floor / ours,
        "shard_bytes_per_pixel": shard_bytes / (n_images * 256 * 256),
        "figures": {
            "images": n_images,
            "workers": workers,
            "ours_images_per_s": n_images / ours,
            "decode_only_images_per_s": n_images / floor,
            "naive_images_per_s": n_images / naive,
        },
    }


def bench_prepare_profile(raw: Path, work: Path, count: int = 300) -> dict:
    """Where a prepare worker's time goes, per 256x256 image, in one process (the decode-bound ratio's bound)."""
    from colorization.lab.prepare import encode_image, load_kernels, load_square
    from colorization.lab.shards import ShardWriter, write_image

    files = sorted(raw.glob("*.jpg"))[:count]
    writer = ShardWriter(work / "profile", len(files), (256, 256, 3), 1024)
    load_kernels()
    totals = dict(decode_resize_ms=0.0, encode_and_sums_ms=0.0, write_ms=0.0, skimage_rgb2lab_ms=0.0)
    for index, path in enumerate(files):
        marks = [time.perf_counter()]
        image = load_square(path, 256)
        marks.append(time.perf_counter())
        encoded = encode_image(image)[0]
        marks.append(time.perf_counter())
        write_image(writer.slot(index), encoded, encoded.shape)
        marks.append(time.perf_counter())
        skcolor.rgb2lab(np.asarray(image))
        marks.append(time.perf_counter())
        for key, start, end in zip(totals, marks, marks[1:]):
            totals[key] += (end - start) * 1000
    writer.discard()
    return {"figures": {key: value / len(files) for key, value in totals.items()}}


class PerItemDataset(torch.utils.data.Dataset):
    """What a loader without precomputed shards does: decode and convert each image when asked."""

    def __init__(self, files: list[Path], size: int):
        self.files, self.size = files, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        return tuple(torch.from_numpy(array) for array in per_item_image(self.files[index], self.size))


def bench_loader(raw: Path, lab: Path, batches: int, batch_size: int = 32) -> dict:
    shards = LabShards(lab / "train")
    order = np.random.default_rng(0).permutation(len(shards))
    count = min(batches * batch_size, len(shards))
    started, images = time.perf_counter(), 0
    while time.perf_counter() - started < 2.0:  # passes over the same images, so the timing is not a blip
        for l_input, ab in shards.batches(batch_size, order[:count], prefetch=2):
            torch.from_numpy(l_input), torch.from_numpy(ab)
            images += len(l_input)
    ours = images / (time.perf_counter() - started)
    files = sorted(raw.glob("*.jpg"))[:count]
    loader = torch.utils.data.DataLoader(
        PerItemDataset(files, 256),
        batch_size=batch_size,
        shuffle=True,
        num_workers=2,
        generator=torch.Generator().manual_seed(0),
    )
    started = time.perf_counter()
    for _ in loader:
        pass
    per_item = count / (time.perf_counter() - started)
    return {
        "loader_speedup_vs_per_item": ours / per_item,
        "figures": {
            "image_size": 256,
            "batch_size": batch_size,
            "ours_images_per_s": ours,
            "per_item_images_per_s": per_item,
        },
    }


PREPARE_CODE = "from colorization.lab.prepare import prepare; prepare({raw!r}, {lab!r}, {size}, 0.25, 1024, 0, 2)"


EPOCH_CODE = """
import numpy as np
from colorization.engines import create
from colorization.lab.shards import LabShards
shards = LabShards({lab!r} + "/train")
network = create("resnet18", 0.001, 0.5, 0.25, seed=0)
order = np.random.default_rng(0).permutation(len(shards))
for start in range(0, len(shards), 32):
    network.train_step(shards.read(order[start:start + 32]))
"""


def bench_memory(work: Path, sizes: list[int]) -> dict:
    """Time and peak RSS of prepare (256x256) and of one ResNet18 epoch (64x64) at each dataset size.

    The ratios compare the smallest and the 4,000-image sizes."""
    figures = {}
    small, large = sizes[0], 4000
    for count in sizes:
        raw = work / f"raw_{count}"
        make_images(raw, count)
        started = time.perf_counter()
        figures[f"prepare_{count}_mb"] = peak_rss_mb(
            PREPARE_CODE.format(raw=str(raw), lab=str(work / f"lab256_{count}"), size=256)
        )
        figures[f"prepare_{count}_s"] = time.perf_counter() - started
        prepare(raw, work / f"lab64_{count}", 64, 0.25, 1024, 0, 2)
        started = time.perf_counter()
        figures[f"train_epoch_{count}_mb"] = peak_rss_mb(EPOCH_CODE.format(lab=str(work / f"lab64_{count}")))
        figures[f"train_epoch_{count}_s"] = time.perf_counter() - started
        shutil.rmtree(work / f"lab256_{count}")
    for count in sizes:
        print(
            f"  {count:5d} images: prepare {figures[f'prepare_{count}_s']:6.1f} s "
            f"{figures[f'prepare_{count}_mb']:6.0f} MB | one ResNet18 epoch "
            f"{figures[f'train_epoch_{count}_s']:6.1f} s {figures[f'train_epoch_{count}_mb']:6.0f} MB"
        )
    return {
        "rss_ratio_prepare": figures[f"prepare_{large}_mb"] / figures[f"prepare_{small}_mb"],
        "rss_ratio_train": figures[f"train_epoch_{large}_mb"] / figures[f"train_epoch_{small}_mb"],
        "figures": figures,
    }


def bench_encoding(raw: Path, count: int = 200) -> dict:
    """Worst ab error of the stored encoding against exact float64 LAB, over real images and the gamut."""
    from PIL import Image

    levels = np.arange(0, 256, 3, dtype=np.uint8)
    gamut = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(1, -1, 3)
    images = [gamut] + [np.asarray(Image.open(path).convert("RGB")) for path in sorted(raw.glob("*.jpg"))[:count]]
    worst = max(
        float(np.abs(decode_lab(encode_rgb(rgb))[..., 1:] - skcolor.rgb2lab(rgb)[..., 1:]).max()) for rgb in images
    )
    return {"max_abs_error_ab": worst}
