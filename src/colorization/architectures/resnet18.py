"""ResNet18 colorizer (PyTorch): the study's ColorizationNet.

Encoder: the first six children of torchvision's ResNet18 (conv1, bn1, relu, maxpool, layer1, layer2:
1/8 resolution, 128 channels), randomly initialised with conv1's weights summed over RGB so it takes
one channel. Decoder: Conv128-BN-ReLU, Up2, Conv64-BN-ReLU, Conv64-BN-ReLU, Up2, Conv32-BN-ReLU,
Conv2, Up2, with no output activation (as in the study). Up2 is nearest-neighbour upsampling written out:
the same values as torch's upsample_nearest2d, whose CPU kernels (forward, and autograd's reduction for
the backward pass) are several times slower (BENCHMARKS.md), most of all for a head of class logits.
"""

import torch
import torchvision
from torch import nn

from . import register


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()]


class _Repeat2x2(torch.autograd.Function):
    """Every value repeated into a 2x2 block; the gradient of a block is the sum of its four, added as
    two pairs of strided views (a reduction over the block's axes is the slow kernel)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        return (
            x[:, :, :, None, :, None]
            .expand(batch, channels, height, 2, width, 2)
            .reshape(batch, channels, 2 * height, 2 * width)
        )

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = gradient.shape
        blocks = gradient.reshape(batch, channels, height // 2, 2, width // 2, 2)
        rows = blocks[:, :, :, 0] + blocks[:, :, :, 1]
        return rows[..., 0] + rows[..., 1]


class Up2(nn.Module):
    """Nearest-neighbour upsampling by 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Repeat2x2.apply(x)


class ColorizationNet(nn.Module):
    """Maps L/100 (B, 1, H, W) to ab/128 (B, 2, H, W); H and W must be multiples of 8. With `head_only`
    it stops before the last upsampling: its output is the head's, at half the height and width."""

    def __init__(self, outputs: int = 2, head_only: bool = False):
        super().__init__()
        self.head_only = head_only
        resnet = torchvision.models.resnet18(weights=None, num_classes=365)
        resnet.conv1.weight = nn.Parameter(resnet.conv1.weight.sum(dim=1, keepdim=True))
        self.encoder = nn.Sequential(*list(resnet.children())[:6])
        self.decoder = nn.Sequential(
            *_conv_bn_relu(128, 128),
            Up2(),
            *_conv_bn_relu(128, 64),
            *_conv_bn_relu(64, 64),
            Up2(),
            *_conv_bn_relu(64, 32),
            nn.Conv2d(32, outputs, 3, padding=1),
            Up2(),
        )

    def forward(self, l_input: torch.Tensor) -> torch.Tensor:
        decoder = self.decoder[:-1] if self.head_only else self.decoder
        return decoder(self.encoder(l_input))


# The encoder halves three times, the decoder doubles; its last layer is a nearest upsampling by 2.
@register("resnet18", framework="torch", size_multiple=8, upsample=2)
def build(l_mean: float, l_std: float, outputs: int = 2, head_only: bool = False) -> ColorizationNet:
    """The ResNet18 colorizer; like the study's it does not standardize its input. `outputs`: the last
    convolution's channels (2 for ab, Q for class logits); `head_only`: without the last upsampling."""
    del l_mean, l_std
    return ColorizationNet(outputs, head_only)
