"""ResNet18 colorizer (PyTorch): the study's ColorizationNet.

Encoder: the first six children of torchvision's ResNet18 (conv1, bn1, relu, maxpool, layer1, layer2:
1/8 resolution, 128 channels), randomly initialised with conv1's weights summed over RGB so it takes
one channel. Decoder: Conv128-BN-ReLU, Up2, Conv64-BN-ReLU, Conv64-BN-ReLU, Up2, Conv32-BN-ReLU,
Conv2, Up2, with no output activation (as in the study). With `scene`, scene context after Iizuka,
Simo-Serra and Ishikawa (2016): a global branch (two stride-2 Conv128-BN-ReLU, global average pooling,
FC128-ReLU) whose vector is fused into every position of the encoder's output (concatenated, then
Conv1x1 128-BN-ReLU), so each pixel's colour can depend on the whole scene; with scene classes, an FC
scene classifier on that vector, trained beside the colour. Up2 is nearest-neighbour upsampling written out:
the same values as torch's upsample_nearest2d, whose CPU kernels (forward, and autograd's reduction for
the backward pass) are several times slower (BENCHMARKS.md), most of all for a head of class logits.
"""

import torch
import torchvision
from torch import nn

from ..core import hints as hint_inputs
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


class GlobalContext(nn.Module):
    """The scene's vector from the encoder's features, fused into each of their positions; its scene
    logits (None without classes) from the same vector."""

    def __init__(self, channels: int, scene_classes: int):
        super().__init__()
        self.branch = nn.Sequential(
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, channels),
            nn.ReLU(),
        )
        self.fuse = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU())
        self.classifier = nn.Linear(channels, scene_classes) if scene_classes else None

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        scene = self.branch(features)
        spread = scene[:, :, None, None].expand(-1, -1, *features.shape[2:])
        fused = self.fuse(torch.cat([features, spread], dim=1))
        return fused, None if self.classifier is None else self.classifier(scene)


def pooled_hints(hints: torch.Tensor, size) -> torch.Tensor:
    """The hints (B, 3, H, W) at the decoder's resolution: each cell's mean hinted ab and whether it
    holds a hint, so that a hint reaches the decoder directly as well as through the encoder."""
    pooled = nn.functional.adaptive_avg_pool2d(hints, size)
    mask = pooled[:, 2:]
    return torch.cat([pooled[:, :2] / mask.clamp(min=1e-6), (mask > 0).to(pooled.dtype)], dim=1)


class ColorizationNet(nn.Module):
    """Maps L/100 (B, 1, H, W) -- with `hints`, L/100 and the hints (B, 4, H, W), which enter the
    encoder's first layer and, pooled to its resolution, the decoder's -- to ab/128 (B, 2, H, W);
    H and W must be multiples of 8. With `head_only`
    it stops before the last upsampling: its output is the head's, at half the height and width. With
    `scene`, in training mode and with `scene_classes`, it returns (output, scene logits (B, classes))."""

    def __init__(
        self,
        outputs: int = 2,
        head_only: bool = False,
        scene: bool = False,
        scene_classes: int = 0,
        hints: bool = False,
    ):
        super().__init__()
        self.head_only = head_only
        resnet = torchvision.models.resnet18(weights=None, num_classes=365)
        weight = resnet.conv1.weight.sum(dim=1, keepdim=True)
        if hints:  # initialised as torchvision initialises conv1
            extra = torch.empty(weight.shape[0], hint_inputs.CHANNELS, *weight.shape[2:])
            weight = torch.cat([weight, nn.init.kaiming_normal_(extra, mode="fan_out", nonlinearity="relu")], dim=1)
        resnet.conv1.weight = nn.Parameter(weight)
        resnet.conv1.in_channels = weight.shape[1]
        self.encoder = nn.Sequential(*list(resnet.children())[:6])
        self.hints = hints
        self.decoder = nn.Sequential(
            *_conv_bn_relu(128 + (hint_inputs.CHANNELS if hints else 0), 128),
            Up2(),
            *_conv_bn_relu(128, 64),
            *_conv_bn_relu(64, 64),
            Up2(),
            *_conv_bn_relu(64, 32),
            nn.Conv2d(32, outputs, 3, padding=1),
            Up2(),
        )
        self.context = GlobalContext(128, scene_classes) if scene else None

    def forward(self, l_input: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        decoder = self.decoder[:-1] if self.head_only else self.decoder
        features = self.encoder(l_input)
        scene_logits = None
        if self.context is not None:
            features, scene_logits = self.context(features)
        if self.hints:
            features = torch.cat([features, pooled_hints(l_input[:, 1:], features.shape[-2:])], dim=1)
        output = decoder(features)
        return (output, scene_logits) if self.training and scene_logits is not None else output


# The encoder halves three times, the decoder doubles; its last layer is a nearest upsampling by 2.
@register("resnet18", framework="torch", size_multiple=8, upsample=2, scene=True, hints=True)
def build(
    l_mean: float,
    l_std: float,
    outputs: int = 2,
    head_only: bool = False,
    scene: bool = False,
    scene_classes: int = 0,
    hints: bool = False,
) -> ColorizationNet:
    """The ResNet18 colorizer; like the study's it does not standardize its input. `outputs`: the last
    convolution's channels (2 for ab, Q for class logits); `head_only`: without the last upsampling;
    `scene`, `scene_classes`: the scene context and its classifier; `hints`: the hint input."""
    del l_mean, l_std
    return ColorizationNet(outputs, head_only, scene, scene_classes, hints)
