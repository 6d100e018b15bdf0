"""The Keras engine (see `engines.Engine`): training and inference on NHWC numpy batches, on Keras's
TensorFlow backend (the study's framework, the default) or its PyTorch backend (`train.keras_backend`:
the same `.keras` models, on the GPU that the project's PyTorch sees). Either places the computation on
a GPU by itself when it sees one; Keras's `mixed_bfloat16` policy with `mixed_precision`.

The backend is chosen by KERAS_BACKEND before Keras is first imported (`engines.prepare`)."""

import json
import os
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

# PyTorch's compiler stack (which torch.use_deterministic_algorithms and the optimizers load lazily)
# crashes with a segmentation fault when first imported after TensorFlow in the same process
# (torch 2.14, TensorFlow 2.21). Importing it first lets both frameworks share a process, as the
# tests and `colorize --compare` need.
import torch._dynamo  # noqa: F401  isort: skip

import numpy as np

from ..architectures import Architecture
from ..core.encoding import model_batch
from ..core.errors import UserError
from ..core.files import atomic_path
from ..losses.mse import MSE

MODEL_FILE = "model.keras"
CHECKPOINT_FILE = "checkpoint.keras"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@contextmanager
def _start_up_logs_hidden():
    """Send what native code writes to stderr to /dev/null meanwhile, unless TF_CPP_MIN_LOG_LEVEL is 0 or 1
    (the package sets 2): TensorFlow 2.21 logs its start-up (oneDNN, CUDA drivers, cuInit) through Abseil
    before it applies that level, so the level alone cannot hide those lines from `colorize` or a stage."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("0", "1"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _start_up_logs_hidden():
    import keras

    BACKEND = keras.backend.backend()  # "tensorflow" or "torch"
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # CUDA starts here, hidden, rather than at the first computation
    elif BACKEND == "torch":
        import torch
    else:
        raise UserError(f"KERAS_BACKEND={BACKEND}: this project's Keras models run on tensorflow or torch")


def versions() -> dict[str, str]:
    """Keras, its backend and that backend's version: each computes the same model differently."""
    backend_version = tf.__version__ if BACKEND == "tensorflow" else torch.__version__
    return {"keras": keras.__version__, "keras_backend": BACKEND, BACKEND: backend_version}


def seed(value: int) -> None:
    """Seed Python, NumPy and the backend, and make the backend's kernels deterministic."""
    keras.utils.set_random_seed(value)
    if BACKEND == "tensorflow":
        tf.config.experimental.enable_op_determinism()
    else:
        from .torch_engine import seed as seed_torch

        seed_torch(value)


def _gpu() -> str | None:
    """The GPU the backend computes on, or None."""
    if BACKEND == "tensorflow":
        gpus = tf.config.list_physical_devices("GPU")
        return gpus[0].name.removeprefix("/physical_device:") if gpus else None
    return f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else None


