"""The `colorize` command: colorize photographs and films at full resolution with a network this project
trained, or serve a page that does it in the browser.

    colorize INPUT [INPUT ...] --output DIR [--model NAME|PATH] [--render-size N] [--compare] [--overwrite]
                               [--hints HINTS.json] [--smoothing W] [--no-flow] [--scene-cut D]
                               [--max-film-megapixels M] [--max-film-minutes M]
    colorize --serve [--output DIR] [--port P] [--max-upload-mb M] [--max-output-mb M] [--client-timeout S]
                     [--max-film-megapixels M] [--max-film-minutes M]

The network sees each photo's or frame's lightness at the photo's own aspect ratio, its short side at
--render-size pixels (default: the size the model was trained at), and only colour is added to the
full-resolution lightness (`render`). Films (`films`: mp4, mov, mkv, avi, webm) keep their resolution,
frame count, timing and audio; their colours are smoothed over time along the optical flow (--smoothing,
--no-flow, --scene-cut). A film whose frames are larger, or which is longer, than --max-film-megapixels
and --max-film-minutes is refused (by default 8K frames of any length, and for the page 4K frames and
20 minutes: a page may be sent files by others).

A file INPUT is written as DIR/<its name>; a folder INPUT is searched recursively (hidden files and
anything inside DIR are left out) and mirrored under DIR with the same relative paths and names.
Existing outputs are kept unless --overwrite. --compare also writes <name>.compare<ext> for photos:
the input's lightness, then the photo colorized by the chosen model and by every other model found in
models/ or shipped. A model NAME is a folder models/NAME of the current directory (the project root)
holding config.json, or else a model shipped inside the package (colorization/weights/NAME: the
`objects` model, trained by this pipeline's `objects` recipe from EfficientNet-Lite0's ImageNet weights,
is the default; `reference_hints` and `reference` are the earlier ones). --serve starts the page of
`server` on 127.0.0.1 instead.

Colour hints (`hint_files`): `--hints HINTS.json` tells a model trained with hints the colours of some
points of one photo; a photo with NAME.hints.json beside it gets those. Films take none for now.

Exit status: 0 when every input was colorized or skipped because its output exists; 1 when some file
could not be read or written, or failed in a way not foreseen (each is reported in one line, the others
are done); 2 for a fatal problem found before anything is written (a missing input, an unusable model,
an output that would replace an input). An --output folder that the run created and left empty is
removed.
"""

import argparse
import os
import sys
import time
from collections import Counter
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from ..core.errors import UserError, run_main
from .films import DEFAULT_SMOOTHING, FilmLimits
from .jobs import Settings, colorize_job, comparison_models, plan_jobs
from .photos import UnreadableImage
from .render import MAX_RENDER_SIZE, load_model
from .untrusted import shown

