"""A toy architecture and a toy loss from outside the package: they reach the training, the saved model
and its loading through the registries alone, as a user's own would."""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from colorization.architectures import register as register_architecture
from colorization.core.params import number, setting
from colorization.losses import LossInfo
from colorization.losses import register as register_loss


class ToyConv(nn.Module):
    """Two 3x3 convolutions: L/100 in, `outputs` channels out, at any size."""

    def __init__(self, outputs: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, outputs, 3, padding=1))

    def forward(self, l_input: torch.Tensor) -> torch.Tensor:
        return self.layers(l_input)


@register_architecture("toy_conv", framework="torch", size_multiple=1)
def build(l_mean: float, l_std: float, outputs: int = 2) -> ToyConv:
    del l_mean, l_std
    return ToyConv(outputs)


@register_loss("toy_l1", LossInfo(frameworks=("torch",)))
class ToyL1:
    """`scale` x the mean absolute error of ab/128."""

    channels = 2

    @dataclass(frozen=True)
    class Args:
        scale: float = setting(number(0.0, 100.0), 1.0)

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    @classmethod
    def for_training(cls, args: "ToyL1.Args", prior_path: Path) -> "ToyL1":
        return cls(args.scale)

    @classmethod
    def from_decoding(cls, decoding: dict) -> "ToyL1":
        return cls()

    def decoding(self) -> dict:
        return {}

    def targets(self, ab):
        return ab

    def torch_targets(self, ab):
        return ab

    def decode(self, output):
        return output

    def torch_loss(self, output, target):
        return self.scale * torch.nn.functional.l1_loss(output, target)

    def keras_loss(self):
        raise NotImplementedError("toy_l1 trains PyTorch architectures only")
