"""Where the time of one photo and one film frame goes in `colorize`: each step of the path timed alone,
in this process, on generated pictures, with the shipped default model.

    python -m bench.profile_colorize [--repeats N]

Steps, as `jobs.colorize_photo` and `films.colorize_film` run them: decode (JPEG for the photo, H.264
for the frame), L from RGB at full size, L resized to the network's input, the network, ab upsampled to
full size and recombined with L into RGB (one fused pass), encode (quality-100 JPEG; H.264 for the
frame). Beside them, the reference path the fused one replaced (`render.upsample_ab`, then
`render.compose`), and L from RGB by scikit-image in float64. Each figure is the best of N runs, in
milliseconds.
"""

import argparse
import io
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from colorization.colorize.render import colour, compose, load_model, upsample_ab
from colorization.core.color import lightness_of_rgb, rgb_to_lab

from .workloads import panning_frames


def best_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * min(times)


def steps(rgb: np.ndarray, decode, encode, repeats: int) -> dict[str, float]:
    """Milliseconds of each step for one RGB picture, `decode()` and `encode(rgb)` given."""
    model = load_model("reference_hints", Path.cwd())
    lightness = lightness_of_rgb(rgb)
    small = model.network_lightness(lightness)
    ab = model.predict(small)
    size = (lightness.shape[1], lightness.shape[0])
    full_ab = upsample_ab(ab, size)
    coloured = colour(lightness, ab)
    return {
        "decode": best_ms(decode, repeats),
        "L from RGB": best_ms(lambda: lightness_of_rgb(rgb), repeats),
        "L to the network's size": best_ms(lambda: model.network_lightness(lightness), repeats),
        "network": best_ms(lambda: model.predict(small), repeats),
        "ab upsampled, recombined": best_ms(lambda: colour(lightness, ab), repeats),
        "encode": best_ms(lambda: encode(coloured), repeats),
    }, {
        "L from RGB, scikit-image": best_ms(lambda: rgb_to_lab(rgb.astype(np.float32) / 255.0)[..., 0], repeats),
        "ab upsampled, reference": best_ms(lambda: upsample_ab(ab, size), repeats),
        "recombined, reference": best_ms(lambda: compose(lightness, full_ab), repeats),
    }


def photo_steps(repeats: int) -> dict[str, float]:
    """A 4000x3000 grey JPEG of a smooth picture with texture."""
    rng = np.random.default_rng(0)
    coarse = Image.fromarray(rng.integers(0, 256, (30, 40), dtype=np.uint8)).resize((4000, 3000), Image.BICUBIC)
    grey = np.clip(np.asarray(coarse, dtype=np.int16) + rng.integers(-8, 9, (3000, 4000)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()

    def decode():
        with Image.open(io.BytesIO(data)) as image:
            image.convert("RGB").load()

    def encode(rgb):
        Image.fromarray(rgb).save(io.BytesIO(), "JPEG", quality=100, subsampling=0)

    return steps(np.repeat(grey[..., None], 3, axis=2), decode, encode, repeats)


def frame_steps(repeats: int) -> dict[str, float]:
    """A 640x480 frame of a grainy panning shot, decoded from and encoded to H.264 (yuv420p)."""
    photo = np.asarray(
        Image.fromarray(np.random.default_rng(1).integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
            (960, 720), Image.BICUBIC
        )
    )
    _, grey = next(panning_frames([photo], 1, (640, 480)))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        output.mux(stream.encode(av.VideoFrame.from_ndarray(grey, format="rgb24")))
        output.mux(stream.encode())
    data = buffer.getvalue()

    def decode():
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                frame.to_ndarray(format="rgb24")

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 480, "yuv420p"
    encoder.options = {"crf": "17"}

    def encode(rgb):
        encoder.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24"))

    return steps(grey, decode, encode, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for name, measure in (("12-megapixel photo", photo_steps), ("640x480 film frame", frame_steps)):
        figures, references = measure(args.repeats)
        total = sum(figures.values())
        print(f"{name}: {total:.0f} ms in all")
        for step, milliseconds in figures.items():
            print(f"  {step:26} {milliseconds:8.1f} ms  {100 * milliseconds / total:5.1f} %")
        for step, milliseconds in references.items():
            print(f"  ({step:24} {milliseconds:8.1f} ms)")


if __name__ == "__main__":
    main()
