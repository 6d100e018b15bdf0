"""Quality against colour hints, for a model with a hint input (`ModelSpec.hints`): the metrics over every
validation image when 0, 1, 2, 5, 10 and 20 points of the truth are revealed to it (`core.hints.reveal`:
squares of side POINT_SIDE at uniformly drawn places, from a generator seeded with SEED, the same for
every model and run; the first n of each image's 20 points make its n-point set), and how local one
hint's effect is.

Locality: with one point revealed, the mean ab change (LAB units, Euclidean) from the prediction without
hints, over the pixels within NEAR of the point's centre ("near") and over the pixels farther than FAR
("far"); and over the near pixels, the mean ab distance to the revealed colour without and with it.
"""

import numpy as np

from ..core import hints
from ..core.encoding import AB_SCALE
from ..lab.shards import LabShards
from .metrics import MetricAccumulator

POINTS = (0, 1, 2, 5, 10, 20)
SEED = 2017
CURVE_METRICS = ("psnr", "auc", "auc_rebalanced", "colorfulness_ratio", "mse")
NEAR = 1 / 16  # of the image's shorter side: the region a hint should change
FAR = 1 / 4  # of the shorter side: beyond this, a hint should change little


def _distances(height: int, width: int, centres: np.ndarray) -> np.ndarray:
    """Distance (B, H, W) of every pixel from each image's point centre (B, 2) = (row, column)."""
    rows, columns = np.mgrid[0:height, 0:width]
    return np.hypot(rows[None] - centres[:, 0, None, None], columns[None] - centres[:, 1, None, None])


def hint_metrics(predict, val: LabShards, batch_size: int, no_hints: dict) -> tuple[list[dict], dict]:
    """The rows of quality against revealed points (the 0-point row from `no_hints`, the metrics without
    hints already computed) and the locality figures, for `predict(l_input, hints)`."""
    rng = np.random.default_rng(SEED)
    accumulators = {points: MetricAccumulator() for points in POINTS if points}
    near_change = far_change = before = after = 0.0
    near_pixels = far_pixels = 0
    for l_input, ab_true in val.batches(batch_size):
        batch, height, width, _ = ab_true.shape
        corners = hints.positions(rng, batch, max(POINTS), height, width)
        plain = predict(l_input, None)
        for points, accumulator in accumulators.items():
            revealed = hints.reveal(ab_true, corners[:, :points])
            prediction = predict(l_input, revealed)
            accumulator.add(l_input, prediction, ab_true)
            if points != 1:
                continue
            side = min(hints.POINT_SIDE, height, width)
            distance = _distances(height, width, corners[:, 0] + (side - 1) / 2)
            near, far = distance <= NEAR * min(height, width), distance > FAR * min(height, width)
            change = np.linalg.norm(prediction - plain, axis=-1) * AB_SCALE
            near_change += float(change[near].sum())
            far_change += float(change[far].sum())
            colour = revealed[np.arange(batch), corners[:, 0, 0], corners[:, 0, 1], :2]
            target = np.broadcast_to(colour[:, None, None, :], prediction.shape)
            before += float((np.linalg.norm(plain - target, axis=-1) * AB_SCALE)[near].sum())
            after += float((np.linalg.norm(prediction - target, axis=-1) * AB_SCALE)[near].sum())
            near_pixels += int(near.sum())
            far_pixels += int(far.sum())
    rows = [{"points": 0} | {key: no_hints[key] for key in CURVE_METRICS}]
    for points, accumulator in accumulators.items():
        result = accumulator.result()
        rows.append({"points": points} | {key: result[key] for key in CURVE_METRICS})
    locality = {
        "near_change": near_change / near_pixels,
        "far_change": far_change / far_pixels,
        "near_distance_to_hint_before": before / near_pixels,
        "near_distance_to_hint_after": after / near_pixels,
    }
    return rows, locality


def curve_without_hints(no_hints: dict) -> list[dict]:
    """The curve of a model without a hint input: its one row, at 0 points."""
    return [{"points": 0} | {key: no_hints[key] for key in CURVE_METRICS}]
