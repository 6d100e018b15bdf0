"""The training loop shared by every model: random batches from the memory-mapped shards.

Each epoch visits the first `n_train` training images once in a seeded random order, then measures
the validation loss (MSE on ab/128) in inference mode. Both losses go to dvclive, one step per epoch.
After every epoch a checkpoint is written; a restarted training with the same params, data and code
continues from the newest one and ends with exactly the result of an uninterrupted run.
"""

import time
from pathlib import Path

import numpy as np
from dvclive import Live

from ..core.params import Params
from ..lab.meta import open_prepared
from ..losses import loss_class
from ..models import ModelSpec, create, saved
from ..models.engine import Network
from ..models.saved import ModelConfig
from . import checkpoints


def mean_loss(network: Network, shards, batch_size: int) -> float:
    """MSE of the network's ab/128 predictions over all images of `shards`, pixel-weighted."""
    total, count = 0.0, 0
    for l_input, ab_target in shards.batches(batch_size):
        error = network.predict(l_input) - ab_target
        total += float(np.square(error, dtype=np.float64).sum())
        count += error.size
    return total / count


def prefetch_threads(network: Network) -> int:
    """Prefetch threads keep a GPU fed; on a CPU the step already uses every core and they only slow it."""
    return 2 if network.on_accelerator else 0


def _resume(name: str, network: Network, rng: np.random.Generator, checkpoint_dir: Path, fingerprint: dict) -> list[dict]:
    """Restore the newest matching checkpoint into `network` and `rng`; return the epochs' losses so far."""
    checkpoint = checkpoints.latest(checkpoint_dir)
    if checkpoint is None:
        return []
    changed = checkpoints.differences(checkpoint.fingerprint, fingerprint)
    if changed:
        print(f"{name}: the checkpoint in {checkpoint_dir} was made {changed}; starting fresh")
        checkpoints.clear(checkpoint_dir)
        return []
    network.load_checkpoint(checkpoint.directory)
    rng.bit_generator.state = checkpoint.rng_state
    print(f"{name}: resuming after epoch {checkpoint.epochs_done} from {checkpoint.directory}")
    return checkpoint.history


def _log(live: Live, losses: dict) -> None:
    live.log_metric("train/loss", losses["train_loss"])
    live.log_metric("val/loss", losses["val_loss"])
    live.next_step()


def train(spec: ModelSpec, params: Params, lab_dir: Path, prior_path: Path, model_dir: Path, live_dir: Path,
          checkpoint_dir: Path) -> dict:
    """Train `spec` as params say; save it to `model_dir` and its logs to `live_dir`. Returns final losses.
    `prior_path` is the training images' ab prior (data/prior.json), for the losses that weigh by it."""
    data = open_prepared(lab_dir, spec.n_train)
    meta = data.meta
    loss = loss_class(spec.loss).from_params(params, prior_path)
    network = create(spec.arch, params.lr, meta.l_mean, meta.l_std, params.seed, params.train.mixed_precision, loss)
    rng = np.random.default_rng(params.seed)
    fingerprint = checkpoints.fingerprint(spec, params, lab_dir)
    history = _resume(spec.name, network, rng, checkpoint_dir, fingerprint)
    batch_size, epochs = params.train.batch_size, params.train.epochs
    prefetch = prefetch_threads(network)
    n_train = len(data.train)
    print(f"{spec.name}: {spec.arch} ({spec.framework}), {network.parameter_count():,} parameters, "
          f"{n_train} training and {len(data.val)} validation images")
    with Live(str(live_dir), dvcyaml=None, save_dvc_exp=False) as live:
        live.log_params({"name": spec.name, "arch": spec.arch, "framework": spec.framework, "loss": spec.loss,
                         "lr": params.lr,
                         "n_train": n_train, "epochs": epochs, "batch_size": batch_size, "seed": params.seed})
        for losses in history:
            _log(live, losses)
        for epoch in range(len(history), epochs):
            started = time.perf_counter()
            total = 0.0
            for l_input, ab_target in data.train.batches(batch_size, rng.permutation(n_train), prefetch):
                total += network.train_step(l_input, ab_target) * len(l_input)
            losses = {"train_loss": total / n_train, "val_loss": mean_loss(network, data.val, batch_size)}
            history.append(losses)
            checkpoints.save(checkpoint_dir, network, history, rng.bit_generator.state, fingerprint)
            _log(live, losses)
            seconds = time.perf_counter() - started
            print(f"{spec.name} epoch {epoch + 1}/{epochs}: train loss {losses['train_loss']:.5f}, "
                  f"val loss {losses['val_loss']:.5f} ({seconds:.1f} s, {n_train / seconds:.0f} images/s)", flush=True)
    config = ModelConfig(arch=spec.arch, image_size=meta.image_size, name=spec.name, framework=spec.framework,
                         epochs=epochs, lr=params.lr, n_train=n_train, loss=spec.loss,
                         loss_settings=loss.settings())
    saved.save(network, model_dir, config)
    return history[-1]
