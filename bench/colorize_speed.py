"""Benchmarks of `colorize`: a 12-megapixel photo through the command and through the page, and films."""

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .workloads import ROOT, PageClient, make_images, panning_frames, peak_rss_mb, write_film

COLORIZE_CODE = """
import numpy as np
from PIL import Image
from colorization.engines import create
from colorization.models import ModelSpec, saved
network = create("resnet18", 0.001, 0.5, 0.25, seed=0, options={{"hints": True}} if {hints!r} else None)
spec = ModelSpec(name="resnet18", image_size={size}, hints={hints!r})
saved.save(network, __import__("pathlib").Path({model!r}), spec)
"""


def bench_colorize(work: Path) -> dict:
    """Seconds and peak RSS of the colorize command on a 4000x3000 photo (ResNet18 at 256x256)."""
    from PIL import Image

    model = work / "colorize_model"
    peak_rss_mb(COLORIZE_CODE.format(model=str(model), size=256, hints=False))
    photo = work / "photo 4000x3000.jpg"
    gradient = (
        np.linspace(0, 255, 4000, dtype=np.float32)[None, :] * np.linspace(0.2, 1, 3000, dtype=np.float32)[:, None]
    )
    Image.fromarray(gradient.astype(np.uint8), "L").save(photo, quality=95)
    code = (
        f"from colorization.colorize.cli import run; "
        f"run([{str(photo)!r}, '--output', {str(work / 'colorized')!r}, '--model', {str(model)!r}, '--overwrite'])"
    )
    started = time.perf_counter()
    peak = peak_rss_mb(code)
    return {
        "figures": {"colorize_4000x3000_s_with_startup": time.perf_counter() - started, "colorize_4000x3000_mb": peak}
    }


FILM_CODE = """
from pathlib import Path
from colorization.colorize.films import colorize_film
from colorization.colorize.render import load_model
colorize_film(Path({film!r}), Path({output!r}), load_model({model!r}, Path.cwd()))
"""


