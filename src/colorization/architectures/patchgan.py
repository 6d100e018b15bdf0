"""pix2pix's PatchGAN discriminator (Isola, Zhu, Zhou and Efros 2017, "basic": three stride-2 layers): the
adversary of the GAN loss (`losses/gan.py`), which names it, and the PyTorch engine trains beside the
colorizer (`engines/adversarial.py`)."""

import torch
from torch import nn
from torch.nn import functional

from . import register

DISCRIMINATOR_WIDTHS = (32, 64, 128, 256)  # pix2pix's 64..512 halved, as for the U-Net
MINIMUM_SIDE = 32  # the smallest input the three stride-2 layers and two 4x4 heads can score


class PatchDiscriminator(nn.Module):
    """4x4 convolutions from (L/100, ab/128), 3 channels, to one logit per 70x70-pixel patch; BatchNorm on
    all but the first layer and the head. Images smaller than MINIMUM_SIDE are edge-padded to it."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for index, width in enumerate(DISCRIMINATOR_WIDTHS):
            stride = 2 if index < len(DISCRIMINATOR_WIDTHS) - 1 else 1
            layers.append(nn.Conv2d(in_channels, width, 4, stride=stride, padding=1, bias=index == 0))
            if index:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2))
            in_channels = width
        layers.append(nn.Conv2d(in_channels, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, l_ab: torch.Tensor) -> torch.Tensor:
        height, width = l_ab.shape[-2:]
        pad_h, pad_w = max(0, MINIMUM_SIDE - height), max(0, MINIMUM_SIDE - width)
        if pad_h or pad_w:
            l_ab = functional.pad(l_ab, (0, pad_w, 0, pad_h), mode="replicate")
        return self.layers(l_ab)


@register("patchgan", framework="torch", size_multiple=1, inputs=3)
def build(l_mean: float, l_std: float, outputs: int = 1) -> PatchDiscriminator:
    """The discriminator: one logit per patch; it sees L/100 unstandardized, like the colorizers."""
    del l_mean, l_std, outputs
    return PatchDiscriminator()
