"""How models colour photos nobody trained on: `python -m bench.unseen PHOTOS [--models NAME ...]`.

PHOTOS is a folder of colour photos (e.g. the shared places_sample/, whose miniplaces_* are MiniPlaces
validation photos, disjoint from the 24k training archive). Each is turned grey and colorized the way
`colorize` does (the network sees its lightness at the model's training size and the photo's aspect,
the ab is upsampled to the photo); prints the grey image's and each model's MSE, AuC, class-rebalanced
AuC and colourfulness ratio over all photos. A NAME is what `colorize --model` takes, run from the
project root: models/NAME, or a shipped model (reference).
"""

import argparse
from pathlib import Path

import numpy as np

from colorization.colorize.render import load_model, upsample_ab
from colorization.core.color import rgb_to_lab
from colorization.core.encoding import AB_SCALE
from colorization.evaluation.metrics import MetricAccumulator

from .colorize_quality import colour_photos

KEYS = ("mse", "auc", "auc_rebalanced", "colorfulness_ratio")


def score(predict, labs: list[np.ndarray]) -> dict:
    """Metrics of `predict(lightness) -> ab` (LAB units, any size) over the photos' LAB arrays."""
    accumulator = MetricAccumulator()
    for lab in labs:
        lightness = lab[..., 0]
        predicted = predict(lightness)
        accumulator.add(lightness[None, ..., None] / 100.0, predicted[None] / AB_SCALE, lab[None, ..., 1:] / AB_SCALE)
    return accumulator.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path)
    parser.add_argument("--models", nargs="+", default=["reference"])
    parser.add_argument("--prefix", default="", help="only the photos whose names start with this")
    args = parser.parse_args()
    labs = [rgb_to_lab(photo) for photo in colour_photos(args.photos, args.prefix)]
    print(f"{len(labs)} photos from {args.photos}")
    print("| model | " + " | ".join(KEYS) + " |")
    print("| --- " * (len(KEYS) + 1) + "|")
    rows = {"grey image": score(lambda lightness: np.zeros((*lightness.shape, 2), np.float32), labs)}
    for name in args.models:
        model = load_model(name, Path("."))

        def predict(lightness, model=model):
            ab = model.predict_ab(lightness, None, False)
            return upsample_ab(ab, (lightness.shape[1], lightness.shape[0]))

        rows[name] = score(predict, labs)
    for name, result in rows.items():
        print(f"| {name} | " + " | ".join(f"{result[key]:.4f}" for key in KEYS) + " |")


if __name__ == "__main__":
    main()
