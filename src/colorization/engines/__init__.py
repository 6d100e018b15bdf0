"""The trainers: an engine module per framework (its `Engine`), a network object per model (its `Network`).

Training, evaluation, checkpoints and `colorize` see only these two protocols and an engine's
`EngineInfo`, so they never ask which framework a model uses. Training batches are shard-encoded uint8
images (B, H, W, 3), which each engine turns into model units where it computes (a GPU included); other
arrays are NHWC numpy float32 in model units (L/100 in, ab/128 out).

An engine is registered by the name of its framework, which architectures name, with the module that
implements it: that module is imported only when a network of its framework is made, because importing
it loads the framework, and Keras must be told its backend (`before_import`) before it first loads.
"""

import importlib
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .. import architectures
from ..core.errors import UserError
from ..core.params import TrainParams


class Network(Protocol):
    """A network with its optimizer (none when loaded for inference)."""

    loss: Any  # the `colorization.losses` object that decodes its output; another decoding may replace it
    hints: bool  # whether it reads colour hints beside L (`core.hints`)

    @property
    def on_accelerator(self) -> bool: ...

    @property
    def precision(self) -> str:
        """What it computes in: "float32", or "bfloat16" (mixed precision, float32 weights)."""

    @property
    def device(self) -> str:
        """Where the network computes, in words for the training's first line: "cpu (2 threads)", "cuda:0 (...)"."""

    def start_epoch(self, epoch: int, lr: float) -> None:
        """Set what changes from epoch to epoch (0-based `epoch`): the learning rate of the schedule and,
        for a loss with an adversary, whether the adversary trains yet."""

    def train_step(
        self, encoded: np.ndarray, labels: np.ndarray | None = None, hints: np.ndarray | None = None
    ) -> dict[str, float]:
        """One optimizer step on a batch of encoded images (their ab the targets, turned into the loss's
        own by the network); returns the batch's losses: "loss" (the loss's own), an adversary's terms
        while it trains, and "scene" (the scene classifier's cross-entropy on the images' scene `labels`,
        -1 for none) for a network with one. A hint network reads `hints` (B, H, W, 3), none: no hints."""

    def predict(self, l_input: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """ab/128 (B, H, W, 2) float32 in inference mode, decoded from the network's output by its loss;
        a hint network reads `hints` (B, H, W, 3) beside L (none: no hints), another takes none."""

    def validate(self, encoded: np.ndarray, hints: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """The loss's own value on a batch of encoded images in inference mode, and the prediction (as
        `predict`)."""

    def parameter_count(self) -> int: ...

    def threads(self, count: int) -> AbstractContextManager:
        """A context in which predictions compute on at most `count` threads, so that work beside them
        (a film's decoding and encoding) keeps a core of its own; a framework whose thread pools are fixed
        at start-up keeps them."""

    def save(self, directory: Path) -> None:
        """Write the weights for inference into `directory` (the engine's MODEL_FILE), atomically."""

    def save_checkpoint(self, directory: Path) -> None:
        """Write weights, optimizer state and the framework's generator state, atomically."""

    def load_checkpoint(self, directory: Path) -> None:
        """Restore what save_checkpoint wrote, so training continues exactly."""


@dataclass(frozen=True)
class EncoderTraining:
    """How a training treats an architecture's pretrained encoder (`Architecture.pretrained`): frozen
    (weights and batch-norm statistics) for its first `frozen_epochs` epochs, then taught at `lr_scale`
    times the model's learning rate."""

    frozen_epochs: int = 0
    lr_scale: float = 1.0


class Engine(Protocol):
    """A framework's module: models/keras_engine.py or models/torch_engine.py."""

    MODEL_FILE: str

    def versions(self) -> dict[str, str]:
        """The versions of the framework packages whose numerics a trained model depends on."""

    def create(
        self,
        architecture: architectures.Architecture,
        lr: float,
        l_mean: float,
        l_std: float,
        seed_value: int,
        mixed_precision: bool,
        loss=None,
        options: dict | None = None,
        scene_weight: float = 0.0,
        init: Path | None = None,
        encoder: EncoderTraining | None = None,
    ) -> Network:
        """A seeded, freshly initialised network of `architecture` (its build given `options`) with its
        optimizer, deterministic kernels, and bfloat16 compute with float32 weights and loss if
        `mixed_precision`; its head has the output channels `loss` (a `colorization.losses` object,
        default MSE) needs; a scene classifier's loss counts `scene_weight` times beside the loss. With
        `init`, a saved model folder of the same architecture and loss, it starts from that model's
        weights (input channels that model lacked, such as a hint input, start at zero). An architecture
        with a pretrained encoder starts from its ImageNet weights (unless `init`), trained as `encoder`
        says."""

    def store_half(self, source: Path, target: Path) -> None:
        """Write the weights file `source` to `target` with its floating-point weights in half precision
        (which `load` reads back as float32), or a UserError where the engine does not offer it."""

    def load(
        self, directory: Path, architecture: architectures.Architecture, loss=None, options: dict | None = None
    ) -> Network:
        """The network saved in `directory`, for inference, loaded safely (no code from the file is run)."""


@dataclass(frozen=True)
class EngineInfo:
    """What the training needs to know about an engine before its module is imported."""

    module: str  # the module that implements `Engine`
    data_parallel: bool = False  # trains as one of several processes under torchrun (`training.distributed`)
    before_import: Callable[[TrainParams], None] | None = None  # told the training's params first


ENGINES: dict[str, EngineInfo] = {}


def register(framework: str, info: EngineInfo) -> None:
    """Register the engine of `framework` (the name architectures give as theirs)."""
    if framework in ENGINES:
        raise ValueError(f"engine {framework!r} is registered twice")
    ENGINES[framework] = info


def engine(framework: str) -> Engine:
    """The engine module of `framework`, imported on first use."""
    return importlib.import_module(ENGINES[framework].module)


def prepare(framework: str, train: TrainParams) -> None:
    """Tell the engine of `framework` the training's params before it loads (a no-op for most)."""
    hook = ENGINES[framework].before_import
    if hook is not None:
        hook(train)


def create(
    arch: str,
    lr: float,
    l_mean: float,
    l_std: float,
    seed: int,
    mixed_precision: bool = False,
    loss=None,
    options: dict | None = None,
    scene_weight: float = 0.0,
    init: Path | None = None,
    encoder: EncoderTraining | None = None,
) -> Network:
    """A seeded network of the architecture registered as `arch` with its optimizer and `loss` (default
    MSE), made by its framework's engine: freshly initialised, or from the saved model folder `init`;
    `options` go to the architecture's build (`ModelSpec.build_options`), `scene_weight` weighs a scene
    classifier's loss, `encoder` says how a pretrained encoder trains."""
    architecture = architectures.get(arch)
    return engine(architecture.framework).create(
        architecture, lr, l_mean, l_std, seed, mixed_precision, loss, options or {}, scene_weight, init, encoder
    )


def load(directory: Path, arch: str, loss=None, options: dict | None = None) -> Network:
    """The network of architecture `arch` (built with `options`) saved in `directory`, for inference with `loss`."""
    architecture = architectures.get(arch)
    return engine(architecture.framework).load(Path(directory), architecture, loss, options or {})


def _use_keras_backend(train: TrainParams) -> None:
    """Make Keras compute on `train.keras_backend`: it reads KERAS_BACKEND when first imported, so this
    must come before, or find it already on that backend."""
    backend = train.keras_backend
    loaded = sys.modules.get("keras")
    if loaded is not None and loaded.backend.backend() != backend:
        raise UserError(
            f"Keras is already running on {loaded.backend.backend()} in this process; "
            f"train.keras_backend = {backend} needs a new one"
        )
    os.environ["KERAS_BACKEND"] = backend


register("torch", EngineInfo(f"{__name__}.torch_engine", data_parallel=True))
register("keras", EngineInfo(f"{__name__}.keras_engine", before_import=_use_keras_backend))
