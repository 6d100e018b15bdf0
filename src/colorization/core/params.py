"""Load and validate params.yaml; every mistake is a one-line UserError naming the key and what is allowed.

The architecture a `models:` entry names is checked against the registry when the entry is resolved
(`models.resolve`), by the stages that train and evaluate it.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

DATA_SOURCES = ("sample", "places365", "folder")
LR_SCHEDULES = ("constant", "cosine", "step")
KEEP = ("val_loss", "val_mse", "last")  # which epoch's weights a training keeps
KERAS_BACKENDS = ("tensorflow", "torch")


@dataclass(frozen=True)
class Places365Params:
    url: str            # http(s) URL, file:// URL or local path of a tar of Places365 images
    md5: str | None     # lower-case hex; None: not verified


@dataclass(frozen=True)
class DataParams:
    source: str
    n_images: int
    image_size: int
    val_fraction: float
    shard_size: int
    path: Path | None = None            # folder source: a folder or a .tar/.tar.gz/.zip of photos
    cache_dir: Path | None = None       # where downloads are kept; None: the user's cache dir
    places365: Places365Params | None = None


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    batch_size: int
    mixed_precision: bool
    lr_schedule: str = "constant"   # one of LR_SCHEDULES, per epoch
    keep: str = "val_loss"          # one of KEEP: the epoch with the lowest own validation loss or MSE, or the last
    devices: int | str = 1          # data-parallel processes for the PyTorch models; "auto": one per GPU
    keras_backend: str = "tensorflow"   # one of KERAS_BACKENDS: what the Keras models train on
    hflip: bool = False             # mirror a random half of the training images left-right each epoch


@dataclass(frozen=True)
class ModelParams:
    n_train: int | None
    arch: str | None = None     # the architecture; None: the entry's own name
    loss: str = "mse"           # a key of colorization.losses.LOSSES
    lr: float | None = None     # this model's learning rate; None: the top-level lr


@dataclass(frozen=True)
class GanParams:
    l1_weight: float = 100.0    # the generator's loss: adversarial + l1_weight x L1 (pix2pix)
    warmup_epochs: int = 0      # epochs of L1 alone before the discriminator joins ("NoGAN")


@dataclass(frozen=True)
class ClassificationParams:
    temperature: float = 0.38   # the annealed mean's T
    rebalance: float = 0.5      # lambda of the class-rebalancing weights
    decode_rebalance: float | None = None  # the lambda decoded colours are re-weighted to; None: as trained


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int
    n_examples: int


@dataclass(frozen=True)
class Params:
    seed: int
    lr: float
    data: DataParams
    train: TrainParams
    models: dict[str, ModelParams]
    evaluate: EvaluateParams
    classification: ClassificationParams = ClassificationParams()
    gan: GanParams = GanParams()

    def model_lr(self, name: str) -> float:
        """The learning rate of `models.<name>`: its own, or the top-level one."""
        own = self.models[name].lr
        return self.lr if own is None else own


class _Section:
    """Typed access to one mapping of params.yaml, with messages that name the full key."""

    def __init__(self, values: Any, prefix: str):
        if not isinstance(values, dict):
            raise UserError(f"params.yaml: {prefix or 'the file'} must be a mapping, got {values!r}")
        self.values = values
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str) -> Any:
        if name not in self.values:
            raise UserError(f"params.yaml: {self.key(name)} is missing")
        return self.values[name]

    def section(self, name: str) -> "_Section":
        return _Section(self.get(name), self.key(name))

    def integer(self, name: str, minimum: int = 1, optional: bool = False) -> int | None:
        value = self.values.get(name) if optional else self.get(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            allowed = f"an integer >= {minimum}" + (" or null" if optional else "")
            raise UserError(f"params.yaml: {self.key(name)} = {value!r}: must be {allowed}")
        return value

    def number(self, name: str, low: float, high: float, optional: bool = False,
               high_included: bool = False) -> float | None:
        value = self.values.get(name) if optional else self.get(name)
        if value is None and optional:
            return None
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not (low < value <= high if high_included else low < value < high)):
            bounds = f"({high} included)" if high_included else "(exclusive)"
            allowed = f"a number between {low} and {high} {bounds}" + (" or null" if optional else "")
            raise UserError(f"params.yaml: {self.key(name)} = {value!r}: must be {allowed}")
        return float(value)

    def boolean(self, name: str, default: bool | None = None) -> bool:
        value = self.values.get(name, default) if default is not None else self.get(name)
        if not isinstance(value, bool):
            raise UserError(f"params.yaml: {self.key(name)} = {value!r}: must be true or false")
        return value

    def text(self, name: str, optional: bool = False) -> str | None:
        value = self.values.get(name) if optional else self.get(name)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise UserError(f"params.yaml: {self.key(name)} = {value!r}: must be a non-empty string"
                            + (" or null" if optional else ""))
        return value.strip()

    def path(self, name: str, base: Path) -> Path | None:
        """An optional path; relative paths are taken from the folder of params.yaml, ~ is expanded."""
        value = self.text(name, optional=True)
        return None if value is None else base / Path(value).expanduser()

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        value = self.values.get(name, default) if default is not None else self.get(name)
        if value not in allowed:
            raise UserError(f"params.yaml: {self.key(name)} = {value!r}: allowed values are {', '.join(allowed)}")
        return value


def _devices(train: _Section) -> int | str:
    """train.devices: a number of processes, or "auto" (one per GPU, one on a machine without)."""
    if train.values.get("devices", 1) == "auto":
        return "auto"
    if "devices" not in train.values:
        return 1
    try:
        return train.integer("devices")
    except UserError:
        raise UserError(f"params.yaml: train.devices = {train.values['devices']!r}: must be an integer >= 1 "
                        "or auto") from None


def _places365(data: _Section, required: bool) -> Places365Params | None:
    if not required and data.values.get("places365") is None:
        return None
    section = data.section("places365")
    url = section.text("url")
    md5 = section.text("md5", optional=True)
    if md5 is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
        raise UserError(f"params.yaml: data.places365.md5 = {md5!r}: must be 32 hexadecimal digits or null")
    return Places365Params(url=url, md5=md5.lower() if md5 else None)


def _data(data: _Section, base: Path) -> DataParams:
    image_size = data.integer("image_size", minimum=8)
    if image_size % 8:
        raise UserError(f"params.yaml: data.image_size = {image_size}: must be a multiple of 8 (the networks downsample by 8)")
    source = data.choice("source", DATA_SOURCES)
    path = data.path("path", base)
    if source == "folder" and path is None:
        raise UserError("params.yaml: data.path is null: data.source = folder needs a folder of photos "
                        "or a .tar/.tar.gz/.zip of them")
    return DataParams(
        source=source,
        n_images=data.integer("n_images", minimum=2),
        image_size=image_size,
        val_fraction=data.number("val_fraction", 0.0, 1.0),
        shard_size=data.integer("shard_size"),
        path=path,
        cache_dir=data.path("cache_dir", base),
        places365=_places365(data, required=source == "places365"),
    )


def parse_params(raw: Any, base: Path | str = ".") -> Params:
    """Validate a params mapping (as read from params.yaml) and return typed params.

    `base` is the folder relative paths in it (data.path, data.cache_dir) are taken from.
    """
    top = _Section(raw, "")
    data = _data(top.section("data"), Path(base))
    models = top.section("models")
    if not models.values:
        raise UserError("params.yaml: models is empty: list at least one model to train")
    model_params = {}
    for name in models.values:
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
            raise UserError(f"params.yaml: models.{name}: a model name is letters, digits, '_', '-' and '.'")
        entry = models.section(name) if models.values[name] is not None else _Section({}, models.key(name))
        model_params[name] = ModelParams(n_train=entry.integer("n_train", optional=True),
                                         arch=entry.text("arch", optional=True),
                                         loss=entry.text("loss", optional=True) or "mse",
                                         lr=entry.number("lr", 0.0, 1.0, optional=True))
    train = top.section("train")
    evaluate = top.section("evaluate")
    classification = ClassificationParams()
    if top.values.get("classification") is not None:  # optional: the defaults are the paper's
        section = top.section("classification")
        classification = ClassificationParams(temperature=section.number("temperature", 0.0, 10.0),
                                              rebalance=section.number("rebalance", 0.0, 1.0, high_included=True),
                                              decode_rebalance=section.number("decode_rebalance", 0.0, 1.0,
                                                                              optional=True, high_included=True))
    gan = GanParams()
    if top.values.get("gan") is not None:  # optional: the defaults are pix2pix's
        section = top.section("gan")
        gan = GanParams(l1_weight=section.number("l1_weight", 0.0, 1e6),
                        warmup_epochs=section.integer("warmup_epochs", minimum=0))
    return Params(
        seed=top.integer("seed", minimum=0),
        lr=top.number("lr", 0.0, 1.0),
        data=data,
        train=TrainParams(epochs=train.integer("epochs"), batch_size=train.integer("batch_size"),
                          mixed_precision=train.boolean("mixed_precision"),
                          lr_schedule=train.choice("lr_schedule", LR_SCHEDULES, default="constant"),
                          keep=train.choice("keep", KEEP, default="val_loss"),
                          devices=_devices(train),
                          keras_backend=train.choice("keras_backend", KERAS_BACKENDS, default="tensorflow"),
                          hflip=train.boolean("hflip", default=False)),
        models=model_params,
        evaluate=EvaluateParams(batch_size=evaluate.integer("batch_size"), n_examples=evaluate.integer("n_examples")),
        classification=classification,
        gan=gan,
    )


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run from the project root")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    return parse_params(raw, base=path.parent)
