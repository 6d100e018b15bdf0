"""Metrics of predicted ab against the truth, shared by every architecture and the grey baseline.

- mse:     mean squared error of ab/128 over pixels and both channels (the training loss scale)
- rmse_ab: root mean squared ab distance per pixel, sqrt(mean(da^2 + db^2)), in LAB units
- psnr:    PSNR in dB of the RGB image (true L + predicted ab) against the true RGB image, data range 1,
           averaged over images (an image predicted exactly counts as 100 dB)
"""

import numpy as np

from .color import AB_SCALE, encode_lab, lab_from_model, lab_to_rgb
from .shards import LabShards

PSNR_CAP_DB = 100.0


class MetricAccumulator:
    """Streams batches of (L, predicted ab, true ab) in model scaling and reports the metrics."""

    def __init__(self):
        self.squared_error = 0.0
        self.values = 0
        self.psnr_sum = 0.0
        self.images = 0

    def add(self, l_input: np.ndarray, ab_predicted: np.ndarray, ab_true: np.ndarray) -> None:
        error = ab_predicted.astype(np.float64) - ab_true
        self.squared_error += float(np.square(error).sum())
        self.values += error.size
        rgb_predicted = lab_to_rgb(lab_from_model(l_input, ab_predicted))
        rgb_true = lab_to_rgb(lab_from_model(l_input, ab_true))
        per_image_mse = np.square(rgb_predicted - rgb_true, dtype=np.float64).mean(axis=(1, 2, 3))
        psnr = 10.0 * np.log10(1.0 / np.maximum(per_image_mse, 10 ** (-PSNR_CAP_DB / 10)))
        self.psnr_sum += float(psnr.sum())
        self.images += len(l_input)

    def result(self) -> dict:
        mse = self.squared_error / self.values
        return {
            "mse": mse,
            "rmse_ab": float(np.sqrt(2.0 * mse) * AB_SCALE),
            "psnr": self.psnr_sum / self.images,
            "n_images": self.images,
        }


def example_indices(n_images: int, n_examples: int) -> np.ndarray:
    """The fixed validation images shown in the plots: evenly spaced over the validation split."""
    return np.unique(np.linspace(0, n_images - 1, min(n_examples, n_images)).round().astype(np.int64))


def evaluate(predict, val: LabShards, batch_size: int) -> dict:
    """Metrics of `predict` (L/100 batch -> ab/128 batch) over every validation image."""
    accumulator = MetricAccumulator()
    for l_input, ab_true in val.batches(batch_size):
        accumulator.add(l_input, predict(l_input), ab_true)
    return accumulator.result()


def predict_gray(l_input: np.ndarray) -> np.ndarray:
    """The do-nothing baseline: ab = 0 everywhere, i.e. the grey image itself."""
    return np.zeros((*l_input.shape[:-1], 2), dtype=np.float32)


def predict_examples(predict, val: LabShards, n_examples: int) -> np.ndarray:
    """Encoded LAB (true L, predicted ab) of the fixed example images, uint8 (n, H, W, 3)."""
    l_input, _ = val.batch(example_indices(len(val), n_examples))
    return encode_lab(lab_from_model(l_input, predict(l_input)))


def format_metrics(metrics: dict) -> str:
    """One summary line of a metrics dict, for the stages' output."""
    return ", ".join(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}" for key, value in metrics.items())
