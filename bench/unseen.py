"""How models colour photos nobody trained on: `python -m bench.unseen PHOTOS [--models NAME ...]`.

PHOTOS is a folder of colour photos (e.g. the shared places_sample/, whose miniplaces_* are MiniPlaces
validation photos, disjoint from the 24k training archive). Each is turned grey and colorized the way
`colorize` does (the network sees its lightness at the model's training size and the photo's aspect,
the ab is upsampled to the photo); prints the grey image's and each model's MSE, AuC, class-rebalanced
AuC, colourfulness ratio and what the judge (`evaluation.judge`: EfficientNet-Lite2's ImageNet
classes) sees, beside the grey image's, over all photos. `--skimage` takes scikit-image's bundled
colour photos instead of a folder: objects (a cat, a cup, a rocket, an astronaut, a motorcycle), not
scenes. A NAME is what `colorize --model` takes, run from the
project root: models/NAME, or a shipped model (reference). With `--points N ...`, a model that takes
colour hints is also told N points of each photo's truth (`core.hints.reveal`, as evaluate@NAME does,
from the truth's ab resized to the network's input, seeded).
"""

import argparse
from pathlib import Path

import numpy as np

from colorization.colorize.render import load_model, upsample_ab
from colorization.core import hints
from colorization.core.color import rgb_to_lab
from colorization.core.encoding import AB_SCALE
from colorization.evaluation.hints import SEED
from colorization.evaluation.judge import Judge
from colorization.evaluation.metrics import MetricAccumulator

from .colorize_quality import colour_photos

KEYS = ("mse", "psnr", "auc", "auc_rebalanced", "colorfulness_ratio", "semantic_agreement", "semantic_kl", "fd_lite2")
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


def skimage_photos() -> list[np.ndarray]:
    """scikit-image's bundled colour photos (and the left view of its stereo motorcycle), uint8 RGB."""
    import skimage.data

    return [getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS] + [skimage.data.stereo_motorcycle()[0]]


def score(predict, labs: list[np.ndarray], judge: Judge) -> dict:
    """Metrics of `predict(lab) -> ab` (LAB units, any size) over the photos' LAB arrays."""
    accumulator = MetricAccumulator(judge)
    for lab in labs:
        lightness = lab[..., 0]
        predicted = predict(lab)
        accumulator.add(lightness[None, ..., None] / 100.0, predicted[None] / AB_SCALE, lab[None, ..., 1:] / AB_SCALE)
    return accumulator.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, nargs="?", help="a folder of colour photos")
    parser.add_argument("--skimage", action="store_true", help="scikit-image's bundled colour photos instead")
    parser.add_argument("--models", nargs="+", default=["reference"])
    parser.add_argument("--prefix", default="", help="only the photos whose names start with this")
    parser.add_argument("--points", nargs="+", type=int, default=[0], help="truth points told to hint models")
    args = parser.parse_args()
    if args.skimage == (args.photos is not None):
        parser.error("give a folder of photos or --skimage")
    photos = skimage_photos() if args.skimage else colour_photos(args.photos, args.prefix)
    labs = [rgb_to_lab(photo) for photo in photos]
    print(f"{len(labs)} photos from {'scikit-image' if args.skimage else args.photos}")
    judge = Judge()
    print("| model | " + " | ".join(KEYS) + " |")
    print("| --- " * (len(KEYS) + 1) + "|")
    rows = {"grey image": score(lambda lab: np.zeros((*lab.shape[:2], 2), np.float32), labs, judge)}
    for name in args.models:
        model = load_model(name, Path("."))
        for points in args.points if model.takes_hints else [0]:
            rng = np.random.default_rng(SEED)

            def predict(lab, model=model, points=points, rng=rng):
                small = model.network_lightness(lab[..., 0])
                told = None
                if points:
                    truth = upsample_ab(lab[..., 1:], (small.shape[1], small.shape[0]))[None] / AB_SCALE
                    told = hints.reveal(truth, hints.positions(rng, 1, points, *small.shape))
                ab = model.predict(small, told)
                return upsample_ab(ab, (lab.shape[1], lab.shape[0]))

            rows[name if points == 0 else f"{name}, {points} points"] = score(predict, labs, judge)
    for name, result in rows.items():
        print(f"| {name} | " + " | ".join(f"{result[key]:.4f}" for key in KEYS) + " |")


if __name__ == "__main__":
    main()
