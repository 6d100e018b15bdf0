"""A model's recipe, `ModelSpec`: one entry of params.yaml's `models:`, resolved once against the
registries of architectures and losses, passed to the training, the checkpoints and evaluation, and
written as the trained model's config.json, which the same type reads back (`saved`).

Each field says beside it how it is checked (`core.params.setting`); a loss's settings are the model's
own (`loss_args`, checked by the loss's `Args`), so two models may use one loss differently.
"""

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .. import architectures, engines, losses
from ..core.errors import UserError
from ..core.params import Params, Section, boolean, integer, number, read, setting, text
from ..core.paths import SHIPPED

SCENE_WEIGHT = 1 / 300  # Iizuka et al.'s weight of the scene classification beside the colour loss


def _mapping(section: Section, name: str) -> dict:
    value = section.values.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UserError(f"{section.source}: {section.key(name)} = {value!r}: must be a mapping of settings")
    return value


def _epochs_or_all(section: Section, name: str) -> int | str:
    value = section.values.get(name)
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise UserError(f"{section.source}: {section.key(name)} = {value!r}: must be a number of epochs (>= 0) or all")


def _image_size(section: Section, name: str) -> int | None:
    size = section.values.get(name)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 8 or size % 8):
        raise UserError(f"{section.source}: {section.key(name)} = {size!r}: must be a multiple of 8 (>= 8)")
    return size


