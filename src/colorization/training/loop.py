"""The training loop shared by every model, in named phases: `setup` (workers, shards, the seeded
network and its loss, a resumed checkpoint), `fit` (each epoch: `train_epoch`, then validation, the best
weights and a checkpoint), `save_model`; `train` runs them in order.

Each epoch visits the first `n_train` training images once in a seeded random order at the learning
rate of the schedule (with `train.hflip`, a random half of them mirrored left-right; a hint model sees
hints simulated from each batch's truth by a generator of its own, seeded by the seed, the epoch and
the worker, so the batch order is the same as without), then measures on
the validation images, in inference mode, the model's own loss and the MSE of its ab/128 (comparable
across models, `validation_losses`). Both go to dvclive, one step per epoch. The weights of the best
epoch by `train.keep` (the own validation loss unless params say otherwise) are kept beside the
checkpoints and become the saved model. After every epoch a checkpoint is written; a restarted
training with the same params, data and code continues from the newest one and ends with exactly the
result of an uninterrupted run.

Under torchrun (see `distributed`; an engine that trains data-parallel) every worker runs this loop on
its share of each batch; rank 0 alone validates and writes, and hands a resumed checkpoint to the
others.
"""

import contextlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dvclive import Live

from ..core import hints
from ..core.encoding import model_batch
from ..core.errors import UserError
from ..core.params import KEEP, Params
from ..core.paths import PROJECT, Project
from ..engines import Network, create
from ..lab.meta import PreparedData, open_prepared
from ..models import ModelSpec, saved
from . import checkpoints, distributed


@dataclass
class Training:
    """What `setup` prepares for one model's training and the phases after it share."""

    spec: ModelSpec  # the recipe, with what the training will write (`trained`)
    params: Params
    project: Project
    group: distributed.Group
    data: PreparedData
    network: Network
    rng: np.random.Generator  # the batch order's and the mirroring's
    fingerprint: dict
    history: list[dict]  # each finished epoch's losses

    @property
    def checkpoint_dir(self) -> Path:
        return self.project.checkpoints(self.spec.name)


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


def _resume(training: Training) -> list[dict]:
    """Restore the newest matching checkpoint into the network and the batch order's generator; return
    the epochs' losses so far."""
    name, root = training.spec.name, training.checkpoint_dir
    checkpoint = checkpoints.latest(root)
    if checkpoint is None:
        return []
    changed = checkpoints.differences(checkpoint.fingerprint, training.fingerprint)
    if not changed and training.params.train.keep != "last" and not checkpoints.best_directory(root).is_dir():
        changed = "without the best epoch's weights"
    if changed:
        print(f"{name}: the checkpoint in {root} was made {changed}; starting fresh")
        checkpoints.clear(root)
        return []
    training.network.load_checkpoint(checkpoint.directory)
    training.rng.bit_generator.state = checkpoint.rng_state
    print(f"{name}: resuming after epoch {checkpoint.epochs_done} from {checkpoint.directory}")
    return checkpoint.history


def _resume_everywhere(training: Training) -> list[dict]:
    """`_resume` on rank 0, whose result (the epochs so far, the batch order's generator, the network's
    checkpoint) every other worker then takes from it: other nodes need not see its files."""
    group, network, rng = training.group, training.network, training.rng
    history = _resume(training) if group.is_main else []
    if group.world_size == 1:
        return history
    state = distributed.broadcast(
        (history, rng.bit_generator.state, network.checkpoint_state() if history else None), group
    )
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


def setup(spec: ModelSpec, params: Params, project: Project = PROJECT) -> Training:
    """Join the workers (an engine that trains data-parallel), open the shards, make the seeded network
    and its loss, and resume from a checkpoint of the same training if there is one."""
    if spec.engine.data_parallel:
        group = distributed.join()
    elif distributed.under_torchrun():
        raise UserError(
            f"train@{spec.name}: {spec.arch} is a {spec.framework} model, trained in one process; "
            "run it without torchrun"
        )
    else:
        group = distributed.SINGLE
    data = open_prepared(project.lab, spec.n_train)
    meta = data.meta
    loss = spec.training_loss(project.prior)
    if spec.init is not None:
        _check_start(spec)
    if spec.scene:
        spec = spec.trained(scene_classes=len(meta.categories))
        if not meta.categories and group.is_main:
            print(
                f"{spec.name}: {project.lab} has no scene labels (the places365 source has them), so the scene "
                "classifier and its loss are off: the global branch trains on colour alone",
                flush=True,
            )
    network = create(
        spec.arch,
        spec.lr,
        meta.l_mean,
        meta.l_std,
        params.seed,
        params.train.mixed_precision,
        loss,
        spec.build_options,
        spec.scene_weight,
        spec.init_directory,
        spec.encoder_training(params.train.epochs),
    )
    spec = spec.trained(
        image_size=meta.image_size, epochs=params.train.epochs, train_images=len(data.train), decoding=loss.decoding()
    )
    training = Training(
        spec,
        params,
        project,
        group,
        data,
        network,
        np.random.default_rng(params.seed),
        checkpoints.fingerprint(spec, params, project.lab, group.world_size, network.precision),
        [],
    )
    training.history = _resume_everywhere(training)
    if group.world_size > 1:
        network.distribute()
    if group.is_main:
        workers = f"{group.world_size} workers, rank 0" if group.world_size > 1 else "one process"
        print(
            f"{spec.name}: {spec.arch} ({spec.framework}) with loss {spec.loss}, {network.parameter_count():,} "
            f"parameters, {spec.train_images} training and {len(data.val)} validation images; keeping "
            f"{KEEP[params.train.keep]}'s weights; on {network.device} ({workers})",
            flush=True,
        )
    return training


