"""Run the benchmark suite: `python -m bench [--quick] [--work DIR]`; writes bench/results.json."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from skimage import color as skcolor

from colorization.core.encoding import decode_lab, encode_rgb, model_batch
from colorization.lab.prepare import prepare
from colorization.lab.shards import LabShards
from colorization.models import create
from colorization.training.loop import prefetch_threads

from .workloads import (ROOT, PageClient, decode_bound, make_images, naive_prepare, panning_frames, peak_rss_mb,
                        per_item_image, timed, write_film)

TARGETS = {
    "prepare_speedup_vs_naive": (">=", 4), "prepare_vs_decode_bound": (">=", 0.7),
    "loader_speedup_vs_per_item": (">=", 20), "train_data_overhead_resnet18": (">=", 0.95),
    "train_data_overhead_cnn_v1": (">=", 0.95), "rss_ratio_prepare": ("<=", 1.15),
    "rss_ratio_train": ("<=", 1.15), "shard_bytes_per_pixel": ("<=", 3), "max_abs_error_ab": ("<=", 0.6),
}


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
        "figures": {"images": n_images, "workers": workers, "ours_images_per_s": n_images / ours,
                    "decode_only_images_per_s": n_images / floor, "naive_images_per_s": n_images / naive},
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
    loader = torch.utils.data.DataLoader(PerItemDataset(files, 256), batch_size=batch_size, shuffle=True,
                                         num_workers=2, generator=torch.Generator().manual_seed(0))
    started = time.perf_counter()
    for _ in loader:
        pass
    per_item = count / (time.perf_counter() - started)
    return {"loader_speedup_vs_per_item": ours / per_item,
            "figures": {"image_size": 256, "batch_size": batch_size, "ours_images_per_s": ours,
                        "per_item_images_per_s": per_item}}


def bench_train_overhead(arch: str, lab: Path, steps: int, batch_size: int = 16, rounds: int = 3) -> dict:
    """Training steps fed by the training loop's shard reader against the same steps on batches already
    in RAM; the best of `rounds` of each, after one untimed round of each.

    On a CPU the two alternate step by step, so the shared machine's slow spells hit both alike (whole
    rounds in turn gave 0.85-1.15 for identical work). On a GPU the reader prefetches, as training
    does, and alternating steps would hand it a free step to prefetch in, so whole rounds alternate.
    The shards were just written: syncing first keeps the kernel's writeback of them off the cores."""
    os.sync()
    shards = LabShards(lab / "train")
    network = create(arch, 0.001, 0.5, 0.25, seed=0)
    order = np.random.default_rng(0).permutation(len(shards))[: steps * batch_size]
    in_ram = list(shards.batches(batch_size, order, encoded=True))
    prefetch = prefetch_threads(network)
    from_shards, from_ram = [], []
    for _ in range(rounds + 1):
        shards_seconds = ram_seconds = 0.0
        stream = shards.batches(batch_size, order, prefetch=prefetch, encoded=True)
        if prefetch:
            started = time.perf_counter()
            for batch in stream:
                network.train_step(batch)
            shards_seconds = time.perf_counter() - started
        for batch in in_ram:
            started = time.perf_counter()
            if not prefetch:
                network.train_step(next(stream))
            middle = time.perf_counter()
            network.train_step(batch)
            shards_seconds += middle - started
            ram_seconds += time.perf_counter() - middle
        from_shards.append(shards_seconds)
        from_ram.append(ram_seconds)
    from_shards, from_ram = from_shards[1:], from_ram[1:]
    images = steps * batch_size
    return {f"train_data_overhead_{arch}": min(from_ram) / min(from_shards),
            "figures": {"image_size": shards.image_shape[0], "batch_size": batch_size, "steps": steps,
                        "shards_images_per_s": images / min(from_shards), "ram_images_per_s": images / min(from_ram)}}


def _best_seconds(step, rounds: int = 5) -> float:
    """The fastest of `rounds` calls of `step`, after one untimed call."""
    step()
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return min(seconds)


