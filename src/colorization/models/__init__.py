"""What a network is: the registry of architectures, one engine per framework, and saved model folders.

Each architecture module defines `build(l_mean, l_std)` returning an untrained network that maps the
model input L/100 of shape (B, H, W, 1) (NCHW (B, 1, H, W) for PyTorch) to ab/128 of the same height
and width, for any height and width that are multiples of its SIZE_MULTIPLE (the networks are fully
convolutional: `colorize` feeds photos at their own aspect ratio). `l_mean` and `l_std` are the training set's statistics of that input, for networks that
standardize it. Adding an architecture is one module here plus one line in ARCHITECTURES; its framework
names the engine (`<framework>_engine.py`, see `engine.Engine`) that trains, saves and loads it.

An entry under `models:` in params.yaml is resolved once, by `resolve`, into a ModelSpec that the
training, the checkpoints and the saved config all take from there.
"""

import importlib
import os
import sys
from dataclasses import dataclass

from ..core.errors import UserError
from ..core.params import Params
from ..losses import LOSSES, loss_class
from .engine import Engine, Network

ENGINES = ("keras", "torch")  # frameworks, each with its models/<framework>_engine.py
ARCHITECTURES: dict[str, str] = {  # architecture -> framework
    "cnn_v1": "keras",
    "cnn_v2": "keras",
    "resnet18": "torch",
    "unet": "torch",
}


@dataclass(frozen=True)
class ModelSpec:
    """One entry of params.yaml's `models:`, resolved: everything a training needs to know about the model."""

    name: str               # the entry's key: the stage is train@<name>, the output models/<name>
    arch: str               # a key of ARCHITECTURES
    framework: str          # "keras" or "torch"
    n_train: int | None     # training images (a prefix of the shuffled order); None: all
    loss: str               # a key of colorization.losses.LOSSES
    lr: float               # the Adam learning rate: the entry's own, or the top-level one

    @property
    def engine(self) -> Engine:
        return engine(self.framework)


def framework_of(arch: str, where: str) -> str:
    """The framework of `arch`, or a UserError naming `where` the name came from and what is allowed."""
    if arch not in ARCHITECTURES:
        raise UserError(f"{where}: unknown architecture {arch!r}; allowed: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch]


def resolve(params: Params, name: str) -> ModelSpec:
    """The ModelSpec of params.yaml's `models.<name>`, or a UserError naming the key."""
    if name not in params.models:
        raise UserError(f"params.yaml: models.{name} is missing; listed: {', '.join(params.models)}")
    entry = params.models[name]
    arch = entry.arch or name
    if entry.loss not in LOSSES:
        raise UserError(f"params.yaml: models.{name}.loss = {entry.loss!r}: unknown loss; allowed: {', '.join(LOSSES)}")
    framework = framework_of(arch, f"params.yaml: models.{name}.arch")
    frameworks = getattr(loss_class(entry.loss), "frameworks", tuple(ENGINES))
    if framework not in frameworks:
        allowed = ", ".join(name for name, other in ARCHITECTURES.items() if other in frameworks)
        raise UserError(f"params.yaml: models.{name}: loss {entry.loss} trains {' or '.join(frameworks)} "
                        f"architectures only, and {arch} is {framework}; allowed arch: {allowed}")
    return ModelSpec(name, arch, framework, entry.n_train, entry.loss, params.model_lr(name))


def use_keras_backend(backend: str) -> None:
    """Make Keras compute on `backend` ("tensorflow" or "torch"): it reads KERAS_BACKEND when first imported,
    so this must come before, or find it already on that backend."""
    loaded = sys.modules.get("keras")
    if loaded is not None and loaded.backend.backend() != backend:
        raise UserError(f"Keras is already running on {loaded.backend.backend()} in this process; "
                        f"train.keras_backend = {backend} needs a new one")
    os.environ["KERAS_BACKEND"] = backend


def engine(framework: str) -> Engine:
    """The engine module of a framework (models/<framework>_engine.py)."""
    return importlib.import_module(f"{__name__}.{framework}_engine")


def create(arch: str, lr: float, l_mean: float, l_std: float, seed: int, mixed_precision: bool = False,
           loss=None) -> Network:
    """A seeded, freshly initialised network of `arch` with its optimizer and `loss` (default MSE), made by
    its framework's engine."""
    return engine(framework_of(arch, "architecture")).create(arch, lr, l_mean, l_std, seed, mixed_precision, loss)


def size_multiple(arch: str) -> int:
    """What the height and width of an input of `arch` must be multiples of (its module's SIZE_MULTIPLE)."""
    return importlib.import_module(f"{__name__}.{arch}").SIZE_MULTIPLE


def build(arch: str, l_mean: float, l_std: float, outputs: int = 2):
    """A fresh network of architecture `arch` (a Keras model or a PyTorch module) with `outputs` channels:
    2 is the study's ab regression head; any other number is a head of that many logits per pixel."""
    return importlib.import_module(f"{__name__}.{arch}").build(l_mean=l_mean, l_std=l_std, outputs=outputs)
