"""The `colorize` command: colorize photographs at full resolution with a network this project trained.

    colorize INPUT [INPUT ...] --output DIR [--model NAME|PATH] [--compare] [--overwrite]

Full resolution as DeOldify, DDColor and Zhang et al. do it: the network sees the photo's lightness L
resized (bicubic, antialiased) to the square it was trained at (config.json image_size); the ab it
predicts is upsampled (bicubic) to the photo's size and recombined with the photo's own full-resolution
L, so the output has the input's exact size and lightness and only colour is added. Where a predicted
colour is outside the sRGB gamut its chroma is reduced rather than each channel clipped, which would
change L (`core.color.lab_to_rgb_keeping_lightness`). Memory stays at a few dozen bytes per pixel: the
network input is tiny, and LAB -> RGB runs in strips of rows.

A file INPUT is written as DIR/<its name>; a folder INPUT is searched recursively (hidden files and
anything inside DIR are left out) and mirrored under DIR with the same relative paths and names.
Existing outputs are kept unless --overwrite. --compare also writes <name>.compare<ext>: the input's
lightness, then the photo colorized by the chosen model and by every other model found in models/.
A model NAME is a folder models/NAME of the current directory (the project root) holding config.json.

Exit status: 0 when every image was colorized or skipped because its output exists; 1 when some file
could not be read or written (each is reported, the others are done); 2 for a fatal problem found
before anything is written (a missing input, an unusable model, an output that would replace an input).
"""

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..core.color import AB_SCALE, lab_to_rgb_keeping_lightness
from ..core.errors import UserError, run_main
from ..core.photo import FORMATS, output_format, walk_files
from ..models import saved
from ..models.engine import Network
from .photos import UnreadableImage, read_photo, write_image

DEFAULT_MODEL = "resnet18"
STRIP_PIXELS = 1 << 20          # pixels converted from LAB to RGB at a time
COMPARE_HEIGHT = 768            # panel height of --compare images (smaller photos keep their size)
COMPARE_GAP = 8                 # white pixels between panels
COMPARE_JPEG_QUALITY = 90
SKIP_REASONS = {"exists": "already had an output, kept without --overwrite", "unreadable": "unreadable",
                "not writable": "not writable"}


@dataclass
class Model:
    """A loaded network and what `colorize` needs to know about it."""

    label: str
    directory: Path
    network: Network
    image_size: int

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        """ab in LAB units, float32 (S, S, 2) at the training size S, for a full-resolution L (H, W)."""
        small = resize_plane(lightness, (self.image_size, self.image_size))
        l_input = np.clip(small / 100.0, 0.0, 1.0)[None, :, :, None]
        return self.network.predict(l_input)[0] * np.float32(AB_SCALE)


@dataclass
class Job:
    """One input image and the files it should produce."""

    source: Path
    output: Path
    compare: Path | None


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float32 (H, W) plane resized to size = (width, height), bicubic (antialiased when shrinking)."""
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    return np.asarray(image.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)


def upsample_ab(ab: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Predicted ab (S, S, 2) resized to size = (width, height): float32 (height, width, 2)."""
    width, height = size
    out = np.empty((height, width, 2), dtype=np.float32)
    for channel in range(2):
        out[..., channel] = resize_plane(ab[..., channel], size)
    return out


