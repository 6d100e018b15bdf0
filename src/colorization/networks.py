"""Framework-independent handle on a network: create one for training, save it, load it for inference.

A model directory holds the framework's file (model.keras or model.pt) and config.json, which names the
architecture and the image size it was trained at, so evaluation and `colorize` know how to load it.
"""

import importlib
import json
from pathlib import Path

from .errors import UserError
from .files import write_json
from .models import ARCHITECTURES, build

CONFIG_FILE = "config.json"


def engine(arch: str):
    """The engine module (keras_engine or torch_engine) for an architecture's framework."""
    return importlib.import_module(f"{__package__}.{ARCHITECTURES[arch]}_engine")


def create(arch: str, lr: float, l_mean: float, l_std: float, seed: int, mixed_precision: bool = False):
    """A freshly initialised, seeded network of `arch` with its optimizer (bfloat16 compute if asked)."""
    module = engine(arch)
    module.seed(seed)
    if ARCHITECTURES[arch] == "keras":
        module.set_mixed_precision(mixed_precision)
    model = build(arch, l_mean=l_mean, l_std=l_std)
    network_class = module.KerasNetwork if ARCHITECTURES[arch] == "keras" else module.TorchNetwork
    return network_class(model, lr, mixed_precision)


def save(network, directory: Path, config: dict) -> None:
    """Write the network and its config.json into `directory` (each file via a temporary name)."""
    directory.mkdir(parents=True, exist_ok=True)
    network.save(directory)
    write_json(directory / CONFIG_FILE, config)


def read_config(directory: Path) -> dict:
    """The config.json of a model directory, or a UserError if the directory is not one of ours."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{directory} is not a model directory written by this project (no {CONFIG_FILE})")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not a config.json written by this project ({error})") from None
    if not isinstance(config, dict) or config.get("arch") not in ARCHITECTURES:
        arch = config.get("arch") if isinstance(config, dict) else None
        raise UserError(f"{path}: unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    return config


def load(directory: Path):
    """Load the network saved in `directory` for inference; returns (network, config)."""
    directory = Path(directory)
    config = read_config(directory)
    arch = config["arch"]
    module = engine(arch)
    model_file = directory / module.MODEL_FILE
    if not model_file.is_file():
        raise UserError(f"{model_file} is missing: run the training stage (dvc repro train@{arch})")
    try:
        network = module.load(directory) if ARCHITECTURES[arch] == "keras" else module.load(directory, arch)
    except UserError:
        raise
    except Exception as error:  # a corrupt or foreign file: say which, in one line
        raise UserError(f"{model_file} could not be loaded safely: {str(error).splitlines()[0]}") from None
    return network, config
