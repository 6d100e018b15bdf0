"""Load and validate params.yaml; every mistake is a one-line UserError naming the key and what is allowed.

A section is a dataclass whose fields say, beside their type and default, how a value is checked
(`setting`); `read` takes a mapping through them, so a default is written once, in the dataclass. The
same machinery checks a `models:` entry and a loss's arguments (`colorization.models.ModelSpec`), which
are resolved against the registries of architectures and losses by the stages that train and evaluate
them, and the config.json of a saved model.
"""

import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

DATA_SOURCES = ("sample", "places365", "folder")
LR_SCHEDULES = ("constant", "cosine", "step")
KEEP = {  # which epoch's weights a training keeps, and how the training's log says it
    "val_loss": "the model's own validation loss",
    "val_mse": "the validation MSE of ab/128",
    "last": "the last epoch",
}
KERAS_BACKENDS = ("tensorflow", "torch")
MOVED_SECTIONS = ("classification", "gan")  # a loss's settings, now each model's `loss_args`


def setting(check: Callable[["Section", str], Any], default: Any = MISSING, **flags) -> Any:
    """A dataclass field read from a params mapping by `check(section, name)` when given, else `default`
    (no default: the key is required). `flags` are kept in the field's metadata (a loss's `decode_only`)."""
    return field(default=default, metadata={"check": check, **flags})


def integer(minimum: int = 1, optional: bool = False):
    return lambda section, name: section.integer(name, minimum, optional)


def number(low: float, high: float, optional: bool = False, high_included: bool = False):
    return lambda section, name: section.number(name, low, high, optional, high_included)


def boolean():
    return lambda section, name: section.boolean(name)


def choice(allowed: tuple[str, ...]):
    return lambda section, name: section.choice(name, allowed)


def text(optional: bool = False):
    return lambda section, name: section.text(name, optional)


