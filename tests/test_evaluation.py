"""Metrics against values worked out by hand on tiny images."""

import numpy as np
import pytest

from colorization.core.color import lab_to_rgb, rgb_to_lab
from colorization.core.encoding import encode_lab
from colorization.evaluation.metrics import (
    MetricAccumulator,
    colorfulness,
    evaluate,
    example_indices,
    predict_gray,
    ssim,
)
from colorization.lab.shards import LabShards, write_shards


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
    metrics = accumulator.result()
    assert {key: metrics[key] for key in ("mse", "rmse_ab", "psnr", "auc", "auc_rebalanced", "n_images")} == {
        "mse": 0.0,
        "rmse_ab": 0.0,
        "psnr": 100.0,
        "auc": 1.0,
        "auc_rebalanced": 1.0,
        "n_images": 2,
    }
    assert metrics["ssim"] == pytest.approx(1.0)
    assert metrics["colorfulness"] == metrics["colorfulness_truth"]


def test_colorfulness_of_a_red_and_a_blue_pixel():
    rgb = np.array([[[255.0, 0.0, 0.0], [0.0, 0.0, 255.0]]])
    # rg = (255, 0): mean 127.5, sd 127.5. yb = (127.5, -255): mean -63.75, sd 191.25 = 1.5 * 127.5.
    expected = 127.5 * np.sqrt(1 + 1.5**2) + 0.3 * 127.5 * np.sqrt(1 + 0.5**2)
    assert colorfulness(rgb) == pytest.approx(expected)
    # A uniform colour has no spread, only the 0.3 * mean term; any grey scores 0.
    assert colorfulness(np.full((3, 3, 3), [200.0, 100.0, 50.0])) == pytest.approx(0.3 * np.hypot(100.0, 100.0))
    assert colorfulness(np.array([[[10, 10, 10], [240, 240, 240]]], dtype=np.uint8)) == 0.0
    per_image = colorfulness(np.stack([rgb, rgb * 0.5]))
    assert per_image.shape == (2,) and per_image[1] == pytest.approx(expected / 2)


