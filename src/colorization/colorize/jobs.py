"""What `colorize` does with each input: plan the outputs of files and folders, then colorize one photo
or film into them (`colorize_job`), for the command line and the page alike."""

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from ..core.errors import UserError
from ..core.photo import FORMATS, output_format, walk_files
from . import hint_files
from .films import FILM_FORMATS, FilmLimits, FilmReport, TemporalSmoothing, colorize_film, is_film
from .photos import Photo, UnreadableImage, read_photo, write_image
from .render import Model, colour, load_model, model_directory, resized_lightness, trained_models

COMPARE_HEIGHT = 768  # panel height of --compare images (smaller photos keep their size)
COMPARE_GAP = 8  # white pixels between panels
COMPARE_JPEG_QUALITY = 90
SUPPORTED = ", ".join(sorted(FORMATS) + sorted(FILM_FORMATS))


@dataclass(frozen=True)
class Settings:
    """How to colorize: the network's short side (None: the model's training size) and shape (`render`),
    and, for films, the temporal smoothing (`films.TemporalSmoothing`) and what one film may take
    (`films.FilmLimits`)."""

    render_size: int | None = None
    square: bool = False  # the network sees a square, as before aspect-kept rendering
    smoothing: float | None = TemporalSmoothing.weight  # None: the mode's default
    scene_cut: float = TemporalSmoothing.scene_cut
    flow: bool = TemporalSmoothing.flow
    overwrite: bool = False
    progress: bool = False  # a progress bar per film on stderr
    film_limits: FilmLimits = FilmLimits()


@dataclass
class Job:
    """One input photo or film and the files it should produce."""

    source: Path
    output: Path
    compare: Path | None
    hints: list[hint_files.Hint] | None = None  # the colours a person gave (--hints, or NAME.hints.json)

    @property
    def film(self) -> bool:
        return is_film(self.source)


def comparison_models(primary: Model, project: Path, warn) -> list[Model]:
    """The chosen model followed by every other model `colorize` knows (`trained_models`).

    A model there that cannot be loaded is reported through `warn` and left out of the comparison.
    """
    models = [primary]
    for name in trained_models(project):
        if model_directory(name, project)[0].resolve() == primary.directory.resolve():
            continue
        try:
            models.append(load_model(name, project))
        except UserError as error:
            warn(f"warning: {name} left out of --compare: {error}")
    return models


def _folder_images(folder: Path, output_dir: Path) -> tuple[list[Path], int]:
    """Photo and film files under `folder` (see `core.photo.walk_files`; `output_dir` is left out) and how
    many other files were ignored."""
    images, ignored = [], 0
    for path in walk_files(folder, skip=output_dir):
        if path.name.endswith(hint_files.SUFFIX):
            continue  # a photo's hints, read with it
        if output_format(path) is None and not is_film(path):
            ignored += 1
        else:
            images.append(path)
    return images, ignored


def _real_path(path: Path) -> Path:
    """`path` with its symbolic links followed as far as they lead: a symlink loop or a missing target is
    kept for reading to report (`Path.resolve` raises RuntimeError at a loop)."""
    return Path(os.path.realpath(path))


def _photo_hints(source: Path, given: Path | None, warn) -> list[hint_files.Hint] | None:
    """The checked hints of a photo or film: the file `given` (--hints), else NAME.hints.json beside it if
    there is one. A film's are refused (given) or left out with a warning (beside it). A NAME.hints.json
    that is not a regular file (a folder, a device, a named pipe, a symlink to one or to nothing) is left
    out with a warning: it is nothing a person saved, and reading it could hang or never end."""
    path = given or hint_files.sidecar(source)
    if given is None:
        if not os.path.lexists(path):
            return None
        if not path.is_file():
            warn(f"warning: {path} skipped: not a regular file; {source} coloured without hints")
            return None
    if is_film(source):
        if given is not None:
            raise UserError(f"--hints {given}: films take no colour hints for now ({source} is a film)")
        warn(f"warning: {path} left out: films take no colour hints for now")
        return None
    try:
        size = hint_files.upright_size(source)
    except Exception:  # not a photo: its job reports it as unreadable
        return None
    return hint_files.read(path, size)


def plan_jobs(
    inputs: list[str], output_dir: Path, compare: bool, hints: Path | None = None, warn=lambda message: None
) -> tuple[list[Job], int]:
    """Jobs for the inputs (files and folders) and the count of other files ignored in folders; films get
    no comparison image. Each photo's colour hints are read and checked here: from `hints` (one photo
    only), else from NAME.hints.json beside it.

    Fatal problems (a missing input, no images at all, two inputs or an input and an output sharing a
    path, a bad hints file) raise a one-line UserError before anything is written.
    """
    if hints is not None and (len(inputs) != 1 or Path(inputs[0]).is_dir()):
        raise UserError(
            f"--hints {hints}: hints belong to one photo, so give one photo file (a folder run reads "
            f"NAME{hint_files.SUFFIX} beside each photo)"
        )
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
            real = _real_path(source)
            if real in seen:
                continue
            seen.add(real)
            compare_path = (
                output.with_name(f"{output.stem}.compare{output.suffix}") if compare and not is_film(source) else None
            )
            jobs.append(Job(source, output, compare_path, _photo_hints(source, hints, warn)))
    if not jobs:
        raise UserError(f"no photos or films found in {', '.join(inputs)} (supported: {SUPPORTED})")
    writers: dict[Path, Path] = {}
    for job in jobs:
        for target in filter(None, (job.output, job.compare)):
            key = _real_path(target)
            if key in seen:
                raise UserError(f"{target} would replace an input image: choose another --output folder")
            if key in writers:
                raise UserError(
                    f"{job.source} and {writers[key]} would both be written to {target}: "
                    f"colorize them into different --output folders"
                )
            writers[key] = job.source
    return jobs, ignored


