"""A trained model's decoding curve: its metrics at each value of its loss's decode-only sweep. Apart from
`metrics`, so that the stages that only score (baseline, plots) do not load the losses."""

from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import losses
from ..lab.shards import LabShards
from .metrics import MetricAccumulator

CURVE_METRICS = ("mse", "auc", "auc_rebalanced", "colorfulness_ratio")
JUDGED = ("semantic_agreement", "semantic_kl", "fd_lite2")  # with a judge


def decoding_curve(
    network, spec, val: LabShards, batch_size: int, prior_path: Path, trained: dict, judge=None
) -> list[dict]:
    """The metrics of a trained model decoded at each value of its loss's sweep (`LossInfo.sweep`, e.g.
    the classification loss's decode_rebalance), without retraining it: one row per value, the colour
    it gains against the accuracy it costs. A loss without a sweep gives the one row of the model as
    trained, taken from `trained`, its metrics already computed. `prior_path`: the training images' ab
    prior, which some decodings are computed from. With a `judge`, each row has its verdicts too."""
    keys = CURVE_METRICS + (JUDGED if judge is not None else ())
    loss_type = losses.get(spec.loss)
    if loss_type.info.sweep is None:
        return [{key: trained[key] for key in keys}]
    setting, values = loss_type.info.sweep
    decodings = [loss_type.for_training(replace(spec.loss_args, **{setting: value}), prior_path) for value in values]
    accumulators = [MetricAccumulator(judge) for _ in values]
    own = network.loss
    network.loss = _Decodings(decodings)
    try:
        for l_input, ab_true in val.batches(batch_size):
            stacked = network.predict(l_input)  # one forward pass, every decoding of it side by side
            for index, accumulator in enumerate(accumulators):
                accumulator.add(l_input, stacked[..., 2 * index : 2 * index + 2], ab_true)
    finally:
        network.loss = own
    rows = []
    for value, accumulator in zip(values, accumulators):
        metrics = accumulator.result()
        rows.append({setting: value} | {key: metrics[key] for key in keys})
    return rows


class _Decodings:
    """Decodes a network's output with each of several losses: their ab side by side on the last axis,
    so that one forward pass serves every row of the curve."""

    def __init__(self, decodings: list):
        self.decodings = decodings

    def decode(self, output):
        return np.concatenate([decoding.decode(output) for decoding in self.decodings], axis=-1)