# the shipped model that takes colour hints; the page also gives it the hints of a photo coloured by a
# model that takes none
DEFAULT_MODEL = "objects"
DEFAULT_PAGE_OUTPUT = Path("colorize-page")
# What one film may take unless --max-film-megapixels and --max-film-minutes say otherwise: 8K frames of any
# length on the command line, 4K frames and 20 minutes on the page, to which others may send files.
COMMAND_LINE_FILM_LIMITS = FilmLimits(megapixels=36.0)
PAGE_FILM_LIMITS = FilmLimits(megapixels=9.0, minutes=20.0)
SKIP_REASONS = {
    "exists": "already had an output, kept without --overwrite",
    "unreadable": "unreadable",
    "not writable": "not writable",
}


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 0 and below 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize",
        description="Colorize black-and-white photos and films at full resolution with a network trained by this "
        "project, or serve a page that does it in the browser (--serve). Run it from the project "
        "root to use the models in models/.",
        epilog="Exit status: 0 all done (or already there), 1 some files could not be read or written, "
        "2 nothing done (bad input, model or output).",
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="a photo or film file, or a folder searched recursively"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="DIR",
        help="folder for the results; names and sub-folders mirror the inputs (with --serve: the "
        f"page's own folder for uploads and results, default {DEFAULT_PAGE_OUTPUT})",
    )
    parser.add_argument(
        "-m",
        "--model",
        metavar="MODEL",
        help=f"a model trained in models/ (for example resnet18_cls) or shipped with colorize "
        f"(objects, reference_hints, reference), or the path of a model directory or its model file "
        f"(default: {DEFAULT_MODEL}, "
        f"the shipped model unless models/{DEFAULT_MODEL} holds one trained here)",
    )
    parser.add_argument(
        "--render-size",
        type=int,
        metavar="N",
        help=f"the short side, in pixels, of the lightness the network sees, the photo's aspect "
        f"ratio kept (8 to {MAX_RENDER_SIZE}, rounded to what the architecture needs; "
        f"default: the size the model was trained at)",
    )
    parser.add_argument(
        "--square",
        action="store_true",
        help="let the network see a render-size square instead (the photo squeezed), as the "
        "networks were trained; BENCHMARKS.md compares the two per model",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also write NAME.compare.EXT for photos: input | each model available in models/",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: keep them)")
    parser.add_argument(
        "--hints",
        type=Path,
        metavar="HINTS.json",
        help='colours of some points of the one photo given, as {"points": [{"x": 310, "y": 95, '
        '"color": "#2f5fb0"}]} in its pixels, for a model trained with hints (a photo with '
        "NAME.hints.json beside it gets those without this option)",
    )
    films = parser.add_argument_group("films")
    films.add_argument(
        "--smoothing",
        type=_fraction,
        default=Settings.smoothing,
        metavar="W",
        help="share of the earlier frames' colours kept at each frame, against flicker; 0 colours each "
        f"frame alone (default: {DEFAULT_SMOOTHING[True]}, or {DEFAULT_SMOOTHING[False]} with --no-flow)",
    )
    films.add_argument(
        "--no-flow",
        dest="flow",
        action="store_false",
        help="keep the earlier colours in place (a plain moving average) instead of carrying them along "
        "the optical flow, which lets colours follow what moves",
    )
    films.add_argument(
        "--scene-cut",
        type=_positive,
        default=Settings.scene_cut,
        metavar="D",
        help="mean lightness change between two frames, once aligned so that a pan does not "
        "count (L units, 0-100), that starts a new scene, "
        f"whose colours are not mixed with the previous one's (default: {Settings.scene_cut})",
    )
    films.add_argument(
        "--max-film-megapixels",
        type=_positive,
        metavar="M",
        help="refuse a film whose frames have more than M million pixels (default: "
        f"{COMMAND_LINE_FILM_LIMITS.megapixels:g}, 8K; with --serve {PAGE_FILM_LIMITS.megapixels:g}, 4K)",
    )
    films.add_argument(
        "--max-film-minutes",
        type=_positive,
        metavar="M",
        help=f"refuse a film longer than M minutes (default: no limit; with --serve {PAGE_FILM_LIMITS.minutes:g})",
    )
    page = parser.add_argument_group("the page (--serve)")
    page.add_argument("--serve", action="store_true", help="start the page on http://127.0.0.1:PORT instead")
    page.add_argument("--port", type=int, default=8000, help="its port; 0 picks a free one (default: 8000)")
    page.add_argument(
        "--max-upload-mb",
        type=_positive,
        default=200.0,
        metavar="M",
        help="the largest upload the page accepts, in megabytes (default: 200)",
    )
    page.add_argument(
        "--max-output-mb",
        type=_positive,
        default=2000.0,
        metavar="M",
        help="the most the page's --output folder keeps, in megabytes: the oldest results are "
        "removed beyond it (default: 2000)",
    )
    page.add_argument(
        "--client-timeout",
        type=_positive,
        default=30.0,
        metavar="S",
        help="seconds a browser may stay silent while sending a request before the page gives up on it (default: 30)",
    )
    return parser


def _film_limits(args: argparse.Namespace, defaults: FilmLimits) -> FilmLimits:
    """`defaults` with the limits given by --max-film-megapixels and --max-film-minutes in their place."""
    given = {"megapixels": args.max_film_megapixels, "minutes": args.max_film_minutes}
    return replace(defaults, **{key: value for key, value in given.items() if value is not None})


def _remove_empty_folders(folder: Path) -> None:
    """Remove `folder` and the folders in it that hold no file, deepest first."""
    for directory, _, _ in os.walk(folder, topdown=False):
        with suppress(OSError):  # not empty
            os.rmdir(directory)


def _unforeseen(error: Exception) -> str:
    """An exception nobody foresaw, in one line: its type and its message's first line."""
    lines = str(error).strip().splitlines()
    return type(error).__name__ + (f": {shown(lines[0], 200)}" if lines else "")


