"""The networks, each registered where it is defined (`@register`), with what the rest of the project
needs to know about it in one small dataclass.

An architecture's `build(l_mean, l_std, outputs)` returns an untrained network -- a Keras model or a
PyTorch module, as its `framework` says, which names the engine that trains it (`colorization.engines`)
-- that maps the model input L/100, (B, H, W, 1) (NCHW (B, 1, H, W) for PyTorch), to `outputs` channels
of the same height and width: ab/128 for 2, a loss's logits otherwise, for any height and width that
are multiples of its `size_multiple` (the networks are fully convolutional: `colorize` feeds photos at
their own aspect ratio). `l_mean` and `l_std` are the training set's statistics of that input, for
networks that standardize it. A discriminator reads `inputs` = 3 channels, (L/100, ab/128), and is no
colorizer: only a loss's adversary uses it.

Adding an architecture is a module that registers it (imported by the stage that trains it: the
built-in ones are imported below). A module that builds a Keras model imports Keras inside `build`, so
that `train.keras_backend` can be chosen before Keras first loads.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.errors import UserError


@dataclass(frozen=True)
class Architecture:
    name: str
    framework: str  # the engine that trains it: a key of colorization.engines.ENGINES
    build: Callable[..., Any]  # build(l_mean, l_std, outputs) -> an untrained network
    size_multiple: int = 8  # input height and width must be multiples of this
    inputs: int = 1  # 1: L, a colorizer; 3: (L, ab), a discriminator
    # > 1: its last layer repeats each value of its head over upsample x upsample blocks (a nearest
    # upsampling), and build(..., head_only=True) leaves that layer out, for a loss that can train on
    # the head's output directly (`LossInfo.blocks`)
    upsample: int = 1
    # build(..., scene=True, scene_classes=N) adds a global branch fused into every position and, with
    # N > 0, a scene classifier whose logits the module also returns while training (`ModelSpec.scene`)
    scene: bool = False
    # build(..., hints=True) reads colour hints beside L: CHANNELS more input channels (`core.hints`)
    hints: bool = False
    # the ImageNet-pretrained encoder it starts from (an `efficientnet_lite.Variant`: its package and
    # digest), for a module whose `encoder_modules()` a training may freeze or teach at a lower rate;
    # build(..., imagenet=True) loads those weights
    pretrained: Any = None


ARCHITECTURES: dict[str, Architecture] = {}


def register(
    name: str,
    framework: str,
    size_multiple: int = 8,
    inputs: int = 1,
    upsample: int = 1,
    scene: bool = False,
    hints: bool = False,
    pretrained: Any = None,
):
    """Decorator for an architecture's build function: registers it under `name`."""

    def decorator(build: Callable[..., Any]) -> Callable[..., Any]:
        if name in ARCHITECTURES:
            raise ValueError(f"architecture {name!r} is registered twice")
        ARCHITECTURES[name] = Architecture(
            name, framework, build, size_multiple, inputs, upsample, scene, hints, pretrained
        )
        return build

    return decorator


def colorizers() -> list[str]:
    """The names of the architectures a model can be (the discriminators are not)."""
    return [name for name, architecture in ARCHITECTURES.items() if architecture.inputs == 1]


def get(name: str, where: str = "architecture") -> Architecture:
    """The colorizer registered as `name`, or a UserError naming `where` the name came from and what is
    allowed."""
    if name not in ARCHITECTURES or ARCHITECTURES[name].inputs != 1:
        raise UserError(f"{where}: unknown architecture {name!r}; allowed: {', '.join(colorizers())}")
    return ARCHITECTURES[name]


from . import cnn_v1, cnn_v2, efficientnet_lite, patchgan, resnet18, unet  # noqa: E402, F401  the built-in ones register themselves