def compose(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """uint8 sRGB (H, W, 3) of L (H, W) and ab (H, W, 2), converted in strips of rows to bound memory."""
    height, width = lightness.shape
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, STRIP_PIXELS // width)
    for top in range(0, height, rows):
        lab = np.concatenate([lightness[top : top + rows, :, None], ab[top : top + rows]], axis=-1)
        rgb[top : top + rows] = np.rint(lab_to_rgb_keeping_lightness(lab) * 255.0)
    return rgb


def trained_models(project: Path) -> list[str]:
    """The names of the model folders in `project`/models (those holding a config.json), sorted."""
    folder = project / "models"
    return sorted(path.name for path in folder.iterdir() if (path / saved.CONFIG_FILE).is_file()) \
        if folder.is_dir() else []


def model_directory(spec: str, project: Path) -> tuple[Path, str | None]:
    """The model folder that --model names, and the model file's name if a file was named: a model NAME
    trained in `project` (models/NAME), or a path to a model folder or to the model file inside one."""
    path = Path(spec)
    if (project / "models" / spec / saved.CONFIG_FILE).is_file() and not path.is_absolute():
        return project / "models" / spec, None
    if not path.exists():
        trained = ", ".join(trained_models(project)) or "none"
        if len(path.parts) == 1:
            raise UserError(f"--model {spec}: no trained model {spec} in {project / 'models'} (trained: {trained}): "
                            f"run `dvc repro train@{spec}` in the project root first, or pass --model PATH")
        raise UserError(f"--model {spec}: no such model directory or file (trained in {project / 'models'}: {trained})")
    if path.is_dir():
        return path, None
    if not (path.parent / saved.CONFIG_FILE).is_file():
        raise UserError(f"--model {spec} is not a model written by this project: expected a models/NAME directory "
                        f"with {saved.CONFIG_FILE}, or the model file inside one")
    return path.parent, path.name


def load_model(spec: str, project: Path) -> Model:
    """Load what --model names (see `model_directory`) for inference, or raise a one-line UserError."""
    directory, file_name = model_directory(spec, project)
    config = saved.read_config(directory)
    expected = saved.model_file(directory, config)
    if file_name is not None and file_name != expected.name:
        raise UserError(f"--model {spec}: {directory / saved.CONFIG_FILE} describes a {config.arch} model, "
                        f"whose file is {expected.name}")
    network, _ = saved.load(directory)
    label = spec if directory == project / "models" / spec else f"{config.arch} ({directory})"
    return Model(label=label, directory=directory, network=network, image_size=config.image_size)


def comparison_models(primary: Model, project: Path, warn) -> list[Model]:
    """The chosen model followed by every other model trained in `project`'s models/ folder.

    A model there that cannot be loaded is reported through `warn` and left out of the comparison.
    """
    models = [primary]
    for name in trained_models(project):
        if (project / "models" / name).resolve() == primary.directory.resolve():
            continue
        try:
            models.append(load_model(name, project))
        except UserError as error:
            warn(f"warning: {name} left out of --compare: {error}")
    return models


def _folder_images(folder: Path, output_dir: Path) -> tuple[list[Path], int]:
    """Image files under `folder` (see `core.photo.walk_files`; `output_dir` is left out) and how many
    other files were ignored."""
    images, ignored = [], 0
    for path in walk_files(folder, skip=output_dir):
        if output_format(path) is None:
            ignored += 1
        else:
            images.append(path)
    return images, ignored


def plan_jobs(inputs: list[str], output_dir: Path, compare: bool) -> tuple[list[Job], int]:
    """Jobs for the inputs (files and folders) and the count of non-image files ignored in folders.

    Fatal problems (a missing input, no images at all, two inputs or an input and an output sharing a
    path) raise a one-line UserError before anything is written.
    """
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output {output_dir} is a file, not a folder")
    jobs, ignored, seen = [], 0, set()
    for given in inputs:
        path = Path(given)
        if not path.exists():
            raise UserError(f"{given}: no such file or folder")
        if path.is_dir():
            found, skipped = _folder_images(path, output_dir)
            ignored += skipped
            pairs = [(image, output_dir / image.relative_to(path)) for image in found]
        else:
            pairs = [(path, output_dir / path.name)]
        for source, output in pairs:
            if source.resolve() in seen:
                continue
            seen.add(source.resolve())
            compare_path = output.with_name(f"{output.stem}.compare{output.suffix}") if compare else None
            jobs.append(Job(source, output, compare_path))
    if not jobs:
        raise UserError(f"no images found in {', '.join(inputs)} (supported: {', '.join(sorted(FORMATS))})")
    writers: dict[Path, Path] = {}
    for job in jobs:
        for target in filter(None, (job.output, job.compare)):
            key = target.resolve()
            if key in seen:
                raise UserError(f"{target} would replace an input image: choose another --output folder")
            if key in writers:
                raise UserError(f"{job.source} and {writers[key]} would both be written to {target}: "
                                f"colorize them into different --output folders")
            writers[key] = job.source
    return jobs, ignored


def comparison_image(lightness: np.ndarray, models: list[Model], predictions: list[np.ndarray]) -> np.ndarray:
    """Side by side, each COMPARE_HEIGHT high at most: the input's lightness, then each model's colors."""
    height, width = lightness.shape
    panel_height = min(height, COMPARE_HEIGHT)
    panel_width = max(1, round(width * panel_height / height))
    size = (panel_width, panel_height)
    small = np.clip(resize_plane(lightness, size), 0.0, 100.0)
    panels = [("input", compose(small, np.zeros((panel_height, panel_width, 2), dtype=np.float32)))]
    panels += [(model.label, compose(small, upsample_ab(ab, size))) for model, ab in zip(models, predictions)]
    canvas = Image.new("RGB", (len(panels) * panel_width + (len(panels) - 1) * COMPARE_GAP, panel_height), "white")
    font = ImageFont.load_default(size=max(12, panel_height // 28))
    draw = ImageDraw.Draw(canvas)
    for index, (label, rgb) in enumerate(panels):
        left = index * (panel_width + COMPARE_GAP)
        canvas.paste(Image.fromarray(rgb), (left, 0))
        draw.text((left + 8, 6), label, font=font, fill="white", stroke_width=2, stroke_fill="black")
    return np.asarray(canvas)


def colorize_job(job: Job, models: list[Model], overwrite: bool) -> bool:
    """Write the outputs of one job that are missing (all with `overwrite`); False if none was due.

    Raises UnreadableImage for an input that cannot be used and OSError for an output that cannot be
    written; an output is complete or absent, never half-written.
    """
    targets = [target for target in (job.output, job.compare) if target and (overwrite or not target.exists())]
    if not targets:
        return False
    if output_format(job.source) is None:
        raise UnreadableImage(f"unsupported file type {job.source.suffix!r} (supported: {', '.join(sorted(FORMATS))})")
    photo = read_photo(job.source)
    predictions = [model.predict_ab(photo.lightness) for model in (models if job.compare in targets else models[:1])]
    if job.output in targets:
        rgb = compose(photo.lightness, upsample_ab(predictions[0], photo.size))
        write_image(job.output, rgb, photo.alpha, photo.info)
        del rgb
    if job.compare in targets:
        write_image(job.compare, comparison_image(photo.lightness, models, predictions), quality=COMPARE_JPEG_QUALITY)
    return True


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize",
        description="Colorize black-and-white photos at full resolution with a network trained by this project. "
                    "Run it from the project root to use the models in models/.",
        epilog="Exit status: 0 all done (or already there), 1 some files could not be read or written, "
               "2 nothing done (bad input, model or output).")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="an image file, or a folder searched recursively")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR",
                        help="folder for the results; names and sub-folders mirror the inputs")
    parser.add_argument("-m", "--model", default=DEFAULT_MODEL, metavar="MODEL",
                        help=f"a model trained in models/ (for example resnet18, cnn_v1, cnn_v2) or the path of a "
                             f"model directory or its model file (default: {DEFAULT_MODEL})")
    parser.add_argument("--compare", action="store_true",
                        help="also write NAME.compare.EXT: input | each model available in models/")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: keep them)")
    return parser


