"""Metrics against values worked out by hand on tiny images."""

import numpy as np
import pytest

from colorization.color import encode_lab, lab_to_rgb, rgb_to_lab
from colorization.evaluation import MetricAccumulator, evaluate, example_indices, predict_gray
from colorization.shards import LabShards, write_shards


def test_mse_and_rmse_ab_on_a_two_pixel_image():
    l_input = np.full((1, 1, 2, 1), 0.5, dtype=np.float32)
    truth = np.array([[[[0.0, 0.0], [0.25, -0.25]]]], dtype=np.float32)
    predicted = np.array([[[[0.5, 0.0], [0.25, -0.25]]]], dtype=np.float32)
    accumulator = MetricAccumulator()
    accumulator.add(l_input, predicted, truth)
    metrics = accumulator.result()
    # One of four values is off by 0.5: MSE = 0.25 / 4. In LAB units pixel 1 is off by 64 in a: the mean
    # squared ab distance over two pixels is 64^2 / 2, so RMSE = 64 / sqrt(2).
    assert metrics["mse"] == pytest.approx(0.0625)
    assert metrics["rmse_ab"] == pytest.approx(64 / np.sqrt(2))
    assert metrics["n_images"] == 1


def test_psnr_of_a_known_rgb_error():
    truth_rgb = np.full((1, 4, 4, 3), 0.5, dtype=np.float32)
    lab = rgb_to_lab(truth_rgb)
    l_input = lab[..., :1] / 100
    ab_true = lab[..., 1:] / 128
    ab_predicted = rgb_to_lab(np.full((1, 4, 4, 3), [0.6, 0.5, 0.5], dtype=np.float32))[..., 1:] / 128
    accumulator = MetricAccumulator()
    accumulator.add(l_input, ab_predicted, ab_true)
    rgb_predicted = lab_to_rgb(np.concatenate([lab[..., :1], ab_predicted * 128], axis=-1))
    expected = 10 * np.log10(1 / np.mean((rgb_predicted - truth_rgb) ** 2))
    assert accumulator.result()["psnr"] == pytest.approx(expected, rel=1e-4)


def test_a_perfect_prediction_is_capped_at_100_db_and_has_zero_error():
    truth = np.zeros((2, 4, 4, 2), dtype=np.float32)
    accumulator = MetricAccumulator()
    accumulator.add(np.full((2, 4, 4, 1), 0.3, dtype=np.float32), truth, truth)
    assert accumulator.result() == {"mse": 0.0, "rmse_ab": 0.0, "psnr": 100.0, "n_images": 2}


def test_grey_baseline_error_is_the_mean_squared_chroma(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    encoded = encode_lab(rgb_to_lab(rgb))
    write_shards(iter(encoded), 6, (8, 8, 3), tmp_path, shard_size=4)
    metrics = evaluate(predict_gray, LabShards(tmp_path), batch_size=4)
    ab = (encoded[..., 1:].astype(np.float64) - 128) / 128
    assert metrics["mse"] == pytest.approx(np.mean(ab**2))
    assert metrics["n_images"] == 6


def test_example_indices_are_spread_and_bounded():
    assert example_indices(100, 5).tolist() == [0, 25, 50, 74, 99]
    assert example_indices(3, 6).tolist() == [0, 1, 2]
