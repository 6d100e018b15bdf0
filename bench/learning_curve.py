"""Quality against photos seen: `python -m bench.learning_curve PROJECT NAME SNAPSHOTS [--images N]`.

PROJECT is a project folder whose pipeline trained models/NAME; SNAPSHOTS a folder of copies of its
per-epoch checkpoints (`checkpoints/NAME/epoch_NNNN/`: the training keeps only the newest, so copy each
as it appears). Each epoch's weights are scored on the first N validation images (default all): raw and
rebalanced AuC, colourfulness ratio and the judge's verdicts, with the grey image's beside them. Prints
a Markdown table, photos seen = epochs x training images.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from colorization.evaluation.judge import Judge
from colorization.evaluation.metrics import MetricAccumulator, predict_gray
from colorization.lab.meta import open_prepared
from colorization.models import saved

KEYS = ("auc", "auc_rebalanced", "colorfulness_ratio", "semantic_agreement", "semantic_kl", "fd_lite2")


def score(predict, val, images: int, judge: Judge, batch_size: int = 64) -> dict:
    accumulator = MetricAccumulator(judge)
    for start in range(0, images, batch_size):
        l_input, ab_true = val.batch(np.arange(start, min(start + batch_size, images)))
        accumulator.add(l_input, predict(l_input), ab_true)
    return accumulator.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path)
    parser.add_argument("name")
    parser.add_argument("snapshots", type=Path)
    parser.add_argument("--images", type=int, default=None)
    args = parser.parse_args()
    val = open_prepared(args.project / "data" / "lab").val
    images = min(args.images or len(val), len(val))
    network, spec = saved.load(args.project / "models" / args.name)
    judge = Judge()
    rows = {"grey image": score(predict_gray, val, images, judge)}
    for snapshot in sorted(args.snapshots.glob("epoch_*")):
        state = torch.load(snapshot / "checkpoint.pt", map_location="cpu", weights_only=True)
        network.module.load_state_dict(state["model"])
        epochs = len(json.loads((snapshot / "state.json").read_text())["history"])
        rows[f"{epochs} epochs, {epochs * spec.train_images:,} photos"] = score(network.predict, val, images, judge)
    print(f"{args.name}: {images} validation images of {args.project}")
    print("| weights | " + " | ".join(KEYS) + " |")
    print("| --- " * (len(KEYS) + 1) + "|")
    for label, result in rows.items():
        print(f"| {label} | " + " | ".join(f"{result[key]:.4f}" for key in KEYS) + " |")


if __name__ == "__main__":
    main()
