"""The training loop shared by every model: random batches from the memory-mapped shards.

Each epoch visits the first `n_train` training images once in a seeded random order at the learning
rate of the schedule (with `train.hflip`, a random half of them mirrored left-right), then measures on
the validation images, in inference mode, the model's own loss and the MSE of its ab/128 (comparable
across models). Both go to dvclive, one step per epoch. The
weights of the best epoch by `train.keep` (the own validation loss unless params say otherwise) are
kept beside the checkpoints and become the saved model. After every epoch a checkpoint is written; a
restarted training with the same params, data and code continues from the newest one and ends with
exactly the result of an uninterrupted run.

Under torchrun (see `distributed`) every worker runs this loop on its share of each batch; rank 0
alone validates and writes, and hands a resumed checkpoint to the others.
"""

import contextlib
import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from dvclive import Live

from ..core.encoding import model_batch
from ..core.errors import UserError
from ..core.params import Params
from ..lab.meta import open_prepared
from ..losses import loss_class
from ..models import ModelSpec, create, saved
from ..models.engine import Network
from ..models.saved import ModelConfig
from . import checkpoints, distributed

CRITERIA = {"val_loss": "the model's own validation loss", "val_mse": "the validation MSE of ab/128",
            "last": "the last epoch"}


def learning_rate(base: float, schedule: str, epoch: int, epochs: int) -> float:
    """The learning rate of 0-based `epoch`. constant: `base` throughout; cosine: from `base` at the first
    epoch down along half a cosine towards 0 (SGDR without restarts); step: `base`, then a tenth from
    half-way and a hundredth from three quarters of the epochs."""
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))
    if schedule == "step":
        return base * 0.1 ** ((epoch >= math.ceil(epochs / 2)) + (epoch >= math.ceil(3 * epochs / 4)))
    return base


def validation_losses(network: Network, shards, batch_size: int) -> dict[str, float]:
    """The network's own loss (image-weighted mean of the batches') and the pixel-weighted MSE of its
    ab/128 predictions over all images of `shards`."""
    own, squared, images, values = 0.0, 0.0, 0, 0
    for encoded in shards.batches(batch_size, encoded=True):
        loss, prediction = network.validate(encoded)
        ab_target = model_batch(encoded)[1]
        own += loss * len(encoded)
        images += len(encoded)
        squared += float(np.square(prediction - ab_target, dtype=np.float64).sum())
        values += prediction.size
    return {"val_loss": own / images, "val_mse": squared / values}


def best_epoch(history: list[dict], keep: str) -> int:
    """The 0-based epoch whose weights `keep` keeps: the lowest value of that key (the first on ties),
    or the last."""
    if keep == "last":
        return len(history) - 1
    return min(range(len(history)), key=lambda epoch: history[epoch][keep])


def prefetch_threads(network: Network) -> int:
    """Prefetch threads keep a GPU fed; on a CPU the step already uses every core and they only slow it."""
    return 2 if network.on_accelerator else 0


def _resume(name: str, network: Network, rng: np.random.Generator, checkpoint_dir: Path, fingerprint: dict,
            keep: str) -> list[dict]:
    """Restore the newest matching checkpoint into `network` and `rng`; return the epochs' losses so far."""
    checkpoint = checkpoints.latest(checkpoint_dir)
    if checkpoint is None:
        return []
    changed = checkpoints.differences(checkpoint.fingerprint, fingerprint)
    if not changed and keep != "last" and not checkpoints.best_directory(checkpoint_dir).is_dir():
        changed = "without the best epoch's weights"
    if changed:
        print(f"{name}: the checkpoint in {checkpoint_dir} was made {changed}; starting fresh")
        checkpoints.clear(checkpoint_dir)
        return []
    network.load_checkpoint(checkpoint.directory)
    rng.bit_generator.state = checkpoint.rng_state
    print(f"{name}: resuming after epoch {checkpoint.epochs_done} from {checkpoint.directory}")
    return checkpoint.history


def _resume_everywhere(name: str, network: Network, rng: np.random.Generator, checkpoint_dir: Path,
                       fingerprint: dict, keep: str, group: distributed.Group) -> list[dict]:
    """`_resume` on rank 0, whose result (the epochs so far, the batch order's generator, the network's
    checkpoint) every other worker then takes from it: other nodes need not see its files."""
    history = _resume(name, network, rng, checkpoint_dir, fingerprint, keep) if group.is_main else []
    if group.world_size == 1:
        return history
    state = distributed.broadcast(
        (history, rng.bit_generator.state, network.checkpoint_state() if history else None), group)
    if not group.is_main:
        history, rng.bit_generator.state, checkpoint = state
        if checkpoint is not None:
            network.load_checkpoint_state(checkpoint)
    return history


def _log(live: Live | None, losses: dict) -> None:
    """Log one epoch's losses, in sorted order: a resumed run re-logs them from state.json, which sorts
    its keys, and dvclive's metrics.json keeps the order they were first logged in. Workers other than
    rank 0 have no `live`."""
    if live is None:
        return
    for key, value in sorted(losses.items()):
        live.log_metric(key.replace("_", "/", 1), value)
    live.next_step()