@dataclass(frozen=True)
class ModelSpec:
    """Everything a training needs to know about a model, and what it wrote about the result."""

    name: str  # the entry's key: the stages train@NAME and evaluate@NAME, the folder models/NAME
    arch: str = setting(text(optional=True), None)  # a registered architecture; none: the entry's name
    loss: str = setting(text(optional=True), "mse")  # a registered loss; none: mse
    lr: float | None = setting(number(0.0, 1.0, optional=True), None)  # Adam's; none: the top-level lr
    # training images, a prefix of the shuffled order; none: all
    n_train: int | None = setting(integer(optional=True), None)
    loss_args: Any = setting(_mapping, None)  # the loss's settings: a mapping, or its Args
    # scene context (Iizuka et al. 2016), for an architecture that offers it: a global branch fused into
    # every position, and a scene classifier trained on the data's scene labels, its loss x scene_weight
    scene: bool = setting(boolean(), False)
    scene_weight: float = setting(number(0.0, 1.0, high_included=True), SCENE_WEIGHT)
    # colour hints (Zhang et al. 2017), for an architecture that reads them: hint channels beside L,
    # trained with hints simulated from the truth (`core.hints`); with none it colours automatically
    hints: bool = setting(boolean(), False)
    # a shipped model (`core.paths.SHIPPED`) whose weights the training starts from instead of a random
    # initialisation: the same architecture, loss and scene context (input channels it lacks start at 0)
    init: str | None = setting(text(optional=True), None)
    # for an architecture with an ImageNet-pretrained encoder: the epochs it stays frozen (weights and
    # batch-norm statistics), "all" for the whole training; and its learning rate when it trains, as a
    # share of the model's
    freeze_encoder: int | str = setting(_epochs_or_all, 0)
    encoder_lr: float = setting(number(0.0, 1.0, high_included=True), 0.1)
    # What the training wrote (config.json only; not settable in params.yaml):
    image_size: int | None = setting(_image_size, None, trained=True)  # side of the square training images
    epochs: int | None = setting(integer(optional=True), None, trained=True)
    epoch: int | None = setting(integer(optional=True), None, trained=True)  # the kept epoch, 1-based
    train_images: int | None = setting(integer(optional=True), None, trained=True)
    decoding: dict | None = setting(_mapping, None, trained=True)  # what the loss needs to decode (`decoding()`)
    scene_classes: int | None = setting(integer(minimum=0, optional=True), None, trained=True)  # 0: no labels

    def __post_init__(self):
        if self.arch is None:
            object.__setattr__(self, "arch", self.name)
        args_type = losses.get(self.loss).Args
        if not isinstance(self.loss_args, args_type):
            section = Section(self.loss_args or {}, "loss_args", "loss_args")
            object.__setattr__(self, "loss_args", args_type(**read(args_type, section)))

    @classmethod
    def parse(
        cls, name: str, values: dict, source: str, prefix: str, lr: float | None = None, trained: bool = False
    ) -> "ModelSpec":
        """The spec of `values`, a models entry (`trained`: a config.json, with what the training wrote),
        checked field by field; every message names `source` and the key under `prefix`. `lr` is the
        learning rate of an entry that names none."""
        section = Section(values, prefix, source)
        given = read(cls, section, strict=not trained, include=lambda item: trained or not item.metadata.get("trained"))
        arch = given.get("arch") or name
        architecture = architectures.get(arch, f"{source}: {section.key('arch')}")
        loss = losses.get(given.get("loss") or "mse", f"{source}: {section.key('loss')}")
        if architecture.framework not in loss.info.frameworks:
            usable = [
                other
                for other in architectures.colorizers()
                if architectures.ARCHITECTURES[other].framework in loss.info.frameworks
            ]
            raise UserError(
                f"{source}: {prefix or name}: loss {loss.name} trains {' or '.join(loss.info.frameworks)} "
                f"architectures only, and {arch} is {architecture.framework}; allowed arch: {', '.join(usable)}"
            )
        if given.get("scene") and not architecture.scene:
            offering = [other for other in architectures.colorizers() if architectures.ARCHITECTURES[other].scene]
            raise UserError(
                f"{source}: {section.key('scene')}: architecture {arch} has no scene context; "
                f"architectures that do: {', '.join(offering)}"
            )
        if given.get("hints") and not architecture.hints:
            reading = [other for other in architectures.colorizers() if architectures.ARCHITECTURES[other].hints]
            raise UserError(
                f"{source}: {section.key('hints')}: architecture {arch} has no hint input; "
                f"architectures that do: {', '.join(reading)}"
            )
        defaults = {item.name: item.default for item in fields(cls)}
        tuned = [key for key in ("freeze_encoder", "encoder_lr") if given.get(key, defaults[key]) != defaults[key]]
        if tuned and architecture.pretrained is None:
            offering = [other for other in architectures.colorizers() if architectures.ARCHITECTURES[other].pretrained]
            raise UserError(
                f"{source}: {section.key(tuned[0])}: architecture {arch} has no pretrained encoder; "
                f"architectures that do: {', '.join(offering)}"
            )
        init = given.get("init")
        if init is not None and not trained and not (SHIPPED / init / "config.json").is_file():
            shipped = sorted(path.parent.name for path in SHIPPED.glob("*/config.json"))
            raise UserError(
                f"{source}: {section.key('init')} = {init!r}: no such shipped model; shipped: {', '.join(shipped)}"
            )
        args = Section(given.get("loss_args") or {}, section.key("loss_args"), source)
        given["loss_args"] = loss.Args(**read(loss.Args, args))
        if given.get("lr") is None:
            given["lr"] = lr
        return cls(name=name, **(given | {"arch": arch, "loss": loss.name}))

    @property
    def architecture(self) -> architectures.Architecture:
        return architectures.ARCHITECTURES[self.arch]

    @property
    def framework(self) -> str:
        return self.architecture.framework

    @property
    def engine(self) -> engines.EngineInfo:
        return engines.ENGINES[self.framework]

    @property
    def build_options(self) -> dict:
        """What the engine builds the architecture with beyond the common arguments: the scene context's
        and the hint input's."""
        options = {"scene": True, "scene_classes": self.scene_classes or 0} if self.scene else {}
        return options | ({"hints": True} if self.hints else {})

    def encoder_training(self, epochs: int) -> engines.EncoderTraining | None:
        """How a training of `epochs` epochs treats the pretrained encoder (None: the architecture has none)."""
        if self.architecture.pretrained is None:
            return None
        frozen = epochs if self.freeze_encoder == "all" else self.freeze_encoder
        return engines.EncoderTraining(frozen_epochs=frozen, lr_scale=self.encoder_lr)

    @property
    def init_directory(self) -> Path | None:
        """The saved model folder the training starts from, if any."""
        return None if self.init is None else SHIPPED / self.init

    def training_loss(self, prior_path: Path):
        """The loss object this recipe trains with (`prior_path`: the training images' ab prior)."""
        return losses.get(self.loss).for_training(self.loss_args, prior_path)

    def inference_loss(self):
        """The loss object that decodes a trained model's output, from what its training wrote."""
        return losses.get(self.loss).from_decoding(self.decoding or {})

    def recipe(self) -> dict:
        """What changes the trained weights: the recipe without what the training wrote and without the
        loss settings that only decode (new ones re-save a trained model instead of retraining it)."""
        decode_only = {item.name for item in fields(self.loss_args) if item.metadata.get("decode_only")}
        values = {item.name: getattr(self, item.name) for item in fields(self) if not item.metadata.get("trained")}
        values["loss_args"] = {key: value for key, value in asdict(self.loss_args).items() if key not in decode_only}
        return values

    def trained(self, **written) -> "ModelSpec":
        """This spec with what a training wrote (image_size, epochs, epoch, train_images, decoding)."""
        return replace(self, **written)

    def to_json(self) -> dict:
        return asdict(self) | {"framework": self.framework}


def predict_distribution(network: engines.Network, l_input, hints=None):
    """What `network` predicts for L/100 (B, H, W, 1) as its loss's `distribution` (B, H, W, C) instead of
    ab: the engine decodes (and upsamples) into it. For an ensemble's mean and the page's palette."""
    decoding = network.loss
    network.loss = _Distribution(decoding)
    try:
        return network.predict(l_input, hints)
    finally:
        network.loss = decoding


class _Distribution:
    """A network's loss, decoding its output into the loss's `distribution`."""

    def __init__(self, loss):
        self.loss = loss

    def decode(self, output):
        return self.loss.distribution(output)


def resolve(params: Params, name: str) -> ModelSpec:
    """The ModelSpec of params.yaml's `models.<name>`, or a UserError naming the key."""
    if name not in params.models:
        raise UserError(f"params.yaml: models.{name} is missing; listed: {', '.join(params.models)}")
    return ModelSpec.parse(name, params.models[name], "params.yaml", f"models.{name}", lr=params.lr)
