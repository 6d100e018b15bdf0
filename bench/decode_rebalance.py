"""Colour against accuracy of one trained classification model, decoded at several rebalancings and
temperatures: `python -m bench.decode_rebalance NAME [--lambdas L,...] [--temperatures T,...]`.

Run in a project whose `dvc repro` is up to date: it reads models/NAME, data/lab's validation split,
data/prior.json and the lambda the model was trained with (params.yaml's classification.rebalance).
The network runs once per batch; every (decode_rebalance, T) pair decodes the same logits with the
loss object a model saved with those params would have. Prints a markdown table of MSE, AuC, PSNR,
SSIM and colourfulness ratio on every validation image, and AuC and colourfulness ratio on the
even-numbered ones (to choose a setting on) and the odd-numbered ones (to report it on), with the grey
image's row.
"""

import argparse
import itertools

import numpy as np

from colorization.core.paths import PROJECT
from colorization.evaluation.metrics import MetricAccumulator, predict_gray
from colorization.lab.meta import open_prepared
from colorization.losses import classification
from colorization.models import saved

HALVES = ("even", "odd")
HALF_COLUMNS = ("auc", "colorfulness_ratio")


def numbers(text: str) -> list[float]:
    return [float(value) for value in text.split(",")]


def sweep(name: str, lambdas: list[float], temperatures: list[float], batch_size: int = 64) -> dict:
    """{setting: (even, odd) MetricAccumulators}; settings are (lambda, T) pairs and "grey"."""
    network, spec = saved.load(PROJECT.model(name))
    if not isinstance(spec.loss_args, classification.Classification.Args):
        raise SystemExit(f"models/{name} was trained with loss {spec.loss}, not classification")
    trained_with = spec.loss_args.rebalance
    prior = classification.smoothed_prior(classification.read_prior(PROJECT.prior))
    settings = ["grey", *itertools.product(lambdas, temperatures)]
    decoders = {
        (value, temperature): classification.Classification(
            temperature=temperature, class_bias=classification.decode_bias(prior, trained_with, value)
        )
        for value, temperature in settings[1:]
    }
    results = {setting: tuple(MetricAccumulator() for _ in HALVES) for setting in settings}
    network.loss.decode = lambda logits: logits  # the raw logits, decoded below once per setting
    val = open_prepared(PROJECT.lab).val
    for start in range(0, len(val), batch_size):
        indices = np.arange(start, min(start + batch_size, len(val)))
        l_input, ab_true = val.batch(indices)
        logits = network.predict(l_input)
        for setting in settings:
            ab = predict_gray(l_input) if setting == "grey" else decoders[setting].decode(logits)
            for half, accumulator in enumerate(results[setting]):
                chosen = indices % 2 == half
                accumulator.add(l_input[chosen], ab[chosen], ab_true[chosen])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="a classification model of models/")
    parser.add_argument("--lambdas", type=numbers, default=[0.5, 0.7, 0.8, 0.85, 0.9, 1.0])
    parser.add_argument("--temperatures", type=numbers, default=[0.2, 0.38, 0.6])
    args = parser.parse_args()
    results = sweep(args.name, args.lambdas, args.temperatures)
    columns = ("mse", "auc", "psnr", "ssim", "colorfulness_ratio")
    print(
        "| decode_rebalance | T | "
        + " | ".join(columns)
        + " | "
        + " | ".join(f"{half}: {column}" for half in HALVES for column in HALF_COLUMNS)
        + " |"
    )
    print("|" + " --- |" * (2 + len(columns) + len(HALVES) * len(HALF_COLUMNS)))
    for setting, halves in results.items():
        label = "grey image | -" if setting == "grey" else f"{setting[0]:g} | {setting[1]:g}"
        whole = halves[0].merged(halves[1]).result()
        parts = [half.result() for half in halves]
        print(
            f"| {label} | "
            + " | ".join(f"{whole[column]:.4f}" for column in columns)
            + " | "
            + " | ".join(f"{part[column]:.4f}" for part in parts for column in HALF_COLUMNS)
            + " |",
            flush=True,
        )


if __name__ == "__main__":
    main()
