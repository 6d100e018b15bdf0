"""The one interface both frameworks implement: an engine module per framework, a network object per model.

Training, evaluation, checkpoints and `colorize` see only these two protocols, so they never ask which
framework a model uses. Training batches are shard-encoded uint8 images (B, H, W, 3), which each engine
turns into model units where it computes (a GPU included); other arrays are NHWC numpy float32 in model
units (L/100 in, ab/128 out).
"""

from pathlib import Path
from typing import Protocol

import numpy as np


class Network(Protocol):
    """A network with its optimizer (none when loaded for inference)."""

    @property
    def on_accelerator(self) -> bool: ...

    @property
    def device(self) -> str:
        """Where the network computes, in words for the training's first line: "cpu (2 threads)", "cuda:0 (...)"."""

    def start_epoch(self, epoch: int, lr: float) -> None:
        """Set what changes from epoch to epoch (0-based `epoch`): the learning rate of the schedule and,
        for a loss with an adversary, whether the adversary trains yet."""

    def train_step(self, encoded: np.ndarray) -> dict[str, float]:
        """One optimizer step on a batch of encoded images (their ab the targets, turned into the loss's
        own by the network); returns the batch's losses: "loss" (the loss's own), and an adversary's terms
        while it trains."""

    def predict(self, l_input: np.ndarray) -> np.ndarray:
        """ab/128 (B, H, W, 2) float32 in inference mode, decoded from the network's output by its loss."""

    def validate(self, encoded: np.ndarray) -> tuple[float, np.ndarray]:
        """The loss's own value on a batch of encoded images in inference mode, and the prediction (as
        `predict`)."""

    def parameter_count(self) -> int: ...

    def save(self, directory: Path) -> None:
        """Write the weights for inference into `directory` (the engine's MODEL_FILE), atomically."""

    def save_checkpoint(self, directory: Path) -> None:
        """Write weights, optimizer state and the framework's generator state, atomically."""

    def load_checkpoint(self, directory: Path) -> None:
        """Restore what save_checkpoint wrote, so training continues exactly."""


class Engine(Protocol):
    """A framework's module: models/keras_engine.py or models/torch_engine.py."""

    MODEL_FILE: str

    def versions(self) -> dict[str, str]:
        """The versions of the framework packages whose numerics a trained model depends on."""

    def create(self, arch: str, lr: float, l_mean: float, l_std: float, seed_value: int,
               mixed_precision: bool, loss=None) -> Network:
        """A seeded, freshly initialised network of `arch` with its optimizer, deterministic kernels, and
        bfloat16 compute with float32 weights and loss if `mixed_precision`; its head has the output
        channels `loss` (a `colorization.losses` object, default MSE) needs."""

    def load(self, directory: Path, arch: str, loss=None) -> Network:
        """The network saved in `directory`, for inference, loaded safely (no code from the file is run)."""