def test_colorfulness_of_predictions_and_truth_and_their_ratio():
    truth_rgb = np.array([[[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]], dtype=np.float32)  # red and blue, 0-1
    lab = rgb_to_lab(truth_rgb)
    l_input, ab_true = lab[..., :1] / 100, lab[..., 1:] / 128
    accumulator = MetricAccumulator()
    accumulator.add(l_input, predict_gray(l_input), ab_true)
    metrics = accumulator.result()
    expected_truth = 127.5 * np.sqrt(1 + 1.5**2) + 0.3 * 127.5 * np.sqrt(1 + 0.5**2)  # as in the test above
    assert metrics["colorfulness_truth"] == pytest.approx(expected_truth, rel=1e-4)
    assert metrics["colorfulness"] == pytest.approx(0.0, abs=0.01)  # grey: no colour, up to rounding
    assert metrics["colorfulness_ratio"] == pytest.approx(0.0, abs=1e-4)


def test_ssim_of_constant_images_compares_their_means():
    c1 = (0.01 * 1.0) ** 2  # skimage's K1 = 0.01, data range 1; no variance, so the contrast term is 1
    truth = np.full((7, 7, 3), 0.5)
    predicted = np.full((7, 7, 3), 0.25)
    assert ssim(truth, predicted) == pytest.approx((2 * 0.5 * 0.25 + c1) / (0.5**2 + 0.25**2 + c1))


def test_ssim_of_a_7x7_checkerboard_uses_the_whole_image_as_its_one_window():
    c1, c2 = 0.01**2, 0.03**2
    x = (np.indices((7, 7)).sum(axis=0) % 2 == 0).astype(np.float64)  # 25 ones, 24 zeros
    y = 0.5 * x + 0.25
    p = 25 / 49
    mean_x, mean_y = p, 0.5 * p + 0.25
    var_x = p * (1 - p) * 49 / 48  # sample variance over the 49 pixels of the only full window
    var_y, cov = 0.25 * var_x, 0.5 * var_x
    expected = ((2 * mean_x * mean_y + c1) * (2 * cov + c2)) / ((mean_x**2 + mean_y**2 + c1) * (var_x + var_y + c2))
    image_x, image_y = np.repeat(x[..., None], 3, axis=-1), np.repeat(y[..., None], 3, axis=-1)
    assert ssim(image_x, image_y) == pytest.approx(expected)


def test_ssim_of_an_image_smaller_than_the_window_compares_pixels():
    c1 = 0.01**2
    truth = np.repeat(np.array([[0.2, 0.8]])[..., None], 3, axis=-1)
    predicted = np.repeat(np.array([[0.2, 0.4]])[..., None], 3, axis=-1)
    expected = (1.0 + (2 * 0.8 * 0.4 + c1) / (0.8**2 + 0.4**2 + c1)) / 2
    assert ssim(truth, predicted) == pytest.approx(expected)


def test_auc_of_four_pixel_errors():
    # ab errors (LAB units) 0, 2.5, 100 (a 60-80-100 triangle) and 200 (beyond the 150 of the curve).
    truth = np.array([[[[0, 0], [0, 0], [0, 0], [-100, 0]]]], dtype=np.float32) / 128
    predicted = np.array([[[[0, 0], [2.5, 0], [60, 80], [100, 0]]]], dtype=np.float32) / 128
    accumulator = MetricAccumulator()
    accumulator.add(np.full((1, 1, 4, 1), 0.5, dtype=np.float32), predicted, truth)
    # share(t) = 1/4 for t = 0..2, 2/4 for t = 3..99, 3/4 for t = 100..150. Trapezoid rule on the
    # integer grid: sum of the 151 values minus half of the two ends, over 150.
    expected = (3 * 0.25 + 97 * 0.5 + 51 * 0.75 - (0.25 + 0.75) / 2) / 150
    assert accumulator.result()["auc"] == pytest.approx(expected)
    # Rebalanced: the three grey pixels are one class (share 1/3, 2/3, 1 over the same ranges of t), the
    # (-100, 0) pixel another (share 0 throughout); each class weighs half.
    rebalanced = (3 * (1 / 6) + 97 * (1 / 3) + 51 * (1 / 2) - (1 / 6 + 1 / 2) / 2) / 150
    assert accumulator.result()["auc_rebalanced"] == pytest.approx(rebalanced)
    assert rebalanced < expected, "the rare colour's miss weighs more once classes are rebalanced"


def test_metrics_streamed_in_batches_equal_metrics_of_one_batch():
    rng = np.random.default_rng(1)
    l_input = rng.random((6, 8, 8, 1), dtype=np.float32)
    truth = rng.uniform(-0.5, 0.5, (6, 8, 8, 2)).astype(np.float32)
    predicted = rng.uniform(-0.5, 0.5, (6, 8, 8, 2)).astype(np.float32)
    whole, streamed = MetricAccumulator(), MetricAccumulator()
    whole.add(l_input, predicted, truth)
    for start in range(0, 6, 4):
        streamed.add(l_input[start : start + 4], predicted[start : start + 4], truth[start : start + 4])
    assert streamed.result() == pytest.approx(whole.result())
    first, second = MetricAccumulator(), MetricAccumulator()
    first.add(l_input[:2], predicted[:2], truth[:2])
    second.add(l_input[2:], predicted[2:], truth[2:])
    assert first.merged(second).result() == pytest.approx(whole.result())
    assert first.result()["n_images"] == 2  # merging leaves the parts as they were


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


def textured(shape=(96, 128), seed=0):
    """A smooth random lightness picture (L units), with detail at several scales for optical flow."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    coarse = rng.uniform(10, 90, (shape[0] // 8, shape[1] // 8)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse).resize((shape[1], shape[0]), Image.Resampling.BICUBIC))


def test_a_still_film_has_cdc_zero_and_a_colour_jump_raises_it_within_its_bound():
    from colorization.evaluation.metrics import colour_distribution_consistency

    frame = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert colour_distribution_consistency([frame] * 6) == 0.0
    red, blue = np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    # red -> blue: R and B histograms disjoint (JS = ln 2), G the same: ln 2 * 2/3 for every pair 1 apart
    steps = colour_distribution_consistency([red, blue], steps=(1,))
    assert steps == pytest.approx(np.log(2) * 2 / 3)
    alternating = colour_distribution_consistency([red, blue] * 3)  # 1 apart: jumps; 2 and 4 apart: the same
    assert alternating == pytest.approx(np.log(2) * 2 / 3 / 3)
    assert np.isnan(colour_distribution_consistency([red, blue, red]))  # shorter than 4 + 1 frames


def test_a_shifted_frame_is_warped_back_and_its_flow_is_the_shift():
    from colorization.core import flow

    picture = textured((140, 180))
    frame, shifted = picture[10:106, 20:148], picture[13:109, 15:143]  # content moves 5 right, 3 up
    forward = flow.optical_flow(frame, shifted)
    inner = (slice(12, -12), slice(12, -12))
    np.testing.assert_allclose(np.median(forward[inner].reshape(-1, 2), axis=0), [5, -3], atol=0.05)
    assert np.abs(flow.warp(shifted, forward) - frame)[inner].mean() < 0.2
    assert np.abs(shifted - frame)[inner].mean() > 5
    backward = flow.optical_flow(shifted, frame)
    assert flow.reliable(forward, backward)[inner].all()
    assert flow.consistency(forward, backward, 1.0)[inner].mean() > 0.9


def test_the_warping_error_is_zero_for_colour_that_moves_with_the_picture_and_not_for_colour_that_stays():
    from colorization.evaluation.metrics import warping_error

    picture = textured((140, 180), seed=1)
    colour = np.stack([picture - 50, 50 - picture], axis=-1)  # a colour that belongs to the picture
    window = [(slice(10 + 2 * t, 106 + 2 * t), slice(20 + 3 * t, 148 + 3 * t)) for t in range(4)]  # a pan
    lightness = [picture[w] for w in window]
    following = [colour[w] for w in window]
    staying = [colour[window[0]]] * 4  # the first frame's colour painted on every frame
    moving = warping_error(lightness, following)
    assert moving < 0.02 * warping_error(lightness, staying)  # what is left: the edges, which leave the frame
    assert warping_error(lightness, staying) > 1e-3
    assert np.isnan(warping_error(lightness[:1], following[:1]))
