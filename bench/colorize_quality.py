"""What `colorize` gets right on real photos and films: `python -m bench.colorize_quality MODELS PHOTOS`.

MODELS is a folder of trained model folders (a project's models/), PHOTOS a folder of colour photos (the
shared places_sample). Prints two tables, measured on those photos turned grey:

- shapes: each photo centre-cropped to 2:1 and to 1:2, colorized with the network seeing a square (how
  `colorize` worked before) or the photo's own aspect ratio, at several render sizes; MSE (ab/128), AuC
  and colourfulness ratio against the true colours.
- films: a 640x480 film of panning shots cut from the photos (grey, with grain, exposure flicker and
  gate weave; one shot per photo, slow and fast pans in turn), colorized at several smoothing weights:
  flicker (`evaluation.metrics.flicker`), MSE and AuC of the output frames against the true colours (and
  MSE of the fast shots alone, where colour lagging behind motion would show), scene cuts found, and
  frames per second of the whole film path (decode, colorize, encode).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from colorization.colorize.films import TemporalSmoothing, colorize_film
from colorization.colorize.render import load_model, upsample_ab
from colorization.core.color import rgb_to_lab
from colorization.core.encoding import AB_SCALE
from colorization.evaluation.metrics import MetricAccumulator, flicker

from .workloads import panning_frames, read_film_lab, write_film

RENDER_SIZES = (64, 128, 256)
SMOOTHING = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9)
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


def films(model, photos: list[np.ndarray], work: Path, frames_per_shot: int, size=(640, 480)) -> list[tuple]:
    frames = list(panning_frames(photos, frames_per_shot, size, speeds=SPEEDS))
    film = work / "film.mp4"
    write_film(film, (grey for _, grey in frames), 24, audio_seconds=1.0)
    truth = [colour for colour, _ in frames]
    true_lab = [rgb_to_lab(frame) for frame in truth]
    input_lightness, _ = read_film_lab(film)
    rows = []
    for weight in SMOOTHING:
        output = work / f"coloured-{weight}.mp4"
        smoothing = TemporalSmoothing(weight)
        started = time.perf_counter()
        report = colorize_film(film, output, model, smoothing=smoothing)
        seconds = time.perf_counter() - started
        _, ab = read_film_lab(output)
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
        value, pairs = flicker(input_lightness, ab)
        rows.append(
            (
                weight,
                value,
                pairs,
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
                f"flicker | still pairs | mse | auc | mse of the fast shots | scene cuts | frames/s"
            )
            for row in films(model, groups["Places365 (20)"][: args.film_photos], Path(work), args.frames_per_shot):
                print(
                    f"| {row[0]} | {row[1]:.3f} | {row[2]} | {row[3]:.4f} | {row[4]:.3f} | {row[5]:.4f} | {row[6]} "
                    f"| {row[7]:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
