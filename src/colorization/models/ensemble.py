"""An ensemble (params.yaml's `ensembles:`, the study's "stacking"): trained models whose predictions are
averaged, evaluated like any model. Members trained with one loss are averaged in that loss's own terms
(`distribution`: a classification's class distributions, decoded once by the first member's decoding);
members with different losses, by their ab."""

from pathlib import Path

import numpy as np

from ..core.errors import UserError
from . import predict_distribution, saved

CHUNK = 16  # images a member predicts at once: a class distribution is Q numbers a pixel


class Ensemble:
    """Predicts like a Network (`predict`): the mean over the members loaded from `model_dirs`."""

    def __init__(self, name: str, model_dirs: list[Path]):
        self.name = name
        self.members = []
        for directory in model_dirs:
            if not directory.is_dir():
                raise UserError(
                    f"ensembles.{name}: {directory} not found: train it first (dvc repro train@{directory.name})"
                )
            self.members.append(saved.load(directory))
        self.shared_loss = len({type(network.loss) for network, _ in self.members}) == 1

    def predict(self, l_input: np.ndarray) -> np.ndarray:
        """ab/128 (B, H, W, 2) for L/100 (B, H, W, 1), a chunk of images at a time."""
        return np.concatenate([self._predict(l_input[i : i + CHUNK]) for i in range(0, len(l_input), CHUNK)])

    def _predict(self, l_input: np.ndarray) -> np.ndarray:
        if not self.shared_loss:
            return np.mean([network.predict(l_input) for network, _ in self.members], axis=0)
        total = None
        for network, _ in self.members:
            part = predict_distribution(network, l_input)
            total = part if total is None else total + part
        return self.members[0][0].loss.decode_distribution(total / len(self.members)).astype(np.float32)