def train(spec: ModelSpec, params: Params, lab_dir: Path, prior_path: Path, model_dir: Path, live_dir: Path,
          checkpoint_dir: Path) -> dict:
    """Train `spec` as params say; save it to `model_dir` and its logs to `live_dir`. Returns the kept
    epoch's losses, with its 1-based number as "epoch" (on rank 0; other workers return {}).
    `prior_path` is the training images' ab prior (data/prior.json), for the losses that weigh by it."""
    group = distributed.join() if spec.framework == "torch" else distributed.SINGLE
    if spec.framework != "torch" and distributed.under_torchrun():
        raise UserError(f"train@{spec.name}: {spec.arch} is a Keras model, trained in one process; "
                        "run it without torchrun")
    data = open_prepared(lab_dir, spec.n_train)
    meta = data.meta
    loss = loss_class(spec.loss).from_params(params, prior_path)
    network = create(spec.arch, spec.lr, meta.l_mean, meta.l_std, params.seed, params.train.mixed_precision, loss)
    rng = np.random.default_rng(params.seed)
    fingerprint = checkpoints.fingerprint(spec, params, lab_dir, group.world_size)
    keep = params.train.keep
    history = _resume_everywhere(spec.name, network, rng, checkpoint_dir, fingerprint, keep, group)
    if group.world_size > 1:
        network.distribute()
    batch_size, epochs = params.train.batch_size, params.train.epochs
    prefetch = prefetch_threads(network)
    n_train = len(data.train)
    config = ModelConfig(arch=spec.arch, image_size=meta.image_size, name=spec.name, framework=spec.framework,
                         epochs=epochs, lr=spec.lr, n_train=n_train, loss=spec.loss, loss_settings=loss.settings())
    workers = f"{group.world_size} workers, rank 0" if group.world_size > 1 else "one process"
    if group.is_main:
        print(f"{spec.name}: {spec.arch} ({spec.framework}) with loss {spec.loss}, {network.parameter_count():,} "
              f"parameters, {n_train} training and {len(data.val)} validation images; keeping {CRITERIA[keep]}'s "
              f"weights; on {network.device} ({workers})", flush=True)
    with (Live(str(live_dir), dvcyaml=None, save_dvc_exp=False) if group.is_main
          else contextlib.nullcontext()) as live:
        if live is not None:
            live.log_params({"name": spec.name, "arch": spec.arch, "framework": spec.framework, "loss": spec.loss,
                             "lr": spec.lr, "lr_schedule": params.train.lr_schedule, "keep": keep,
                             "n_train": n_train, "epochs": epochs, "batch_size": batch_size, "seed": params.seed})
        for losses in history:
            _log(live, losses)
        for epoch in range(len(history), epochs):
            started = time.perf_counter()
            lr = learning_rate(spec.lr, params.train.lr_schedule, epoch, epochs)
            network.start_epoch(epoch, lr)
            distributed.seed_epoch(params.seed, epoch, group)
            totals: dict[str, float] = {"images": 0.0}
            share = (group.rank, group.world_size)
            order = rng.permutation(n_train)
            mirror = rng.random(n_train) < 0.5 if params.train.hflip else None  # drawn only then: runs without keep their order
            for encoded in data.train.batches(batch_size, order, prefetch, share, encoded=True, mirror=mirror):
                for key, value in network.train_step(encoded).items():
                    totals[key] = totals.get(key, 0.0) + value * len(encoded)
                totals["images"] += len(encoded)
            totals = distributed.sum_over_workers(totals, group)
            if group.is_main:
                images = totals.pop("images")
                losses = {f"train_{key}": total / images for key, total in totals.items()}
                losses |= validation_losses(network, data.val, batch_size) | {"lr": lr}
                history.append(losses)
                if keep != "last" and best_epoch(history, keep) == epoch:
                    # Before the checkpoint: a run killed between the two redoes this epoch identically.
                    checkpoints.save_best(checkpoint_dir, network, config)
                checkpoints.save(checkpoint_dir, network, history, rng.bit_generator.state, fingerprint)
                _log(live, losses)
                seconds = time.perf_counter() - started
                print(f"{spec.name} epoch {epoch + 1}/{epochs}: " + ", ".join(
                    f"{key.replace('_', ' ')} {value:.5g}" for key, value in losses.items())
                    + f" ({seconds:.1f} s, {n_train / seconds:.0f} images/s)", flush=True)
        if live is not None:
            kept = best_epoch(history, keep)
            live.summary["best_epoch"] = kept + 1
    distributed.leave(group)
    if not group.is_main:
        return {}
    config = replace(config, epoch=kept + 1)
    if keep == "last":
        saved.save(network, model_dir, config)
    else:
        saved.copy_weights(checkpoints.best_directory(checkpoint_dir), model_dir, config)
    print(f"{spec.name}: kept epoch {kept + 1} of {epochs} ({CRITERIA[keep]})")
    return history[kept] | {"epoch": kept + 1}