def bench_film(work: Path, seconds: tuple[int, ...] = (10, 40), fps: int = 24) -> dict:
    """Frames per second and peak RSS of colorizing a 640x480 grey film with ResNet18 trained at 64x64 (the
    pipeline's default size), for two film lengths: memory should not grow with the length."""
    from PIL import Image

    model = work / "film_model"
    peak_rss_mb(COLORIZE_CODE.format(model=str(model), size=64, hints=False))
    photos = [np.asarray(Image.open(path).convert("RGB")) for path in make_images(work / "raw_film", 8)[:4]]
    figures = {}
    for length in seconds:
        film = work / f"film {length} s.mp4"
        frames = length * fps
        write_film(
            film,
            (grey for _, grey in panning_frames(photos, frames // len(photos), (640, 480))),
            fps,
            audio_seconds=length,
        )
        started = time.perf_counter()
        peak = peak_rss_mb(FILM_CODE.format(film=str(film), output=str(work / "coloured.mp4"), model=str(model)))
        elapsed = time.perf_counter() - started
        figures[f"film_640x480_{length}s_frames_per_s_with_startup"] = frames / elapsed
        figures[f"film_640x480_{length}s_mb"] = peak
    return {"figures": figures}


PAGE_PHOTO_REPEATS = 3


HINT_CHANGES = 6


def bench_hint_change(work: Path, model: str | None = None) -> dict:
    """Seconds from one colour hint's change to the page's answer, with the preview it shows fetched, on a
    12-megapixel (4000x3000) photo through a real `colorize --serve` on 127.0.0.1 with `model` (None: the
    shipped default; it must take hints); each change adds a point, as a person does."""
    photo = work / "photo 4000x3000.jpg"
    if not photo.exists():
        bench_colorize(work)
    with serving(work, model) as page:
        status, answer = page.post("photo.jpg", photo.read_bytes())
        if status != 200 or not answer.get("hints"):
            raise RuntimeError(f"the page answered {status}: {answer}")
        times, points = [], []
        for change in range(HINT_CHANGES):
            points.append({"x": 500 + 500 * change, "y": 1500, "color": "#2050d0" if change % 2 else "#d07020"})
            body = json.dumps({"points": points}).encode()
            started = time.perf_counter()
            status, told, _ = page.request(f"api/hints?upload={answer['upload']}", body)
            if status != 200:
                raise RuntimeError(f"the page answered {status}: {told[:200]!r}")
            page.get(json.loads(told)["result"])
            times.append(time.perf_counter() - started)
    return {
        "figures": {
            "page_12mp_hint_change_s_first": times[0],
            "page_12mp_hint_change_s_median": float(np.median(times)),
            "page_12mp_hint_change_s_best": min(times),
        }
    }


@contextmanager
def serving(work: Path, model: str | None):
    """A `colorize --serve` of `model` (None: the default) on a free port, its output in `work`/page: its
    client, and the server stopped afterwards."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "colorization.colorize",
            "--serve",
            "--port",
            "0",
            *(["--model", str(model)] if model else []),
            "--output",
            str(work / "page"),
        ],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    try:
        yield PageClient(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_page(work: Path) -> dict:
    """Seconds from the upload of a 12-megapixel (4000x3000) photo to the page's answer (result and
    previews written), and to the downloaded result, through a real `colorize --serve` on 127.0.0.1 with
    the shipped default model, the first upload and the best of PAGE_PHOTO_REPEATS."""
    photo = work / "photo 4000x3000.jpg"
    if not photo.exists():
        bench_colorize(work)
    with serving(work, None) as page:
        answers, downloads = [], []
        for _ in range(PAGE_PHOTO_REPEATS):
            started = time.perf_counter()
            status, answer = page.post("photo.jpg", photo.read_bytes())
            if status != 200:
                raise RuntimeError(f"the page answered {status}: {answer}")
            answers.append(time.perf_counter() - started)
            page.get(answer["download"])
            downloads.append(time.perf_counter() - started)
    return {
        "figures": {
            "page_12mp_answer_s_first": answers[0],
            "page_12mp_answer_s_best": min(answers),
            "page_12mp_with_download_s_best": min(downloads),
        }
    }


AFTER_LOAD_REPEATS = 3


def bench_after_load(work: Path, seconds: int = 10, fps: int = 24, model: str | None = None) -> dict:
    """What a person waits for once `colorize` has started, with `model` (None: the shipped default): frames per
    second of a `seconds`-long panning film at 640x480 and at 1920x1080 (decode, colorize, smooth and
    encode, audio copied), and seconds of the 12-megapixel photo through the command's photo path (read,
    colorize, write the JPEG), best of AFTER_LOAD_REPEATS. The model is loaded and the path run once on
    a small film and photo first, so loading and compiling are left out."""
    from PIL import Image

    from colorization.colorize.cli import DEFAULT_MODEL
    from colorization.colorize.films import colorize_film
    from colorization.colorize.jobs import Job, Settings, colorize_job
    from colorization.colorize.render import load_model

    photo = work / "photo 4000x3000.jpg"
    if not photo.exists():
        bench_colorize(work)
    model = load_model(model or DEFAULT_MODEL, work)
    photos = [np.asarray(Image.open(path).convert("RGB")) for path in make_images(work / "raw_film", 8)[:3]]
    films = {}
    for name, size, length in (
        ("warm-up", (320, 240), 1),
        ("640x480", (640, 480), seconds),
        ("1920x1080", (1920, 1080), seconds),
    ):
        films[name] = work / f"after load {name}.mp4"
        frames = length * fps
        write_film(
            films[name],
            (grey for _, grey in panning_frames(photos, frames // 3, size, speeds=(1, 4, 12))),
            fps,
            audio_seconds=length,
        )
    figures = {}
    for name, film in films.items():
        started = time.perf_counter()
        report = colorize_film(film, work / "after load coloured.mp4", model)
        if name != "warm-up":
            figures[f"film_{name}_frames_per_s_after_load"] = report.frames / (time.perf_counter() - started)
    small = work / "photo small.jpg"
    Image.open(photo).resize((400, 300)).save(small)
    settings = Settings(overwrite=True)
    colorize_job(Job(small, work / "photo small coloured.jpg", None), [model], settings)
    times = []
    for _ in range(AFTER_LOAD_REPEATS):
        started = time.perf_counter()
        colorize_job(Job(photo, work / "photo coloured.jpg", None), [model], settings)
        times.append(time.perf_counter() - started)
    figures["colorize_12mp_s_after_load"] = min(times)
    return {"figures": figures}


def main() -> None:
    """`python -m bench.colorize_speed --models NAME ...`: what a person waits for with each model (a
    film's frames per second and a 12-megapixel photo after load, a hint change on the page), the models
    one after another in one run, so that their figures compare. NAMEs are what `colorize --model` takes
    (absolute paths: the benches run in a scratch directory)."""
    import argparse
    import shutil
    import tempfile

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--seconds", type=int, default=10, help="length of the benchmark films")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="colorization-speed-"))
    try:
        rows = {}
        for name in args.models:
            rows[name] = bench_after_load(work, args.seconds, model=name)["figures"]
            rows[name] |= bench_hint_change(work, name)["figures"]
            print(f"{name}: " + ", ".join(f"{key} {value:.3g}" for key, value in rows[name].items()), flush=True)
        keys = list(next(iter(rows.values())))
        print("\n| model | " + " | ".join(keys) + " |\n|" + " --- |" * (len(keys) + 1))
        for name, figures in rows.items():
            print(f"| {name} | " + " | ".join(f"{figures[key]:.3g}" for key in keys) + " |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
