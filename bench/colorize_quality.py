"""What `colorize` gets right on real photos and films: `python -m bench.colorize_quality MODELS PHOTOS`.

MODELS is a folder of trained model folders (a project's models/), PHOTOS a folder of colour photos (the
shared places_sample). Prints two tables, measured on those photos turned grey:

- shapes: each photo centre-cropped to 2:1 and to 1:2, colorized with the network seeing a square (how
  `colorize` worked before) or the photo's own aspect ratio, at several render sizes; MSE (ab/128), AuC
  and colourfulness ratio against the true colours.
- films: a 640x480 film of panning shots cut from the photos (grey, with grain, exposure flicker and
  gate weave; one shot per photo, slow and fast pans in turn), colorized without smoothing, with the
  moving average and with flow-guided smoothing: block flicker (`evaluation.metrics.flicker`), TCVC's
  CDC of the RGB frames and of ab alone and the warping error (each within shots: a cut is not
  flicker), MSE and AuC of the output frames against the true colours (and MSE of the fast shots
  alone, where colour lagging behind motion would show), scene cuts found, and frames per second of
  the whole film path (decode, colorize, encode). The first row is what a perfect colorizer would score:
  the true colours on the input's lightness.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from colorization.colorize.films import TemporalSmoothing, colorize_film
from colorization.colorize.render import load_model, upsample_ab
from colorization.core.color import lab_to_rgb, rgb_to_lab
from colorization.core.encoding import AB_SCALE
from colorization.evaluation.metrics import MetricAccumulator, colour_distribution_consistency, flicker, warping_error

from .workloads import panning_frames, read_film_lab, read_film_rgb, write_film

RENDER_SIZES = (64, 128, 256)
SMOOTHING = {  # label: TemporalSmoothing's settings
    "off": {"weight": 0.0},
    "moving average 0.8": {"weight": 0.8, "flow": False},
    "flow 0.8": {"weight": 0.8, "flow": True},
    "flow 0.9": {"weight": 0.9, "flow": True},
    "flow 0.95": {"weight": 0.95, "flow": True},
}
SPEEDS = (1, 12)  # pixels a frame, shot after shot: a slow pan (flicker shows) and a fast one (lag shows)


def centre_crop(rgb: np.ndarray, aspect: float) -> np.ndarray:
    """The largest centred crop of width / height = aspect."""
    height, width = rgb.shape[:2]
    if width / height > aspect:
        new = round(height * aspect)
        return rgb[:, (width - new) // 2 : (width - new) // 2 + new]
    new = round(width / aspect)
    return rgb[(height - new) // 2 : (height - new) // 2 + new]


def colour_photos(folder: Path, prefix: str) -> list[np.ndarray]:
    photos = []
    for path in sorted(folder.glob(f"{prefix}*.jpg")):
        with Image.open(path) as image:
            if image.mode == "RGB":
                photos.append(np.asarray(image))
    return photos


def shapes(model, photos: list[np.ndarray]) -> list[tuple]:
    rows = []
    crops = {aspect: [rgb_to_lab(centre_crop(photo, aspect)) for photo in photos] for aspect in (2.0, 0.5)}
    for aspect, labs in crops.items():
        for render_size in RENDER_SIZES:
            for square in (True, False):
                accumulator = MetricAccumulator()
                for lab in labs:
                    lightness = lab[..., 0]
                    ab = model.predict_ab(lightness, render_size, square)
                    predicted = upsample_ab(ab, (lightness.shape[1], lightness.shape[0]))
                    accumulator.add(
                        lightness[None, ..., None] / 100.0, predicted[None] / AB_SCALE, lab[None, ..., 1:] / AB_SCALE
                    )
                result = accumulator.result()
                rows.append(
                    (
                        "2:1" if aspect == 2.0 else "1:2",
                        render_size,
                        "square" if square else "aspect",
                        result["mse"],
                        result["auc"],
                        result["colorfulness_ratio"],
                    )
                )
    return rows


def ab_levels(ab: np.ndarray) -> np.ndarray:
    """ab (H, W, 2) in LAB units as 256 levels (-128..127) for histograms: the colour alone."""
    return np.clip(np.rint(ab + 128), 0, 255).astype(np.uint8)


def per_shot(metric, frames_per_shot: int, *films: list) -> float:
    """`metric`(*the shot's frames of each film) averaged over the shots: a cut is not flicker."""
    shots = range(0, len(films[0]), frames_per_shot)
    return float(np.mean([metric(*(film[start : start + frames_per_shot] for film in films)) for start in shots]))


def films(model, photos: list[np.ndarray], work: Path, frames_per_shot: int, size=(640, 480)) -> list[tuple]:
    """Rows of the films table: the truth first (what the true colour film scores), then each of SMOOTHING."""
    frames = list(panning_frames(photos, frames_per_shot, size, speeds=SPEEDS))
    film = work / "film.mp4"
    write_film(film, (grey for _, grey in frames), 24, audio_seconds=1.0)
    truth = [colour for colour, _ in frames]
    true_lab = [rgb_to_lab(frame) for frame in truth]
    input_lightness, _ = read_film_lab(film)

    def steadiness(rgb, ab):  # flicker, CDC of RGB and of ab, warping error
        return (
            flicker(input_lightness, ab)[0],
            per_shot(colour_distribution_consistency, frames_per_shot, rgb),
            per_shot(colour_distribution_consistency, frames_per_shot, [ab_levels(plane) for plane in ab]),
            per_shot(warping_error, frames_per_shot, input_lightness, ab),
        )

    # A perfect colorizer's output: the true colours on the input's lightness (its grain and flicker too).
    perfect = [
        np.rint(lab_to_rgb(np.concatenate([lightness[..., None], lab[..., 1:]], axis=-1)) * 255).astype(np.uint8)
        for lightness, lab in zip(input_lightness, true_lab)
    ]
    rows = [("truth", *steadiness(perfect, [lab[..., 1:] for lab in true_lab]), 0.0, 1.0, 0.0, 5, float("nan"))]
    for label, settings in SMOOTHING.items():
        output = work / "coloured.mp4"
        started = time.perf_counter()
        report = colorize_film(film, output, model, smoothing=TemporalSmoothing(**settings))
        seconds = time.perf_counter() - started
        rgb = read_film_rgb(output)
        ab = [rgb_to_lab(frame)[..., 1:] for frame in rgb]
        accumulator = MetricAccumulator()
        for lab, predicted in zip(true_lab, ab):
            accumulator.add(lab[None, ..., :1] / 100.0, predicted[None] / AB_SCALE, lab[None, ..., 1:] / AB_SCALE)
        fast = MetricAccumulator()  # the frames of the fast shots, where colours lagging behind would show
        for index in range(len(ab)):
            if index // frames_per_shot % len(SPEEDS):
                fast.add(
                    true_lab[index][None, ..., :1] / 100.0,
                    ab[index][None] / AB_SCALE,
                    true_lab[index][None, ..., 1:] / AB_SCALE,
                )
        result = accumulator.result()
        rows.append(
            (
                label,
                *steadiness(rgb, ab),
                result["mse"],
                result["auc"],
                fast.result()["mse"],
                report.scene_cuts,
                report.frames / seconds,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", type=Path)
    parser.add_argument("photos", type=Path)
    parser.add_argument("--names", nargs="+", default=["resnet18", "resnet18_cls", "unet_gan"])
    parser.add_argument("--film-photos", type=int, default=6, help="shots in the film (one per Places365 photo)")
    parser.add_argument("--frames-per-shot", type=int, default=24)
    args = parser.parse_args()
    groups = {
        "Places365 (20)": colour_photos(args.photos, "Places365"),
        "MiniPlaces val (500)": colour_photos(args.photos, "miniplaces"),
    }
    for name in args.names:
        model = load_model(str(args.models / name), args.models.parent)
        for group, photos in groups.items():
            print(f"\n{name}, {group}: crop | render size | network sees | mse | auc | colourfulness ratio")
            for row in shapes(model, photos):
                print(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]:.4f} | {row[4]:.3f} | {row[5]:.3f} |", flush=True)
        with tempfile.TemporaryDirectory() as work:
            print(
                f"\n{name}, film of {args.film_photos} shots x {args.frames_per_shot} frames, 640x480: smoothing | "
                f"flicker | CDC (RGB) | CDC (ab) | warping error | mse | auc | mse of the fast shots | scene cuts | "
                f"frames/s"
            )
            for row in films(model, groups["Places365 (20)"][: args.film_photos], Path(work), args.frames_per_shot):
                print(
                    f"| {row[0]} | {row[1]:.3f} | {row[2]:.5f} | {row[3]:.5f} | {row[4]:.2e} | {row[5]:.4f} "
                    f"| {row[6]:.3f} | {row[7]:.4f} | {row[8]} | {row[9]:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
