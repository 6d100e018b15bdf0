"""The training loop shared by every architecture: random batches from the memory-mapped shards.

Each epoch visits the first `n_train` training images once in a seeded random order, then measures
the validation loss (MSE on ab/128) in inference mode. Both losses go to dvclive, one step per epoch.
"""

import time
from pathlib import Path

import numpy as np
from dvclive import Live

from . import networks
from .dataset import open_prepared
from .models import ARCHITECTURES
from .params import Params


def mean_loss(network, shards, batch_size: int) -> float:
    """MSE of the network's ab/128 predictions over all images of `shards`, pixel-weighted."""
    total, count = 0.0, 0
    for l_input, ab_target in shards.batches(batch_size):
        error = network.predict(l_input) - ab_target
        total += float(np.square(error, dtype=np.float64).sum())
        count += error.size
    return total / count


def train(arch: str, params: Params, lab_dir: Path, model_dir: Path, live_dir: Path) -> dict:
    """Train `arch` as params say; save it to `model_dir` and its logs to `live_dir`. Returns final losses."""
    data = open_prepared(lab_dir, params.model(arch).n_train)
    meta = data.meta
    network = networks.create(arch, params.lr, meta["l_mean"], meta["l_std"], params.seed)
    rng = np.random.default_rng(params.seed)
    batch_size, epochs = params.train.batch_size, params.train.epochs
    n_train = len(data.train)
    print(f"{arch}: {network.parameter_count():,} parameters, {n_train} training and {len(data.val)} validation images")
    with Live(str(live_dir), dvcyaml=None, save_dvc_exp=False) as live:
        live.log_params({"arch": arch, "framework": ARCHITECTURES[arch], "lr": params.lr, "n_train": n_train,
                         "epochs": epochs, "batch_size": batch_size, "seed": params.seed})
        for epoch in range(epochs):
            started = time.perf_counter()
            order = rng.permutation(n_train)
            total = 0.0
            for start in range(0, n_train, batch_size):
                indices = order[start : start + batch_size]
                total += network.train_step(*data.train.batch(indices)) * len(indices)
            train_loss = total / n_train
            val_loss = mean_loss(network, data.val, batch_size)
            seconds = time.perf_counter() - started
            live.log_metric("train/loss", train_loss)
            live.log_metric("val/loss", val_loss)
            live.next_step()
            print(f"{arch} epoch {epoch + 1}/{epochs}: train loss {train_loss:.5f}, val loss {val_loss:.5f} "
                  f"({seconds:.1f} s, {n_train / seconds:.0f} images/s)", flush=True)
    config = {"arch": arch, "framework": ARCHITECTURES[arch], "image_size": meta["image_size"],
              "input": "L/100", "output": "ab/128", "epochs": epochs, "lr": params.lr, "n_train": n_train}
    networks.save(network, model_dir, config)
    return {"train_loss": train_loss, "val_loss": val_loss}