def comparison_image(lightness: np.ndarray, models: list[Model], predictions: list[np.ndarray]) -> np.ndarray:
    """Side by side, each COMPARE_HEIGHT high at most: the input's lightness, then each model's colors."""
    height, width = lightness.shape
    panel_height = min(height, COMPARE_HEIGHT)
    panel_width = max(1, round(width * panel_height / height))
    size = (panel_width, panel_height)
    small = resized_lightness(lightness, size)
    panels = [("input", colour(small, np.zeros((panel_height, panel_width, 2), dtype=np.float32)))]
    panels += [(model.label, colour(small, ab)) for model, ab in zip(models, predictions)]
    canvas = Image.new("RGB", (len(panels) * panel_width + (len(panels) - 1) * COMPARE_GAP, panel_height), "white")
    font = ImageFont.load_default(size=max(12, panel_height // 28))
    draw = ImageDraw.Draw(canvas)
    for index, (label, rgb) in enumerate(panels):
        left = index * (panel_width + COMPARE_GAP)
        canvas.paste(Image.fromarray(rgb), (left, 0))
        draw.text((left + 8, 6), label, font=font, fill="white", stroke_width=2, stroke_fill="black")
    return np.asarray(canvas)


def colorize_job(
    job: Job, models: list[Model], settings: Settings, on_frame: Callable[[int, int | None], None] | None = None
) -> FilmReport | None:
    """Write the outputs of one job that are missing (all with `settings.overwrite`); None if none was due,
    else what was written (frames and scene cuts of a film; zero for a photo). A film calls
    `on_frame(frames_done, frames_declared)` after each frame (the page's progress).

    Raises UnreadableImage for an input that cannot be used (`films.FilmRefused` and `films.OverBudget`
    for a film over `settings.film_limits`) and OSError for an output that cannot be written; an output
    is complete or absent, never half-written.
    """
    targets = [target for target in (job.output, job.compare) if target and (settings.overwrite or not target.exists())]
    if not targets:
        return None
    if job.film:
        return _colorize_film(job, models[0], settings, on_frame)
    if output_format(job.source) is None:
        raise UnreadableImage(f"unsupported file type {job.source.suffix!r} (supported: {SUPPORTED})")
    photo, ab = colorize_photo(
        job.source, job.output if job.output in targets else None, models[0], settings, job.hints
    )
    if job.compare in targets:
        predictions = [ab] + [
            model.predict_ab(photo.lightness, settings.render_size, settings.square) for model in models[1:]
        ]
        write_image(job.compare, comparison_image(photo.lightness, models, predictions), quality=COMPARE_JPEG_QUALITY)
    return FilmReport(frames=0, scene_cuts=0)


def colorize_photo(
    source: Path, output: Path | None, model: Model, settings: Settings, hints: list[hint_files.Hint] | None = None
) -> tuple[Photo, np.ndarray]:
    """The one path of a photo, for the command line and the page: read it, predict its colour at the
    render size (told the colours of `hints`), and write it at its own size, lightness, alpha and
    metadata to `output` (None: write nothing). Returns the photo and the predicted ab (at the network's
    input shape), for comparisons and previews. Raises UnreadableImage for a photo that cannot be used."""
    photo = read_photo(source)
    points = hint_files.network_points(hints) if hints else None
    ab = model.predict_ab(photo.lightness, settings.render_size, settings.square, points)
    if output is not None:
        write_image(output, colour(photo.lightness, ab), photo.alpha, photo.info)
    return photo, ab


def _colorize_film(
    job: Job, model: Model, settings: Settings, on_frame: Callable[[int, int | None], None] | None = None
) -> FilmReport:
    """One film, with a progress bar of frames and frames per second when `settings.progress`."""
    smoothing = TemporalSmoothing(settings.smoothing, settings.scene_cut, settings.flow)
    with tqdm(desc=job.source.name, unit="frame", file=sys.stderr, disable=not settings.progress, leave=False) as bar:

        def advance(done: int, declared: int | None) -> None:
            bar.total = declared
            bar.update(done - bar.n)
            if on_frame is not None:
                on_frame(done, declared)

        return colorize_film(
            job.source,
            job.output,
            model,
            settings.render_size,
            smoothing,
            advance,
            settings.square,
            settings.film_limits,
        )
