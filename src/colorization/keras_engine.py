"""Training and inference of Keras architectures (TensorFlow backend) on NHWC numpy batches."""

from pathlib import Path

# PyTorch's compiler stack (which torch.use_deterministic_algorithms and the optimizers load lazily)
# crashes with a segmentation fault when first imported after TensorFlow in the same process
# (torch 2.14, TensorFlow 2.21). Importing it first lets both frameworks share a process, as the
# tests and `colorize --compare` need.
import torch._dynamo  # noqa: F401  isort: skip

import keras
import numpy as np
import tensorflow as tf

from .files import atomic_path

MODEL_FILE = "model.keras"


def seed(value: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(value)
    tf.config.experimental.enable_op_determinism()


class KerasNetwork:
    """A Keras model with an Adam optimizer and MSE loss on ab/128."""

    def __init__(self, model: keras.Model, lr: float | None = None):
        self.model = model
        if lr is not None:
            model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="mse")

    def train_step(self, l_input: np.ndarray, ab_target: np.ndarray) -> float:
        return float(self.model.train_on_batch(l_input, ab_target))

    def predict(self, l_input: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(l_input, training=False), dtype=np.float32)

    def parameter_count(self) -> int:
        return int(sum(np.prod(weight.shape) for weight in self.model.trainable_weights))

    def save(self, directory: Path) -> None:
        with atomic_path(directory / MODEL_FILE) as temporary:
            self.model.save(temporary)


def load(directory: Path) -> KerasNetwork:
    """Load a saved model in safe mode: a Lambda layer carrying code is refused, never run."""
    return KerasNetwork(keras.models.load_model(directory / MODEL_FILE, compile=False, safe_mode=True))
