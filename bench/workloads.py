"""The contenders the benchmarks compare, each a plain function over the same files."""

import os
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from skimage import color as skcolor

from colorization.core.params import DataParams
from colorization.lab.prepare import load_square
from colorization.sources import download

ROOT = Path(__file__).resolve().parents[1]


def make_images(directory: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` 256x256 JPEG photos cut from the bundled sample photos (the pipeline's own source)."""
    if not (directory / "manifest.csv").is_file():
        download(DataParams("sample", count, 256, 0.25, 1024), seed, directory)
    return sorted(directory.glob("*.jpg"))


def naive_prepare(files: list[Path], size: int) -> np.ndarray:
    """The study's loop: PIL open, resize, skimage rgb2lab per image, append to a list, np.array at the end."""
    converted = []
    for path in files:
        image = Image.open(path).convert("RGB").resize((size, size))
        converted.append(skcolor.rgb2lab(np.asarray(image)))
    return np.array(converted)


def _decode_only(job: tuple[Path, int]) -> None:
    load_square(*job)


def decode_bound(files: list[Path], size: int, workers: int) -> None:
    """The floor of prepare: decode and resize the same files in as many processes, keep nothing."""
    with Pool(workers) as pool:
        for _ in pool.imap_unordered(_decode_only, [(path, size) for path in files], chunksize=16):
            pass


def timed(function, *args, **kwargs) -> float:
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


def peak_rss_mb(code: str, cwd: Path = ROOT) -> float:
    """Run Python `code` in a fresh process; the peak resident memory in MB of it or of its largest worker.

    The process's own peak is VmHWM from /proc, which starts afresh at exec (ru_maxrss would carry
    over this benchmark process's peak through fork); its workers' peaks come from RUSAGE_CHILDREN.
    """
    probe = (
        "\nimport re, resource\n"
        "own = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "print('PEAK', max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code + probe],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    line = [line for line in result.stdout.splitlines() if line.startswith("PEAK")][-1]
    return int(line.split()[1]) / 1024


def per_item_image(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A per-item loader's __getitem__: decode, resize, skimage rgb2lab, split into L/100 and ab/128."""
    with Image.open(path) as image:
        rgb = np.asarray(ImageOps.fit(image.convert("RGB"), (size, size)))
    lab = skcolor.rgb2lab(rgb).astype(np.float32)
    return lab[..., :1] / 100, lab[..., 1:] / 128


def panning_frames(
    photos: list[np.ndarray],
    frames_per_shot: int,
    size: tuple[int, int],
    grain: float = 6.0,
    exposure: float = 0.03,
    weave: int = 1,
    speeds: tuple[int, ...] = (1,),
    seed: int = 0,
):
    """An old film's worth of shots: for each colour photo (H, W, 3 uint8), `frames_per_shot` frames of
    `size` = (width, height) panning across it at the next of `speeds` (pixels a frame, in turn), with
    what old film adds in
    every frame: grain (Gaussian, `grain` grey levels), exposure flicker (a brightness gain within
    1 +- `exposure`) and gate weave (a jump of up to `weave` pixels each way). Yields (colour frame,
    grey frame), uint8 RGB."""
    rng = np.random.default_rng(seed)
    width, height = size
    for shot, photo in enumerate(photos):
        speed = speeds[shot % len(speeds)]
        scale = max(
            (width + 2 * weave + speed * frames_per_shot) / photo.shape[1], (height + 2 * weave) / photo.shape[0]
        )
        canvas = np.asarray(
            Image.fromarray(photo).resize(
                (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), Image.Resampling.BICUBIC
            )
        )
        for index in range(frames_per_shot):
            left, top = speed * index + weave + rng.integers(-weave, weave + 1), weave + rng.integers(-weave, weave + 1)
            colour = canvas[top : top + height, left : left + width]
            lightness = skcolor.rgb2lab(colour)[..., 0] * rng.uniform(1 - exposure, 1 + exposure)
            grey = skcolor.lab2rgb(np.stack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)], -1))
            noisy = np.clip(grey * 255.0 + rng.normal(0.0, grain, grey.shape[:2])[..., None], 0, 255)
            yield colour, np.rint(noisy).astype(np.uint8)


def write_film(
    path: Path,
    frames,
    fps: int,
    codec: str = "libx264",
    audio_seconds: float | None = None,
    pixel_format: str = "yuv420p",
    faststart: bool = False,
) -> int:
    """Encode uint8 RGB frames (all the same size) as a film with PyAV; with `audio_seconds`, also a
    440 Hz stereo AAC (Opus for webm) track that long; `faststart` puts an mp4's index first, as films
    made for the web have it. Returns the number of frames written."""
    import av

    frames = iter(frames)
    first = next(frames)
    count, rate, block = 0, 48000, 1024
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else None) as output:
        video = output.add_stream(codec, rate=fps)
        video.height, video.width = first.shape[:2]
        video.pix_fmt = pixel_format
        sound = (
            output.add_stream("libopus" if path.suffix == ".webm" else "aac", rate=rate, layout="stereo")
            if audio_seconds
            else None
        )
        for rgb in (first, *frames):
            for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
                output.mux(packet)
            count += 1
        for packet in video.encode():
            output.mux(packet)
        if sound is not None:
            samples = (0.2 * np.sin(2 * np.pi * 440 * np.arange(round(audio_seconds * rate)) / rate)).astype(np.float32)
            for start in range(0, len(samples), block):
                chunk = np.ascontiguousarray(np.repeat(samples[None, start : start + block], 2, axis=0))
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate = rate
                for packet in sound.encode(frame):
                    output.mux(packet)
            for packet in sound.encode():
                output.mux(packet)
    return count


def read_film_lab(path: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every frame of a film decoded with PyAV, as CIE L (H, W) and ab (H, W, 2), float32 lists."""
    import av

    lightness, ab = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            lab = skcolor.rgb2lab(frame.to_ndarray(format="rgb24")).astype(np.float32)
            lightness.append(lab[..., 0])
            ab.append(lab[..., 1:])
    return lightness, ab


def read_film_rgb(path: Path) -> list[np.ndarray]:
    """Every frame of a film decoded with PyAV, uint8 RGB (H, W, 3)."""
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


class PageClient:
    """A client of a running `colorize --serve`, sending what its page sends: the token of the address the
    server printed, the page's own Origin and the upload's content type. `headers` replace any of them
    (None drops one), to try what the server must refuse."""

    def __init__(self, printed: str):
        import re

        match = re.search(r"(http://127\.0\.0\.1:\d+/)\?token=([\w-]+)", printed)
        if match is None:
            raise ValueError(f"no address with a token in {printed!r}")
        self.url, self.token = match[1], match[2]
        self.origin = self.url.rstrip("/")

    def request(
        self, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 120
    ) -> tuple[int, bytes, dict]:
        """(status, body, response headers) of a GET (no body) or POST to the page's `path`."""
        import urllib.error
        import urllib.request

        sent = {"X-Colorize-Token": self.token}
        if body is not None:
            sent |= {"Origin": self.origin, "Content-Type": "application/octet-stream"}
        sent = {key: value for key, value in (sent | (headers or {})).items() if value is not None}
        request = urllib.request.Request(
            self.url + path, data=body, headers=sent, method="GET" if body is None else "POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def post(
        self, name: str, body: bytes, model: str | None = None, headers: dict | None = None, job: str | None = None
    ) -> tuple[int, dict]:
        """Upload `body` as a file called `name`: (status, the JSON answer)."""
        import json
        import urllib.parse

        query = urllib.parse.urlencode(
            {"name": name, **({"model": model} if model else {}), **({"job": job} if job else {})}
        )
        status, answer, _ = self.request(f"api/colorize?{query}", body, headers)
        return status, json.loads(answer) if answer.startswith(b"{") else {"error": answer.decode()}

    def get(self, path: str, headers: dict | None = None) -> bytes:
        """The body of a GET that must succeed."""
        status, body, _ = self.request(path, headers=headers)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body[:200]!r}")
        return body
