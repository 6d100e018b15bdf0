"""Benchmarks of training: the shard reader's overhead on real steps, each default model's step, the
Keras backends, data-parallel training on this CPU and, where there is one, the GPU."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from colorization.core.encoding import model_batch
from colorization.engines import create
from colorization.lab.prepare import prepare
from colorization.lab.shards import LabShards
from colorization.training.loop import prefetch_threads

from .workloads import ROOT, make_images


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
    return {
        f"train_data_overhead_{arch}": min(from_ram) / min(from_shards),
        "figures": {
            "image_size": shards.image_shape[0],
            "batch_size": batch_size,
            "steps": steps,
            "shards_images_per_s": images / min(from_shards),
            "ram_images_per_s": images / min(from_ram),
        },
    }


def best_seconds(step, rounds: int = 5) -> float:
    """The fastest of `rounds` calls of `step`, after one untimed call."""
    step()
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - started)
    return min(seconds)


def bench_bfloat16(sizes: tuple[int, ...] = (64, 128), rounds: int = 5, batch_size: int = 32) -> dict:
    """Training images/s of each PyTorch model (architecture + loss) in float32 and with
    `train.mixed_precision` (bfloat16 autocast), at each image size, batch 32: the networks' steps
    alternate, so the shared machine's slow spells hit all alike; best of `rounds` each. Where the CPU
    only emulates bfloat16 the mixed-precision network trains in float32, and `bfloat16` says so."""
    from colorization.engines.torch_engine import bfloat16_native
    from colorization.losses.classification import Classification
    from colorization.losses.gan import GAN

    rng = np.random.default_rng(0)
    figures = {"bfloat16_native": float(bfloat16_native())}
    for size in sizes:
        encoded = rng.integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8)
        encoded[..., 1:] = np.clip(np.rint(rng.normal(128, 20, (batch_size, size, size, 2))), 0, 255)
        for name, arch, loss in [
            ("resnet18", "resnet18", None),
            ("resnet18_cls", "resnet18", Classification()),
            ("unet_gan", "unet", GAN()),
        ]:
            networks = {
                precision: create(arch, 2e-4, 0.5, 0.25, seed=0, loss=loss, mixed_precision=mixed)
                for precision, mixed in (("fp32", False), ("bf16", True))
            }
            seconds = {precision: [] for precision in networks}
            for network in networks.values():
                network.start_epoch(0, 2e-4)
                network.train_step(encoded)
            for _ in range(rounds):
                for precision, network in networks.items():
                    started = time.perf_counter()
                    network.train_step(encoded)
                    seconds[precision].append(time.perf_counter() - started)
            for precision, values in seconds.items():
                figures[f"images_s_{name}_{size}_{precision}"] = batch_size / min(values)
            figures[f"bf16_speedup_{name}_{size}"] = min(seconds["fp32"]) / min(seconds["bf16"])
    return {"figures": figures}


def bench_encoder_ab(rounds: int = 5, sizes: tuple[int, ...] = (64, 128)) -> dict:
    """Training steps of the encoder A/B's three models (conf/models/encoder_ab.yaml: ResNet18 from
    scratch, the Lite0 U-Net with its ImageNet encoder frozen and fine-tuned), classification loss,
    simulated hints, batch 32, at each side in `sizes`; images/s of the best of `rounds`, side by side."""
    from colorization.core import hints
    from colorization.engines import EncoderTraining
    from colorization.losses.classification import Classification

    rng = np.random.default_rng(0)
    figures = {}
    for size in sizes:
        encoded = rng.integers(0, 256, (32, size, size, 3), dtype=np.uint8)
        encoded[..., 1:] = np.clip(np.rint(rng.normal(128, 20, (32, size, size, 2))), 0, 255)
        told = hints.simulate(model_batch(encoded)[1], np.random.default_rng(1))
        for name, arch, encoder in [
            ("resnet_scratch", "resnet18", None),
            ("lite0_frozen", "lite0_unet", EncoderTraining(frozen_epochs=1, lr_scale=0.1)),
            ("lite0_tuned", "lite0_unet", EncoderTraining(frozen_epochs=0, lr_scale=0.1)),
        ]:
            network = create(
                arch, 1e-3, 0.5, 0.25, seed=0, loss=Classification(), options={"hints": True}, encoder=encoder
            )
            network.start_epoch(0, 1e-3)
            seconds = best_seconds(
                lambda network=network, encoded=encoded, told=told: network.train_step(encoded, None, told), rounds
            )
            figures[f"images_per_s_{name}_{size}"] = 32 / seconds
    return {"figures": figures}


def bench_losses(rounds: int = 5) -> dict:
    """A training step of each default model (architecture + loss) at 64x64, batch 32, and side by side
    the two rewrites the classification head needed: ResNet18's written-out nearest upsampling against
    torch's nn.Upsample, and the fused soft cross-entropy against autograd through log_softmax and gather,
    forward and backward on the (32, Q, 64, 64) logits. Each one best of `rounds`, one after another."""
    from colorization.architectures.resnet18 import Up2
    from colorization.losses.classification import NEIGHBOURS, Classification
    from colorization.losses.gan import GAN

    rng = np.random.default_rng(0)
    encoded = rng.integers(0, 256, (32, 64, 64, 3), dtype=np.uint8)
    encoded[..., 1:] = np.clip(np.rint(rng.normal(128, 20, (32, 64, 64, 2))), 0, 255)
    ab = model_batch(encoded)[1]
    figures = {}
    for name, arch, loss in [
        ("cnn_v1", "cnn_v1", None),
        ("cnn_v2", "cnn_v2", None),
        ("resnet18", "resnet18", None),
        ("resnet18_cls", "resnet18", Classification()),
        ("unet_gan", "unet", GAN()),
    ]:
        network = create(arch, 2e-4, 0.5, 0.25, seed=0, loss=loss)
        network.start_epoch(0, 2e-4)
        figures[f"step_s_{name}"] = best_seconds(lambda network=network: network.train_step(encoded), rounds)
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

    contenders = {
        "upsample_torch": upsample(torch.nn.Upsample(scale_factor=2)),
        "upsample_ours": upsample(Up2()),
        "loss_autograd": autograd_loss,
        "loss_fused": lambda: loss.torch_loss(full, target).backward(),
    }
    for key, step in contenders.items():
        figures[f"{key}_s"] = best_seconds(step, rounds)
    return {
        "upsample_speedup": figures["upsample_torch_s"] / figures["upsample_ours_s"],
        "soft_cross_entropy_speedup": figures["loss_autograd_s"] / figures["loss_fused_s"],
        "figures": figures,
    }


DATA_PARALLEL_CODE = """
import json, sys, time
import numpy as np
from colorization.lab.shards import LabShards
from colorization.engines import create
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
        output = subprocess.run(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc-per-node",
                str(count),
                str(script),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
        rates[count] = json.loads(output.strip().splitlines()[-1])["images_per_s"]
    return {
        "figures": {f"images_per_s_{count}_processes": rate for count, rate in rates.items()}
        | {f"speedup_{workers}_processes": rates[workers] / rates[1]}
    }


KERAS_BACKEND_CODE = """
import json
import numpy as np
from bench.training import best_seconds
from colorization.engines import create
encoded = np.random.default_rng(0).integers(0, 256, (32, 64, 64, 3), dtype=np.uint8)
networks = {{arch: create(arch, 0.001, 0.5, 0.25, seed=0) for arch in ("cnn_v1", "cnn_v2")}}
print(json.dumps({{arch: best_seconds(lambda: network.train_step(encoded), {rounds})
                  for arch, network in networks.items()}}))
"""


def bench_keras_backends(rounds: int = 5) -> dict:
    """A Keras CNN training step (batch 32, 64x64, best of `rounds`) on TensorFlow and on Keras's PyTorch
    backend (`train.keras_backend`), each in its own process: Keras reads its backend once."""
    figures = {}
    for backend in ("tensorflow", "torch"):
        output = subprocess.run(
            [sys.executable, "-c", KERAS_BACKEND_CODE.format(rounds=rounds)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            env=os.environ | {"KERAS_BACKEND": backend},
        ).stdout
        for arch, seconds in json.loads(output.strip().splitlines()[-1]).items():
            figures[f"step_s_{arch}_{backend}"] = seconds
    for arch in ("cnn_v1", "cnn_v2"):
        figures[f"torch_over_tensorflow_{arch}"] = (
            figures[f"step_s_{arch}_torch"] / figures[f"step_s_{arch}_tensorflow"]
        )
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

    for name, arch, loss in [
        ("resnet18", "resnet18", None),
        ("resnet18_cls", "resnet18", Classification()),
        ("unet_gan", "unet", GAN()),
    ]:
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