class KerasNetwork:
    """A Keras model with an Adam optimizer and a loss (see `colorization.losses`)."""

    hints = False  # no Keras architecture has a hint input

    def __init__(self, model: keras.Model, lr: float | None = None, loss=None):
        self.model = model
        self.loss = loss or MSE()
        self.keras_loss = self.loss.keras_loss()  # a custom one is registered here, before any checkpoint loads
        if lr is not None:
            model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss=self.keras_loss)

    @property
    def on_accelerator(self) -> bool:
        return _gpu() is not None

    @property
    def precision(self) -> str:
        return str(self.model.compute_dtype)

    @property
    def device(self) -> str:
        return f"{_gpu() or 'cpu'} (Keras on {BACKEND})"

    def start_epoch(self, epoch: int, lr: float) -> None:
        self.model.optimizer.learning_rate.assign(lr)

    def train_step(
        self, encoded: np.ndarray, labels: np.ndarray | None = None, hints: np.ndarray | None = None
    ) -> dict[str, float]:
        del labels  # no Keras architecture has a scene classifier
        _no_hints(hints)
        l_input, ab_target = model_batch(encoded)
        return {"loss": float(self.model.train_on_batch(l_input, self.loss.targets(ab_target)))}

    def _output(self, l_input: np.ndarray):
        return keras.ops.cast(self.model(l_input, training=False), "float32")

    def predict(self, l_input: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        _no_hints(hints)
        return self.loss.decode(keras.ops.convert_to_numpy(self._output(l_input)))

    def validate(self, encoded: np.ndarray, hints: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        _no_hints(hints)
        l_input, ab_target = model_batch(encoded)
        output = self._output(l_input)
        loss = keras.losses.get(self.keras_loss)(self.loss.targets(ab_target), output)
        return (
            float(keras.ops.convert_to_numpy(keras.ops.mean(loss))),
            self.loss.decode(keras.ops.convert_to_numpy(output)),
        )

    @contextmanager
    def threads(self, count: int):
        yield  # TensorFlow's thread pools are fixed once it has started

    def parameter_count(self) -> int:
        return int(sum(np.prod(weight.shape) for weight in self.model.trainable_weights))

    def save(self, directory: Path) -> None:
        _save_without_timestamps(self.model, directory / MODEL_FILE)

    def save_checkpoint(self, directory: Path) -> None:
        """The model with its optimizer state (Keras saves both when the model is compiled)."""
        _save_without_timestamps(self.model, directory / CHECKPOINT_FILE)

    def load_checkpoint(self, directory: Path) -> None:
        self.model = keras.models.load_model(directory / CHECKPOINT_FILE, safe_mode=True)


def _no_hints(hints: np.ndarray | None) -> None:
    if hints is not None:
        raise ValueError("this network has no hint input")


def _without_key(value, key: str):
    """A copy of nested dicts and lists with every `key` removed."""
    if isinstance(value, dict):
        return {name: _without_key(item, key) for name, item in value.items() if name != key}
    if isinstance(value, list):
        return [_without_key(item, key) for item in value]
    return value


def _save_without_timestamps(model: keras.Model, path: Path) -> None:
    """Save a .keras archive whose bytes depend only on the model. Keras stamps the save time into
    metadata.json and the weights' zip entry, and marks objects shared between layers (the dtype
    policy) with their memory address in config.json; all three would make every rerun's file
    differ. The marks only let layers share one policy object on loading, so they are dropped."""
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch, atomic_path(path) as temporary:
        stamped = Path(scratch) / path.name
        model.save(stamped)
        with zipfile.ZipFile(stamped) as source, zipfile.ZipFile(temporary, "w") as target:
            for entry in source.infolist():
                data = source.read(entry)
                if entry.filename == "metadata.json":
                    metadata = json.loads(data)
                    metadata.pop("date_saved", None)
                    data = json.dumps(metadata).encode()
                elif entry.filename == "config.json":
                    data = json.dumps(_without_key(json.loads(data), "shared_object_id")).encode()
                fixed = zipfile.ZipInfo(entry.filename, date_time=FIXED_DATE)
                fixed.compress_type, fixed.external_attr = entry.compress_type, entry.external_attr
                target.writestr(fixed, data)


def create(
    architecture: Architecture,
    lr: float,
    l_mean: float,
    l_std: float,
    seed_value: int,
    mixed_precision: bool,
    loss=None,
    options: dict | None = None,
    scene_weight: float = 0.0,
    init: Path | None = None,
    encoder=None,
) -> KerasNetwork:
    """A seeded network, compiled with Adam and its loss (see `engines.Engine.create`), freshly
    initialised or with the weights of the saved model `init`; with `mixed_precision` its layers compute
    in bfloat16 and keep float32 weights."""
    del scene_weight, encoder  # no Keras architecture has a scene classifier or a pretrained encoder
    seed(seed_value)
    loss = loss or MSE()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed_precision else "float32")
    try:
        model = architecture.build(l_mean=l_mean, l_std=l_std, outputs=loss.channels, **(options or {}))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    if init is not None:
        start = load(Path(init), architecture, loss).model
        shapes = [tuple(weight.shape) for weight in model.weights]
        if [tuple(weight.shape) for weight in start.weights] != shapes:
            raise UserError(f"init: {init} is no starting point for this model: its weights have other shapes")
        model.set_weights(start.get_weights())
    return KerasNetwork(model, lr, loss)


def store_half(source: Path, target: Path) -> None:
    """Not offered: a Keras model ships as trained (the CNNs are small)."""
    raise UserError(f"{source}: a Keras model is not stored in half precision; ship a smaller model")


def load(directory: Path, architecture: Architecture, loss=None, options: dict | None = None) -> KerasNetwork:
    """Load a saved model in safe mode: a Lambda layer carrying code is refused, never run. The file holds
    the whole model, so `options` are not needed."""
    del options
    path = directory / MODEL_FILE
    try:
        return KerasNetwork(keras.models.load_model(path, compile=False, safe_mode=True), loss=loss)
    except ValueError as error:
        if "safe_mode" not in str(error):
            raise
        raise UserError(
            f"{path} could not be loaded safely: it carries Python code (a Lambda layer); "
            "refused, nothing in it was run"
        ) from None