def bench_losses(rounds: int = 5) -> dict:
    """A training step of each default model (architecture + loss) at 64x64, batch 32, and side by side
    the two rewrites the classification head needed: ResNet18's written-out nearest upsampling against
    torch's nn.Upsample, and the fused soft cross-entropy against autograd through log_softmax and gather,
    forward and backward on the (32, Q, 64, 64) logits. Each one best of `rounds`, one after another."""
    from colorization.losses.classification import NEIGHBOURS, Classification
    from colorization.losses.gan import GAN
    from colorization.architectures.resnet18 import Up2

    rng = np.random.default_rng(0)
    encoded = rng.integers(0, 256, (32, 64, 64, 3), dtype=np.uint8)
    encoded[..., 1:] = np.clip(np.rint(rng.normal(128, 20, (32, 64, 64, 2))), 0, 255)
    ab = model_batch(encoded)[1]
    figures = {}
    for name, arch, loss in [("cnn_v1", "cnn_v1", None), ("cnn_v2", "cnn_v2", None), ("resnet18", "resnet18", None),
                             ("resnet18_cls", "resnet18", Classification()), ("unet_gan", "unet", GAN())]:
        network = create(arch, 2e-4, 0.5, 0.25, seed=0, loss=loss)
        network.start_epoch(0, 2e-4)
        figures[f"step_s_{name}"] = _best_seconds(lambda: network.train_step(encoded), rounds)
    loss = Classification()
    target = torch.from_numpy(loss.targets(ab).transpose(0, 3, 1, 2).copy())
    classes, weights, pixel = target[:, :NEIGHBOURS].long(), target[:, NEIGHBOURS:-1], target[:, -1]
    logits = torch.randn(32, loss.channels, 32, 32, requires_grad=True)
    full = torch.randn(32, loss.channels, 64, 64, requires_grad=True)
    upstream = torch.randn(32, loss.channels, 64, 64)  # the gradient arriving from the loss

    def upsample(module):
        return lambda: module(logits).backward(upstream)

    def autograd_loss():
        picked = torch.log_softmax(full, dim=1).gather(1, classes)
        (-((picked * weights).sum(dim=1) * pixel).mean()).backward()

    contenders = {"upsample_torch": upsample(torch.nn.Upsample(scale_factor=2)), "upsample_ours": upsample(Up2()),
                  "loss_autograd": autograd_loss, "loss_fused": lambda: loss.torch_loss(full, target).backward()}
    for key, step in contenders.items():
        figures[f"{key}_s"] = _best_seconds(step, rounds)
    return {"upsample_speedup": figures["upsample_torch_s"] / figures["upsample_ours_s"],
            "soft_cross_entropy_speedup": figures["loss_autograd_s"] / figures["loss_fused_s"], "figures": figures}


COLORIZE_CODE = """
import numpy as np
from PIL import Image
from colorization.models import create, saved
from colorization.models.saved import ModelConfig
network = create("resnet18", 0.001, 0.5, 0.25, seed=0)
saved.save(network, __import__("pathlib").Path({model!r}), ModelConfig(arch="resnet18", image_size={size}))
"""


def bench_colorize(work: Path) -> dict:
    """Seconds and peak RSS of the colorize command on a 4000x3000 photo (ResNet18 at 256x256)."""
    from PIL import Image

    model = work / "colorize_model"
    peak_rss_mb(COLORIZE_CODE.format(model=str(model), size=256))
    photo = work / "photo 4000x3000.jpg"
    gradient = np.linspace(0, 255, 4000, dtype=np.float32)[None, :] * np.linspace(0.2, 1, 3000, dtype=np.float32)[:, None]
    Image.fromarray(gradient.astype(np.uint8), "L").save(photo, quality=95)
    code = (f"from colorization.colorize.cli import run; "
            f"run([{str(photo)!r}, '--output', {str(work / 'colorized')!r}, '--model', {str(model)!r}, '--overwrite'])")
    started = time.perf_counter()
    peak = peak_rss_mb(code)
    return {"figures": {"colorize_4000x3000_s_with_startup": time.perf_counter() - started, "colorize_4000x3000_mb": peak}}


FILM_CODE = """
from pathlib import Path
from colorization.colorize.films import colorize_film
from colorization.colorize.render import load_model
colorize_film(Path({film!r}), Path({output!r}), load_model({model!r}, Path.cwd()))
"""


