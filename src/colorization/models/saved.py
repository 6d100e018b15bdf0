"""A saved model folder: the engine's weights file (model.keras or model.pt) and config.json.

config.json is read and written through one typed definition, ModelConfig: it names the architecture,
the loss (and the settings that decode its output) and the image size the network was trained at, so
evaluation and `colorize` know how to load and feed it.
"""

import json
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..core.errors import UserError
from ..core.files import atomic_path, write_json
from ..losses import LOSSES, loss_class
from . import ARCHITECTURES, engine, framework_of
from .engine import Network

CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class ModelConfig:
    arch: str
    image_size: int                 # side of the square images it was trained on
    name: str | None = None         # the params entry it was trained as
    framework: str | None = None    # informative; the registry decides from `arch`
    epochs: int | None = None
    epoch: int | None = None        # the epoch (1-based) whose weights these are
    lr: float | None = None
    n_train: int | None = None
    input: str = "L/100"
    output: str = "ab/128"
    loss: str = "mse"               # a key of colorization.losses.LOSSES
    loss_settings: dict = field(default_factory=dict)  # what the loss needs to decode (its settings())

    def validated(self, path: Path) -> "ModelConfig":
        framework_of(self.arch, f"{path}: arch")
        if self.loss not in LOSSES or not isinstance(self.loss_settings, dict):
            raise UserError(f"{path}: loss = {self.loss!r}: allowed: {', '.join(LOSSES)}, with a mapping of settings")
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 8 or size % 8:
            raise UserError(f"{path}: image_size = {size!r}: must be a multiple of 8 (>= 8)")
        return self


def read_config(directory: Path) -> ModelConfig:
    """The config.json of a model folder, or a UserError if the folder is not one of ours."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{directory} is not a model directory written by this project (no {CONFIG_FILE})")
    try:
        values = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not a config.json written by this project ({error})") from None
    if not isinstance(values, dict) or "arch" not in values:
        raise UserError(f"{path} is not a config.json written by this project (no arch)")
    known = {field.name for field in fields(ModelConfig)}
    try:
        config = ModelConfig(**{key: value for key, value in values.items() if key in known})
    except TypeError as error:
        raise UserError(f"{path} is not a config.json written by this project ({error})") from None
    return config.validated(path)


def model_file(directory: Path, config: ModelConfig) -> Path:
    return Path(directory) / engine(ARCHITECTURES[config.arch]).MODEL_FILE


def save(network: Network, directory: Path, config: ModelConfig) -> None:
    """Write the network and its config.json into `directory` (each file via a temporary name)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    network.save(directory)
    write_json(directory / CONFIG_FILE, asdict(config))


def copy_weights(source: Path, directory: Path, config: ModelConfig) -> None:
    """Write the weights file of the model folder `source` and `config` into `directory`: the kept
    epoch's weights with the config of the finished training."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = model_file(directory, config)
    with atomic_path(target) as temporary:
        shutil.copyfile(model_file(source, config), temporary)
    write_json(directory / CONFIG_FILE, asdict(config))


def load(directory: Path) -> tuple[Network, ModelConfig]:
    """Load the network saved in `directory` for inference; returns (network, config)."""
    directory = Path(directory)
    config = read_config(directory)
    path = model_file(directory, config)
    if not path.is_file():
        raise UserError(f"{path} is missing: run the training stage (dvc repro train@{config.name or directory.name})")
    try:
        loss = loss_class(config.loss).from_settings(config.loss_settings)
        network = engine(ARCHITECTURES[config.arch]).load(directory, config.arch, loss)
    except UserError:
        raise
    except Exception as error:  # a corrupt or foreign file: say which, in one line
        raise UserError(f"{path} could not be loaded safely: {str(error).splitlines()[0]}") from None
    return network, config
