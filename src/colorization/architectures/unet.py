"""U-Net colorizer (PyTorch): the pix2pix generator's shape (Isola et al. 2017), trained from scratch.

Encoder: DEPTH 4x4 stride-2 convolutions (the outermost and the innermost without BatchNorm, as in
pix2pix: the innermost sees 1x1 at 64x64), each halving the resolution,
LeakyReLU(0.2); decoder: as many 4x4 stride-2 transposed convolutions with BatchNorm and ReLU, each
concatenating the encoder's features of the same scale (a skip connection at every scale), dropout 0.5
in the three innermost while training. pix2pix goes down to 1x1 at 256x256 with 64 to 512 channels; here
the channels are halved (32 to 256) to fit CPU training, and the input is edge-padded to a multiple of
2^DEPTH and the output cropped back, so any size works. The head is tanh for ab and linear for logits.
"""

import torch
from torch import nn
from torch.nn import functional

from ..core import hints as hint_inputs
from . import register

DEPTH = 6
WIDTHS = (32, 64, 128, 256, 256, 256)  # encoder channels, outermost first


def _down(in_channels: int, out_channels: int, normalize: bool) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=not normalize)]
    if normalize:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


def _up(in_channels: int, out_channels: int, dropout: bool) -> nn.Sequential:
    layers = [
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if dropout:
        layers.append(nn.Dropout(0.5))
    return nn.Sequential(*layers, nn.ReLU())


class UNet(nn.Module):
    """Maps L/100 (B, 1, H, W) -- with `hints`, L/100 and the hints (B, 4, H, W) -- to `outputs` channels
    (B, outputs, H, W): ab/128 for 2, logits otherwise."""

    def __init__(self, outputs: int = 2, hints: bool = False):
        super().__init__()
        inputs = 1 + (hint_inputs.CHANNELS if hints else 0)
        self.down = nn.ModuleList(
            _down(in_channels, out_channels, normalize=0 < index < DEPTH - 1)
            for index, (in_channels, out_channels) in enumerate(zip((inputs, *WIDTHS[:-1]), WIDTHS))
        )
        # Decoder level i (innermost first) takes the level below's output, plus the skip of its scale.
        inner = list(reversed(WIDTHS))
        self.up = nn.ModuleList(
            _up(inner[0] if index == 0 else 2 * inner[index], inner[index + 1], dropout=index < 3)
            for index in range(DEPTH - 1)
        )
        self.head = nn.ConvTranspose2d(2 * WIDTHS[0], outputs, 4, stride=2, padding=1)
        self.activation = nn.Tanh() if outputs == 2 else nn.Identity()

    def forward(self, l_input: torch.Tensor) -> torch.Tensor:
        height, width = l_input.shape[-2:]
        multiple = 2**DEPTH
        pad_h, pad_w = -height % multiple, -width % multiple
        x = functional.pad(l_input, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else l_input
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            x = torch.cat([block(x), skips.pop()], dim=1)
        return self.activation(self.head(x))[..., :height, :width]


# any size: forward pads to a multiple of 2^DEPTH and crops back
@register("unet", framework="torch", size_multiple=1, hints=True)
def build(l_mean: float, l_std: float, outputs: int = 2, hints: bool = False) -> UNet:
    """The U-Net; it sees L/100 as the other networks do and does not standardize it; `hints`: the hint
    input."""
    del l_mean, l_std
    return UNet(outputs, hints)
