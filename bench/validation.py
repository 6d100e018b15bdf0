"""Models side by side on one project's validation split: `python -m bench.validation PROJECT --models NAME ...
[--leave-out ARCHIVE.tar] [--points N ...]`.

Each model is scored as evaluate@NAME scores its own (`evaluation.metrics.evaluate` with the judge, and
for a model with a hint input `evaluation.hints.hint_metrics`), so a shipped model and a new one are
compared on the same photos. `--leave-out` drops the validation photos that are members of an archive
(by their path in it), e.g. the archive a shipped model trained on, so that neither model has seen
what it is scored on. NAMEs are what `colorize --model` takes, run from the project root (models/NAME,
or a shipped model). Prints a Markdown table: the grey image, then each model at each of `--points`.
"""

import argparse
import csv
import tarfile
from pathlib import Path

import numpy as np

from colorization.colorize.render import load_model
from colorization.evaluation.hints import hint_metrics
from colorization.evaluation.judge import Judge
from colorization.evaluation.metrics import evaluate, predict_gray
from colorization.lab.meta import open_prepared

KEYS = ("psnr", "auc", "auc_rebalanced", "colorfulness_ratio", "semantic_agreement", "semantic_kl", "fd_lite2")


class Subset:
    """The validation images at `indices`, read in batches as `LabShards.batches` reads all of them."""

    def __init__(self, shards, indices: np.ndarray):
        self.shards, self.indices = shards, indices

    def __len__(self) -> int:
        return len(self.indices)

    def batches(self, batch_size: int):
        for start in range(0, len(self.indices), batch_size):
            yield self.shards.batch(self.indices[start : start + batch_size])


def kept_images(project: Path, leave_out: list[Path]) -> np.ndarray:
    """Positions of the validation images whose file is in none of the `leave_out` archives."""
    members = set()
    for archive in leave_out:
        with tarfile.open(archive) as tar:
            members.update(member.name for member in tar.getmembers() if member.isfile())
    with open(project / "data" / "lab" / "val" / "index.csv", newline="") as index:
        rows = list(csv.DictReader(index))
    return np.array([int(row["position"]) for row in rows if row["file"] not in members], dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--leave-out", nargs="*", type=Path, default=[], help="archives whose photos to skip")
    parser.add_argument("--points", nargs="+", type=int, default=[0, 10], help="rows of hint models to print")
    parser.add_argument("--images", type=int, help="only the first N of them (a quick look)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    kept = kept_images(args.project, args.leave_out)[: args.images]
    val = Subset(open_prepared(args.project / "data" / "lab").val, kept)
    print(f"{len(val)} validation images of {args.project}" + "".join(f", none of {a}" for a in args.leave_out))
    judge = Judge()
    rows = {"grey image": evaluate(predict_gray, val, args.batch_size, judge)}
    for name in args.models:
        network = load_model(name, args.project).network
        metrics = evaluate(network.predict, val, args.batch_size, judge)
        if not network.hints:
            rows[name] = metrics
            continue
        curve, _ = hint_metrics(network.predict, val, args.batch_size, metrics)
        for row in curve:
            if row["points"] in args.points:
                rows[f"{name}, {row['points']} points"] = metrics | row if row["points"] == 0 else row
    print("| model | " + " | ".join(KEYS) + " |")
    print("| --- " * (len(KEYS) + 1) + "|")
    for label, result in rows.items():
        print(f"| {label} | " + " | ".join(f"{result[key]:.4f}" if key in result else "" for key in KEYS) + " |")


if __name__ == "__main__":
    main()
