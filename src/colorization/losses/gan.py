"""A conditional GAN, as in pix2pix (Isola, Zhu, Zhou and Efros, "Image-to-Image Translation with
Conditional Adversarial Networks", CVPR 2017): the colorizer is the generator; a PatchGAN discriminator
(`architectures/patchgan.py`) sees the lightness with either the true or the generated ab, (L, ab), and
says for each overlapping patch whether it is real. The generator minimises the adversarial loss plus
`l1_weight` x L1 to the truth; both networks use Adam with BETAS, at the model's learning rate (pix2pix:
2e-4).

This module is the loss alone: its L1, the two networks' objectives, and when the adversary trains. The
PyTorch engine trains the discriminator beside the colorizer (`engines/adversarial.py`) and keeps both
networks and both optimizers in its checkpoints. With `warmup_epochs`, the generator first trains on L1
alone and the adversary joins afterwards (the "NoGAN" idea of DeOldify: a pretrained generator gives the
discriminator something sensible to learn from).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from ..core.encoding import AB_SCALE
from ..core.params import integer, number, setting
from . import LossInfo, register

L1_WEIGHT = 100.0
BETAS = (0.5, 0.999)


def _adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """pix2pix's "vanilla" GAN loss: binary cross-entropy of every patch's logit against real or fake."""
    labels = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return functional.binary_cross_entropy_with_logits(logits, labels)


@register("gan", LossInfo(frameworks=("torch",), adversary="patchgan", betas=BETAS))
class GAN:
    """ab/128 regressed by the generator, scored per pixel by L1 (its validation loss); the adversary
    adds the rest of the objective while training."""

    channels = 2

    @dataclass(frozen=True)
    class Args:
        l1_weight: float = setting(number(0.0, 1e6), L1_WEIGHT)  # the generator's loss: adversarial + l1_weight x L1
        warmup_epochs: int = setting(integer(minimum=0), 0)  # epochs of L1 alone before the adversary joins

    def __init__(self, l1_weight: float = L1_WEIGHT, warmup_epochs: int = 0):
        self.l1_weight = l1_weight
        self.warmup_epochs = warmup_epochs

    @classmethod
    def for_training(cls, args: "GAN.Args", prior_path: Path) -> "GAN":
        return cls(args.l1_weight, args.warmup_epochs)

    @classmethod
    def from_decoding(cls, decoding: dict) -> "GAN":
        return cls()

    def decoding(self) -> dict:
        return {}

    def adversarial_from(self, epoch: int) -> bool:
        """Whether the adversary trains in `epoch` (0-based): after the L1-only warm-up."""
        return epoch >= self.warmup_epochs

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """Real patches towards real, generated ones towards fake; halved as in pix2pix, so the
        discriminator learns at half the generator's pace."""
        return 0.5 * (_adversarial(real_logits, True) + _adversarial(fake_logits, False))

    def generator_objective(
        self, fake_logits: torch.Tensor, reconstruction: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The generator's loss, adversarial + l1_weight x `reconstruction`, and its adversarial part:
        how far the discriminator is from taking the generated colours for real."""
        adversarial = _adversarial(fake_logits, True)
        return adversarial + self.l1_weight * reconstruction, adversarial

    def targets(self, ab: np.ndarray) -> np.ndarray:
        return ab

    def torch_targets(self, ab: torch.Tensor) -> torch.Tensor:
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

    def torch_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean absolute error of ab/128: the part of the objective that compares with the truth."""
        return functional.l1_loss(output, target)

    def keras_loss(self):
        raise NotImplementedError("the GAN trains PyTorch architectures only")