def read(cls, section: "Section", strict: bool = True, include: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """The values of `cls`'s checked fields given in `section` (those `include` accepts, if given), checked
    (a missing required one is an error; a missing optional one is left to the dataclass's default).
    `strict`: a key that is no such field is an error too, so a misspelt setting is never silently
    ignored; otherwise it is left out."""
    known = {item.name: item for item in fields(cls) if "check" in item.metadata and (include is None or include(item))}
    if strict:
        unknown = [key for key in section.values if key not in known]
        if unknown:
            raise UserError(
                f"{section.source}: {section.key(str(unknown[0]))}: unknown key; allowed: {', '.join(known)}"
            )
    values = {}
    for name, item in known.items():
        has_default = item.default is not MISSING or item.default_factory is not MISSING
        if name in section.values or not has_default:
            values[name] = item.metadata["check"](section, name)
    return values


def _devices(section: "Section", name: str) -> int | str:
    """train.devices: a number of processes, or "auto" (one per GPU, one on a machine without)."""
    if section.values.get(name) == "auto":
        return "auto"
    try:
        return section.integer(name)
    except UserError:
        raise UserError(
            f"{section.source}: {section.key(name)} = {section.values[name]!r}: must be an integer >= 1 or auto"
        ) from None


@dataclass(frozen=True)
class Places365Params:
    url: str  # http(s) URL, file:// URL or local path of a tar of Places365 images
    md5: str | None  # lower-case hex; None: not verified


@dataclass(frozen=True)
class DataParams:
    source: str
    n_images: int
    image_size: int
    val_fraction: float
    shard_size: int
    path: Path | None = None  # folder source: a folder or a .tar/.tar.gz/.zip of photos
    cache_dir: Path | None = None  # where downloads are kept; None: the user's cache dir
    places365: tuple[Places365Params, ...] = ()  # the places365 source's archives, read in this order


@dataclass(frozen=True)
class TrainParams:
    epochs: int = setting(integer())
    batch_size: int = setting(integer())
    mixed_precision: bool = setting(boolean())
    lr_schedule: str = setting(choice(LR_SCHEDULES), "constant")  # per epoch
    keep: str = setting(choice(tuple(KEEP)), "val_loss")  # which epoch's weights become the model
    devices: int | str = setting(_devices, 1)  # data-parallel processes; "auto": one per GPU
    keras_backend: str = setting(choice(KERAS_BACKENDS), "tensorflow")  # what the Keras models train on
    hflip: bool = setting(boolean(), False)  # mirror a random half of the training images each epoch


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int = setting(integer())
    n_examples: int = setting(integer())


@dataclass(frozen=True)
class Params:
    seed: int
    lr: float
    data: DataParams
    train: TrainParams
    models: dict[str, dict]  # each entry as written; `colorization.models.resolve` makes it a ModelSpec
    evaluate: EvaluateParams
    ensembles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> its members, models entries


class Section:
    """Typed access to one mapping of params.yaml, with messages that name the full key."""

    def __init__(self, values: Any, prefix: str, source: str = "params.yaml"):
        if not isinstance(values, dict):
            raise UserError(f"{source}: {prefix or 'the file'} must be a mapping, got {values!r}")
        self.values = values
        self.prefix = prefix
        self.source = source  # the file the values come from, which every message names

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str) -> Any:
        if name not in self.values:
            raise UserError(f"{self.source}: {self.key(name)} is missing")
        return self.values[name]

    def section(self, name: str) -> "Section":
        return Section(self.get(name), self.key(name), self.source)

    def integer(self, name: str, minimum: int = 1, optional: bool = False) -> int | None:
        value = self.values.get(name) if optional else self.get(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            allowed = f"an integer >= {minimum}" + (" or null" if optional else "")
            raise UserError(f"{self.source}: {self.key(name)} = {value!r}: must be {allowed}")
        return value

    def number(
        self, name: str, low: float, high: float, optional: bool = False, high_included: bool = False
    ) -> float | None:
        value = self.values.get(name) if optional else self.get(name)
        if value is None and optional:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (low < value <= high if high_included else low < value < high)
        ):
            bounds = f"({high} included)" if high_included else "(exclusive)"
            allowed = f"a number between {low} and {high} {bounds}" + (" or null" if optional else "")
            raise UserError(f"{self.source}: {self.key(name)} = {value!r}: must be {allowed}")
        return float(value)

    def boolean(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            raise UserError(f"{self.source}: {self.key(name)} = {value!r}: must be true or false")
        return value

    def text(self, name: str, optional: bool = False) -> str | None:
        value = self.values.get(name) if optional else self.get(name)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise UserError(
                f"{self.source}: {self.key(name)} = {value!r}: must be a non-empty string"
                + (" or null" if optional else "")
            )
        return value.strip()

    def path(self, name: str, base: Path) -> Path | None:
        """An optional path; relative paths are taken from the folder of params.yaml, ~ is expanded."""
        value = self.text(name, optional=True)
        return None if value is None else base / Path(value).expanduser()

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.get(name)
        if value not in allowed:
            raise UserError(f"{self.source}: {self.key(name)} = {value!r}: allowed values are {', '.join(allowed)}")
        return value


def _places365(data: Section, required: bool) -> tuple[Places365Params, ...]:
    """data.places365: the archive's url and md5, or lists of them (several archives read in that order,
    as Places365 itself ships several), one md5 (or null) per url."""
    if not required and data.values.get("places365") is None:
        return ()
    section = data.section("places365")
    urls, md5s = section.get("url"), section.values.get("md5")
    if not isinstance(urls, list):
        urls, md5s, keys = [urls], [md5s], ["url"]
    elif not urls:
        raise UserError("params.yaml: data.places365.url is an empty list: name at least one archive")
    else:
        keys = [f"url[{index}]" for index in range(len(urls))]
        if not isinstance(md5s, list) or len(md5s) != len(urls):
            raise UserError(
                f"params.yaml: data.places365.md5 = {md5s!r}: with {len(urls)} urls, must be a list of "
                f"{len(urls)} MD5s (or nulls), one per archive"
            )
    archives = []
    for key, url, md5 in zip(keys, urls, md5s):
        entry = Section({"url": url, "md5": md5}, "data.places365")
        url = entry.text("url")
        md5 = entry.text("md5", optional=True)
        if md5 is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            where = key.replace("url", "md5")
            raise UserError(f"params.yaml: data.places365.{where} = {md5!r}: must be 32 hexadecimal digits or null")
        archives.append(Places365Params(url=url, md5=md5.lower() if md5 else None))
    return tuple(archives)


def _data(data: Section, base: Path) -> DataParams:
    image_size = data.integer("image_size", minimum=8)
    if image_size % 8:
        raise UserError(
            f"params.yaml: data.image_size = {image_size}: must be a multiple of 8 (the networks downsample by 8)"
        )
    source = data.choice("source", DATA_SOURCES)
    path = data.path("path", base)
    if source == "folder" and path is None:
        raise UserError(
            "params.yaml: data.path is null: data.source = folder needs a folder of photos "
            "or a .tar/.tar.gz/.zip of them"
        )
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
    top = Section(raw, "")
    data = _data(top.section("data"), Path(base))
    moved = [name for name in MOVED_SECTIONS if name in top.values]
    if moved:
        raise UserError(
            f"params.yaml: {moved[0]}: a loss's settings now belong to each model that uses it, as "
            f'models.NAME.loss_args (README, "Add a model, a loss or an architecture")'
        )
    models = top.section("models")
    if not models.values:
        raise UserError("params.yaml: models is empty: list at least one model to train")
    entries = {}
    for name, entry in models.values.items():
        if not _is_name(name):
            raise UserError(f"params.yaml: models.{name}: a model name is letters, digits, '_', '-' and '.'")
        entries[name] = {} if entry is None else models.section(name).values
    return Params(
        ensembles=_ensembles(top, entries),
        seed=top.integer("seed", minimum=0),
        lr=top.number("lr", 0.0, 1.0),
        data=data,
        train=TrainParams(**read(TrainParams, top.section("train"))),
        models=entries,
        evaluate=EvaluateParams(**read(EvaluateParams, top.section("evaluate"))),
    )


def _is_name(name: Any) -> bool:
    """A models or ensembles entry's name: letters, digits, '_', '-' and '.' (it names stages and folders)."""
    return isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name) is not None


def _ensembles(top: Section, models: dict) -> dict[str, tuple[str, ...]]:
    """`ensembles:` (optional): each entry's `members`, two or more distinct models entries."""
    section = Section(top.values.get("ensembles") or {}, "ensembles")
    ensembles = {}
    for name in section.values:
        if name in models or not _is_name(name):
            raise UserError(
                f"params.yaml: ensembles.{name}: needs a name of letters, digits, '_', '-' and '.' "
                "that no models entry has"
            )
        entry = section.section(name)
        members = entry.get("members")
        unknown = set(entry.values) - {"members"}
        if unknown:
            raise UserError(f"params.yaml: ensembles.{name}.{sorted(unknown)[0]}: unknown setting; allowed: members")
        if not isinstance(members, list) or len(set(map(str, members))) < 2 or len(set(members)) != len(members):
            raise UserError(f"params.yaml: {entry.key('members')} = {members!r}: must list two or more distinct models")
        missing = [member for member in members if member not in models]
        if missing:
            raise UserError(
                f"params.yaml: {entry.key('members')}: {missing[0]!r} is no models entry; listed: {', '.join(models)}"
            )
        ensembles[name] = tuple(members)
    return ensembles


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