def bench_film(work: Path, seconds: tuple[int, ...] = (10, 40), fps: int = 24) -> dict:
    """Frames per second and peak RSS of colorizing a 640x480 grey film with ResNet18 trained at 64x64 (the
    pipeline's default size), for two film lengths: memory should not grow with the length."""
    from PIL import Image

    model = work / "film_model"
    peak_rss_mb(COLORIZE_CODE.format(model=str(model), size=64))
    photos = [np.asarray(Image.open(path).convert("RGB")) for path in make_images(work / "raw_film", 8)[:4]]
    figures = {}
    for length in seconds:
        film = work / f"film {length} s.mp4"
        frames = length * fps
        write_film(film, (grey for _, grey in panning_frames(photos, frames // len(photos), (640, 480))), fps,
                   audio_seconds=length)
        started = time.perf_counter()
        peak = peak_rss_mb(FILM_CODE.format(film=str(film), output=str(work / "coloured.mp4"), model=str(model)))
        elapsed = time.perf_counter() - started
        figures[f"film_640x480_{length}s_frames_per_s_with_startup"] = frames / elapsed
        figures[f"film_640x480_{length}s_mb"] = peak
    return {"figures": figures}


PAGE_PHOTO_REPEATS = 3


def bench_page(work: Path) -> dict:
    """Seconds from the upload of a 12-megapixel (4000x3000) photo to the page's answer, and to the
    downloaded result, through a real `colorize --serve` on 127.0.0.1 (ResNet18 at 256x256)."""
    photo = work / "photo 4000x3000.jpg"
    if not photo.exists():
        bench_colorize(work)
    server = subprocess.Popen([sys.executable, "-m", "colorization.colorize", "--serve", "--port", "0", "--model",
                               str(work / "colorize_model"), "--output", str(work / "page")],
                              cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    try:
        page = PageClient(server.stdout.readline())
        answers, downloads = [], []
        for _ in range(PAGE_PHOTO_REPEATS):
            started = time.perf_counter()
            status, answer = page.post("photo.jpg", photo.read_bytes())
            if status != 200:
                raise RuntimeError(f"the page answered {status}: {answer}")
            answers.append(time.perf_counter() - started)
            page.get(answer["download"])
            downloads.append(time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"figures": {"page_12mp_answer_s_first": answers[0], "page_12mp_answer_s_best": min(answers),
                        "page_12mp_with_download_s_best": min(downloads)}}


PREPARE_CODE = "from colorization.lab.prepare import prepare; prepare({raw!r}, {lab!r}, {size}, 0.25, 1024, 0, 2)"
EPOCH_CODE = """
import numpy as np
from colorization.models import create
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
        figures[f"prepare_{count}_mb"] = peak_rss_mb(PREPARE_CODE.format(raw=str(raw), lab=str(work / f"lab256_{count}"), size=256))
        figures[f"prepare_{count}_s"] = time.perf_counter() - started
        prepare(raw, work / f"lab64_{count}", 64, 0.25, 1024, 0, 2)
        started = time.perf_counter()
        figures[f"train_epoch_{count}_mb"] = peak_rss_mb(EPOCH_CODE.format(lab=str(work / f"lab64_{count}")))
        figures[f"train_epoch_{count}_s"] = time.perf_counter() - started
        shutil.rmtree(work / f"lab256_{count}")
    for count in sizes:
        print(f"  {count:5d} images: prepare {figures[f'prepare_{count}_s']:6.1f} s {figures[f'prepare_{count}_mb']:6.0f} MB"
              f" | one ResNet18 epoch {figures[f'train_epoch_{count}_s']:6.1f} s {figures[f'train_epoch_{count}_mb']:6.0f} MB")
    return {"rss_ratio_prepare": figures[f"prepare_{large}_mb"] / figures[f"prepare_{small}_mb"],
            "rss_ratio_train": figures[f"train_epoch_{large}_mb"] / figures[f"train_epoch_{small}_mb"],
            "figures": figures}


DATA_PARALLEL_CODE = """
import json, sys, time
import numpy as np
from colorization.lab.shards import LabShards
from colorization.models import create
from colorization.training import distributed
from colorization.training.loop import prefetch_threads
group = distributed.join()
shards = LabShards({lab!r} + "/train")
network = create("resnet18", 0.001, 0.5, 0.25, seed=0)
if group.world_size > 1:
    network.distribute()
order = np.random.default_rng(0).permutation(len(shards))[: {images}]
share, prefetch = (group.rank, group.world_size), prefetch_threads(network)
for batch in shards.batches(32, order[: 32 * 3], prefetch, share, encoded=True):  # warm-up
    network.train_step(batch)
started = time.perf_counter()
for batch in shards.batches(32, order, prefetch, share, encoded=True):
    network.train_step(batch)
seconds = time.perf_counter() - started
distributed.leave(group)
if group.is_main:
    print(json.dumps({{"images_per_s": len(order) // 32 * 32 / seconds}}))
"""


def bench_data_parallel(lab: Path, images: int) -> dict:
    """ResNet18 training steps (batch 32, 64x64) in one process against DDP across 2 under torchrun, on
    the loop's own path (each worker its share of every batch): images/s of the whole batch stream."""
    workers = max(2, torch.cuda.device_count())
    script = lab.parent / "data_parallel.py"
    script.write_text(DATA_PARALLEL_CODE.format(lab=str(lab), images=images))
    rates = {}
    for count in (1, workers):
        output = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                                 str(count), str(script)], capture_output=True, text=True, check=True, cwd=ROOT).stdout
        rates[count] = json.loads(output.strip().splitlines()[-1])["images_per_s"]
    return {"figures": {f"images_per_s_{count}_processes": rate for count, rate in rates.items()}
            | {f"speedup_{workers}_processes": rates[workers] / rates[1]}}


KERAS_BACKEND_CODE = """
import json
import numpy as np
from bench.__main__ import _best_seconds
from colorization.models import create
encoded = np.random.default_rng(0).integers(0, 256, (32, 64, 64, 3), dtype=np.uint8)
networks = {{arch: create(arch, 0.001, 0.5, 0.25, seed=0) for arch in ("cnn_v1", "cnn_v2")}}
print(json.dumps({{arch: _best_seconds(lambda: network.train_step(encoded), {rounds})
                  for arch, network in networks.items()}}))
"""


def bench_keras_backends(rounds: int = 5) -> dict:
    """A Keras CNN training step (batch 32, 64x64, best of `rounds`) on TensorFlow and on Keras's PyTorch
    backend (`train.keras_backend`), each in its own process: Keras reads its backend once."""
    figures = {}
    for backend in ("tensorflow", "torch"):
        output = subprocess.run([sys.executable, "-c", KERAS_BACKEND_CODE.format(rounds=rounds)], cwd=ROOT, check=True,
                                capture_output=True, text=True, env=os.environ | {"KERAS_BACKEND": backend}).stdout
        for arch, seconds in json.loads(output.strip().splitlines()[-1]).items():
            figures[f"step_s_{arch}_{backend}"] = seconds
    for arch in ("cnn_v1", "cnn_v2"):
        figures[f"torch_over_tensorflow_{arch}"] = figures[f"step_s_{arch}_torch"] / figures[f"step_s_{arch}_tensorflow"]
    return {"figures": figures}


def bench_gpu(work: Path, count: int = 512, batch_size: int = 32, seconds: float = 10.0) -> dict:
    """On a GPU, per PyTorch model at 256x256: training images/s fed from shards by the loop's reader
    (prefetching uint8 batches) against the same steps on one batch already on the GPU; the share of
    step time spent waiting for data; bfloat16 autocast against float32; and the study's setting
    (ResNet18, 41,000 images) extrapolated against its 9 hours on Colab. Skipped without a GPU."""
    if not torch.cuda.is_available():
        return {"figures": {"skipped": "no GPU"}}
    from colorization.losses.classification import Classification
    from colorization.losses.gan import GAN

    raw = work / "raw_gpu"
    make_images(raw, count)
    prepare(raw, work / "lab256", 256, 0.25, 1024, 0, os.cpu_count() or 2)
    shards = LabShards(work / "lab256" / "train")
    order = np.random.default_rng(0).permutation(len(shards))
    on_gpu = torch.from_numpy(shards.read(order[:batch_size])).cuda()
    figures = {"gpu": torch.cuda.get_device_name(), "image_size": 256, "batch_size": batch_size}

    def rate(step, batches) -> float:
        for batch in batches(3):
            step(batch)
        torch.cuda.synchronize()
        started, images = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            for batch in batches(None):
                step(batch)
                images += batch_size
        torch.cuda.synchronize()
        return images / (time.perf_counter() - started)

    def from_shards(limit):
        chunk = order if limit is None else order[: limit * batch_size]
        return shards.batches(batch_size, chunk[: len(chunk) // batch_size * batch_size], prefetch=2, encoded=True)

    def synthetic(limit):
        return [on_gpu] * (limit or len(order) // batch_size)

    for name, arch, loss in [("resnet18", "resnet18", None), ("resnet18_cls", "resnet18", Classification()),
                             ("unet_gan", "unet", GAN())]:
        for precision, mixed in (("fp32", False), ("bf16", True)):
            network = create(arch, 2e-4, 0.5, 0.25, seed=0, mixed_precision=mixed, loss=loss)
            network.start_epoch(0, 2e-4)
            fed, compute = rate(network.train_step, from_shards), rate(network.train_step, synthetic)
            figures[f"{name}_{precision}_images_per_s_from_shards"] = fed
            figures[f"{name}_{precision}_images_per_s_synthetic"] = compute
            figures[f"{name}_{precision}_data_wait_share"] = max(0.0, 1 - fed / compute)
    best = max(figures["resnet18_fp32_images_per_s_from_shards"], figures["resnet18_bf16_images_per_s_from_shards"])
    figures["study_resnet18_epoch_s"] = 41_000 / best
    figures["study_resnet18_100_epochs_h"] = 100 * 41_000 / best / 3600
    figures["study_colab_h"] = 9.0
    return {"figures": figures}


def bench_encoding(raw: Path, count: int = 200) -> dict:
    """Worst ab error of the stored encoding against exact float64 LAB, over real images and the gamut."""
    from PIL import Image

    levels = np.arange(0, 256, 3, dtype=np.uint8)
    gamut = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(1, -1, 3)
    images = [gamut] + [np.asarray(Image.open(path).convert("RGB")) for path in sorted(raw.glob("*.jpg"))[:count]]
    worst = max(float(np.abs(decode_lab(encode_rgb(rgb))[..., 1:] - skcolor.rgb2lab(rgb)[..., 1:]).max())
                for rgb in images)
    return {"max_abs_error_ab": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, under 5 minutes on 2 cores")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="colorization-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    sizes = dict(prepare=2000, loader_batches=20, steps=20, memory=[500, 4000]) if args.quick else \
        dict(prepare=2000, loader_batches=60, steps=30, memory=[500, 2000, 4000, 8000])
    results, figures = {}, {}
    started = time.perf_counter()
    raw = work / "raw_prepare_source"
    make_images(raw, sizes["prepare"])
    steps = [
        ("prepare", lambda: bench_prepare(raw, work, sizes["prepare"], workers=2)),
        ("prepare_profile", lambda: bench_prepare_profile(raw, work)),
        ("encoding", lambda: bench_encoding(raw)),
        ("loader", lambda: bench_loader(raw, work / "lab_prepare", sizes["loader_batches"])),
        ("memory", lambda: bench_memory(work, sizes["memory"])),
        ("train_resnet18", lambda: bench_train_overhead("resnet18", work / "lab64_4000", sizes["steps"])),
        ("train_cnn_v1", lambda: bench_train_overhead("cnn_v1", work / "lab64_4000", sizes["steps"])),
        ("colorize", lambda: bench_colorize(work)),
        ("page", lambda: bench_page(work)),
        ("film", lambda: bench_film(work, (5, 20) if args.quick else (10, 40))),
        ("losses", bench_losses),
        ("keras_backends", bench_keras_backends),
        ("data_parallel", lambda: bench_data_parallel(work / "lab64_4000", 32 * sizes["steps"])),
        ("gpu", lambda: bench_gpu(work)),
    ]
    for name, run in steps:
        outcome = run()
        figures[name] = outcome.pop("figures", {})
        results.update(outcome)
        shown = outcome or figures[name]
        print(f"{name}: " + ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
                                      for key, value in shown.items()), flush=True)
    print(f"\n{'key':32} {'value':>9}  target  met")
    for key, (sign, target) in TARGETS.items():
        value = results[key]
        met = value >= target if sign == ">=" else value <= target
        print(f"{key:32} {value:9.7g}  {sign} {target:<4}  {'yes' if met else 'NO'}")
    results["figures"] = figures
    results["seconds"] = time.perf_counter() - started
    results["quick"] = args.quick
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote bench/results.json in {results['seconds']:.0f} s")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
