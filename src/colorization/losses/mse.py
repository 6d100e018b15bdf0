"""The study's loss: mean squared error of ab/128, regressed directly (two output channels)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.encoding import AB_SCALE
from . import register


@register("mse")
class MSE:
    channels = 2

    @dataclass(frozen=True)
    class Args:
        """No settings."""

    @classmethod
    def for_training(cls, args: "MSE.Args", prior_path: Path) -> "MSE":
        return cls()

    @classmethod
    def from_decoding(cls, decoding: dict) -> "MSE":
        return cls()

    def decoding(self) -> dict:
        return {}

    def targets(self, ab: np.ndarray) -> np.ndarray:
        return ab

    def torch_targets(self, ab):
        return ab

    def decode(self, output: np.ndarray) -> np.ndarray:
        return output

    def distribution(self, output: np.ndarray) -> np.ndarray:
        """What an ensemble averages: the prediction itself, ab/128."""
        return output

    def decode_distribution(self, mean: np.ndarray) -> np.ndarray:
        return mean

    def suggestions(self, distribution: np.ndarray, count: int) -> np.ndarray:
        """A regression has one colour to suggest for a pixel: its prediction, ab in LAB units (1, 2)."""
        del count
        return np.asarray(distribution, dtype=np.float32)[None] * np.float32(AB_SCALE)

    def torch_loss(self, output, target):
        import torch

        return torch.nn.functional.mse_loss(output, target)

    def keras_loss(self):
        return "mse"
