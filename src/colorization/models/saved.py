"""A saved model folder: the engine's weights file (model.keras or model.pt) and config.json.

config.json is the model's `ModelSpec`, with what its training wrote: the architecture, the loss with
its settings and what decodes its output, and the image size the network was trained at, so evaluation
and `colorize` know how to load and feed it. A config.json written before the spec was one type (its
`loss_settings` are today's `decoding`) still loads.
"""

import json
import shutil
from pathlib import Path

from .. import engines
from ..core.errors import UserError
from ..core.files import atomic_path, write_json
from ..engines import Network
from . import ModelSpec

CONFIG_FILE = "config.json"


def read_config(directory: Path) -> ModelSpec:
    """The config.json of a model folder, or a UserError if the folder is not one of ours."""
    directory = Path(directory)
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{directory} is not a model directory written by this project (no {CONFIG_FILE})")
    try:
        values = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserError(f"{path} is not a config.json written by this project ({error})") from None
    if not isinstance(values, dict) or "arch" not in values:
        raise UserError(f"{path} is not a config.json written by this project (no arch)")
    if "loss_settings" in values and "decoding" not in values:
        values["decoding"] = values["loss_settings"]
    if values.get("image_size") is None:
        raise UserError(f"{path}: image_size = None: must be a multiple of 8 (>= 8)")
    name = values.get("name") if isinstance(values.get("name"), str) else directory.name
    return ModelSpec.parse(name, values, str(path), "", trained=True)


def model_file(directory: Path, spec: ModelSpec) -> Path:
    return Path(directory) / engines.engine(spec.framework).MODEL_FILE


def save(network: Network, directory: Path, spec: ModelSpec) -> None:
    """Write the network and its config.json into `directory` (each file via a temporary name)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    network.save(directory)
    write_json(directory / CONFIG_FILE, spec.to_json())


def copy_weights(source: Path, directory: Path, spec: ModelSpec) -> None:
    """Write the weights file of the model folder `source` and `spec` into `directory`: the kept epoch's
    weights with the config of the finished training."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = model_file(directory, spec)
    with atomic_path(target) as temporary:
        shutil.copyfile(model_file(source, spec), temporary)
    write_json(directory / CONFIG_FILE, spec.to_json())


def load(directory: Path) -> tuple[Network, ModelSpec]:
    """Load the network saved in `directory` for inference; returns (network, spec)."""
    directory = Path(directory)
    spec = read_config(directory)
    path = model_file(directory, spec)
    if not path.is_file():
        raise UserError(f"{path} is missing: run the training stage (dvc repro train@{spec.name})")
    try:
        network = engines.load(directory, spec.arch, spec.inference_loss(), spec.build_options)
    except UserError:
        raise
    except Exception as error:  # a corrupt or foreign file: say which, in one line
        raise UserError(f"{path} could not be loaded safely: {str(error).splitlines()[0]}") from None
    return network, spec