def run(argv: list[str]) -> int:
    """Run the command; returns the exit status (fatal problems raise UserError)."""
    args = build_parser().parse_args(argv)
    jobs, ignored = plan_jobs(args.inputs, args.output, args.compare)
    project = Path.cwd()
    models = [load_model(args.model, project)]

    def report(message: str) -> None:
        tqdm.write(message, file=sys.stderr)

    if args.compare:
        models = comparison_models(models[0], project, report)
    done, skipped, seconds = 0, Counter(), 0.0
    for job in tqdm(jobs, desc="colorize", unit="image", file=sys.stderr, disable=True if len(jobs) == 1 else None):
        started = time.perf_counter()
        try:
            if colorize_job(job, models, args.overwrite):
                done += 1
                seconds += time.perf_counter() - started
            else:
                skipped["exists"] += 1
        except UnreadableImage as error:
            skipped["unreadable"] += 1
            report(f"skipped {job.source}: {error}")
        except OSError as error:
            skipped["not writable"] += 1
            report(f"skipped {job.source}: cannot write its output ({error.strerror or error})")
    print(summary(done, skipped, seconds, ignored, models[0].label, args.output))
    return 1 if skipped["unreadable"] or skipped["not writable"] else 0


def summary(done: int, skipped: Counter, seconds: float, ignored: int, model: str, output: Path) -> str:
    """The closing line: images done, skipped with reasons (each unreadable or unwritable file has had
    its own line), seconds per image."""
    line = f"colorize: {done} done, {sum(skipped.values())} skipped"
    if skipped:
        line += " (" + "; ".join(f"{skipped[key]} {text}" for key, text in SKIP_REASONS.items() if skipped[key]) + ")"
    if done:
        line += f", {seconds / done:.2f} s per image"
    if ignored:
        line += f", {ignored} non-image files ignored"
    return line + f"; model {model}; output in {output}"


def main() -> None:
    """Console-script entry point: a UserError or a file-system error prints `error: ...` on one line and
    exits with 2 (`core.errors.run_main`)."""
    run_main(run)


if __name__ == "__main__":
    main()