def run(argv: list[str]) -> int:
    """Run the command; returns the exit status (fatal problems raise UserError)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    project = Path.cwd()
    if args.serve:
        if args.inputs:
            parser.error("--serve takes no INPUT: pick the files in the page")
        from .server import serve  # the web stack is imported only for the page

        return serve(
            project,
            args.output or DEFAULT_PAGE_OUTPUT,
            args.model or DEFAULT_MODEL,
            args.port,
            int(args.max_upload_mb * 1e6),
            Settings(
                args.render_size,
                args.square,
                args.smoothing,
                args.scene_cut,
                args.flow,
                film_limits=_film_limits(args, PAGE_FILM_LIMITS),
            ),
            int(args.max_output_mb * 1e6),
            args.client_timeout,
            DEFAULT_MODEL,
        )
    if not args.inputs or args.output is None:
        parser.error("give INPUT files or folders and --output DIR (or --serve)")

    def report(message: str) -> None:
        tqdm.write(message, file=sys.stderr)

    jobs, ignored = plan_jobs(args.inputs, args.output, args.compare, args.hints, report)
    models = [load_model(args.model or DEFAULT_MODEL, project)]
    hinted = next((job for job in jobs if job.hints), None)
    if hinted is not None and not models[0].takes_hints:
        raise UserError(
            f"--model {models[0].label} takes no colour hints, and {hinted.source} has some: "
            f"choose a model trained with hints: true, such as {DEFAULT_MODEL}"
        )
    models[0].render_size(args.render_size)  # a bad --render-size stops before anything is written
    settings = Settings(
        args.render_size,
        args.square,
        args.smoothing,
        args.scene_cut,
        args.flow,
        args.overwrite,
        progress=True,
        film_limits=_film_limits(args, COMMAND_LINE_FILM_LIMITS),
    )

    if args.compare:
        models = comparison_models(models[0], project, report)
    done, films, skipped, seconds = 0, 0, Counter(), 0.0
    created = not args.output.exists()
    try:
        for job in tqdm(jobs, desc="colorize", unit="file", file=sys.stderr, disable=True if len(jobs) == 1 else None):
            started = time.perf_counter()
            try:
                result = colorize_job(job, models, settings)
            except UnreadableImage as error:
                skipped["unreadable"] += 1
                report(f"skipped {job.source}: {error}")
                continue
            except OSError as error:
                skipped["not writable"] += 1
                report(f"skipped {job.source}: cannot write its output ({error.strerror or error})")
                continue
            except UserError:  # a fatal problem (an output that cannot be written): the run stops
                raise
            except Exception as error:  # one file's unforeseen failure is that file's, not the batch's
                skipped["unreadable"] += 1
                report(f"skipped {job.source}: could not colorize it ({_unforeseen(error)})")
                continue
            if result is None:
                skipped["exists"] += 1
                continue
            elapsed = time.perf_counter() - started
            for warning in result.warnings:
                report(f"warning: {job.output}: {warning}")
            if job.film:
                report(
                    f"{job.output}: {result.frames} frames at {result.frames / elapsed:.1f} frames/s, "
                    f"{result.scene_cuts} scene cuts"
                )
                films += 1
            else:
                done += 1
                seconds += elapsed
    finally:
        if created:
            _remove_empty_folders(args.output)
    print(summary(done, skipped, seconds, ignored, models[0].label, args.output, films))
    return 1 if skipped["unreadable"] or skipped["not writable"] else 0


def summary(done: int, skipped: Counter, seconds: float, ignored: int, model: str, output: Path, films: int = 0) -> str:
    """The closing line: photos and films done, skipped with reasons (each unreadable or unwritable file
    has had its own line), seconds per photo."""
    line = f"colorize: {done + films} done, {sum(skipped.values())} skipped"
    if skipped:
        line += " (" + "; ".join(f"{skipped[key]} {text}" for key, text in SKIP_REASONS.items() if skipped[key]) + ")"
    if done:
        line += f", {seconds / done:.2f} s per image"
    if films:
        line += f", {films} film{'s' if films > 1 else ''}"
    if ignored:
        line += f", {ignored} non-image files ignored"
    return line + f"; model {model}; output in {output}"


def main() -> None:
    """Console-script entry point: a UserError or a file-system error prints `error: ...` on one line and
    exits with 2 (`core.errors.run_main`)."""
    run_main(run)


if __name__ == "__main__":
    main()