def _check_start(spec: ModelSpec) -> None:
    """A one-line UserError unless the model `init` names is one this recipe can start from."""
    start = saved.read_config(spec.init_directory)
    for key in ("arch", "loss", "scene"):
        if getattr(start, key) != getattr(spec, key):
            raise UserError(
                f"params.yaml: models.{spec.name}.init = {spec.init}: that model's {key} is "
                f"{getattr(start, key)!r}, this one's {getattr(spec, key)!r}; a training starts from a model of "
                "its own kind"
            )


def train_epoch(training: Training, epoch: int) -> dict[str, float]:
    """One pass over the training images in this epoch's seeded order at the schedule's learning rate;
    the mean of each of the steps' losses over all workers' images, and the learning rate."""
    spec, train, group = training.spec, training.params.train, training.group
    lr = learning_rate(spec.lr, train.lr_schedule, epoch, train.epochs)
    training.network.start_epoch(epoch, lr)
    distributed.seed_epoch(training.params.seed, epoch, group)
    totals: dict[str, float] = {"images": 0.0}
    order = training.rng.permutation(spec.train_images)
    # drawn only with hflip: runs without it keep their order
    mirror = training.rng.random(spec.train_images) < 0.5 if train.hflip else None
    batches = training.data.train.batches(
        train.batch_size,
        order,
        prefetch_threads(training.network),
        (group.rank, group.world_size),
        encoded=True,
        mirror=mirror,
        labels=bool(spec.scene_classes),
    )
    # its own generator: the batch order's draws stay those of a model without hints
    hint_rng = np.random.default_rng([training.params.seed, epoch, group.rank]) if spec.hints else None
    for batch in batches:
        encoded, labels = batch if spec.scene_classes else (batch, None)
        batch_hints = hints.simulate(model_batch(encoded)[1], hint_rng) if spec.hints else None
        for key, value in training.network.train_step(encoded, labels, batch_hints).items():
            totals[key] = totals.get(key, 0.0) + value * len(encoded)
        totals["images"] += len(encoded)
    totals = distributed.sum_over_workers(totals, group)
    images = totals.pop("images")
    return {f"train_{key}": total / images for key, total in totals.items()} | {"lr": lr}


def fit(training: Training, live: Live | None) -> int:
    """Train the epochs left, each followed (on rank 0) by validation, the best epoch's weights and a
    checkpoint; returns the 0-based epoch whose weights `train.keep` keeps."""
    spec, keep, history = training.spec, training.params.train.keep, training.history
    for losses in history:
        _log(live, losses)
    for epoch in range(len(history), spec.epochs):
        started = time.perf_counter()
        losses = train_epoch(training, epoch)
        if not training.group.is_main:
            continue
        lr = losses.pop("lr")
        losses |= validation_losses(training.network, training.data.val, training.params.train.batch_size)
        losses["lr"] = lr
        history.append(losses)
        if keep != "last" and best_epoch(history, keep) == epoch:
            # Before the checkpoint: a run killed between the two redoes this epoch identically.
            checkpoints.save_best(training.checkpoint_dir, training.network, spec)
        checkpoints.save(
            training.checkpoint_dir, training.network, history, training.rng.bit_generator.state, training.fingerprint
        )
        _log(live, losses)
        seconds = time.perf_counter() - started
        print(
            f"{spec.name} epoch {epoch + 1}/{spec.epochs}: "
            + ", ".join(f"{key.replace('_', ' ')} {value:.5g}" for key, value in losses.items())
            + f" ({seconds:.1f} s, {spec.train_images / seconds:.0f} images/s)",
            flush=True,
        )
    return best_epoch(history, keep) if training.group.is_main else -1


def save_model(training: Training, kept: int) -> None:
    """Write the kept epoch's weights and the spec with what the training wrote into models/NAME."""
    spec = training.spec.trained(epoch=kept + 1)
    model_dir = training.project.model(spec.name)
    if training.params.train.keep == "last":
        saved.save(training.network, model_dir, spec)
    else:
        saved.copy_weights(checkpoints.best_directory(training.checkpoint_dir), model_dir, spec)
    print(f"{spec.name}: kept epoch {kept + 1} of {spec.epochs} ({KEEP[training.params.train.keep]})")


def train(spec: ModelSpec, params: Params, project: Project = PROJECT) -> dict:
    """Train `spec` as params say: setup, fit, save. Writes models/NAME, dvclive/NAME and
    checkpoints/NAME under `project`. Returns the kept epoch's losses, with its 1-based number as
    "epoch" (on rank 0; other workers return {})."""
    training = setup(spec, params, project)
    main = training.group.is_main
    with (
        Live(str(project.live(spec.name)), dvcyaml=None, save_dvc_exp=False) if main else contextlib.nullcontext()
    ) as live:
        if live is not None:
            train_params = params.train
            live.log_params(
                {
                    "name": spec.name,
                    "arch": spec.arch,
                    "framework": spec.framework,
                    "loss": spec.loss,
                    "lr": spec.lr,
                    "lr_schedule": train_params.lr_schedule,
                    "keep": train_params.keep,
                    "n_train": spec.train_images,
                    "epochs": spec.epochs,
                    "batch_size": train_params.batch_size,
                    "seed": params.seed,
                }
            )
        kept = fit(training, live)
        if live is not None:
            live.summary["best_epoch"] = kept + 1
    distributed.leave(training.group)
    if not main:
        return {}
    save_model(training, kept)
    return training.history[kept] | {"epoch": kept + 1}
