"""Scene cuts in panning clips, the films' detector against the one it replaced:
`python -m bench.scene_cuts PHOTOS` (PHOTOS: a folder of colour photos, the shared places_sample).

Each photo gives grey clips of 50 frames (grain, exposure flicker and gate weave as old film has them,
`workloads.panning_frames`) panning 5 % of the frame's width a frame, portrait and landscape, and 2 %
(portrait), through H.264 and back, at the size a network trained at 64x64 sees them (short side 64, as
`colorize_film` gives `TemporalSmoothing`). False cuts are counted on one shot panning across a photo,
real ones on two shots joined at frame 25 (this photo's, then the next one's). Then the film of
`bench.colorize_quality` (six shots of 24 frames at 640x480, panning 1 and 12 pixels a frame in turn):
its 5 cuts and no other should be found. Both detectors run at their default threshold (6.0 L units).
"""

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from colorization.colorize.films import DEFAULT_SCENE_CUT, TemporalSmoothing
from colorization.colorize.render import resize_plane, resized_lightness
from colorization.core.color import lightness_of_rgb

from .workloads import panning_frames, write_film

FRAMES, FPS, NETWORK_SIDE, MULTIPLE = 50, 25, 64, 8
CLIPS = (
    ("portrait, fast (5 %)", (270, 480), 0.05),
    ("landscape, fast (5 %)", (480, 270), 0.05),
    ("portrait, slow (2 %)", (270, 480), 0.02),
)


def fixed_thumbnail_cuts(frames: list[np.ndarray], scene_cut: float = 6.0) -> list[int]:
    """The frames the replaced detector starts a scene at: thumbnails 8 blocks wide, each less its own mean,
    compared in place (mean |delta L|)."""
    cuts, previous = [], None
    for index, lightness in enumerate(frames):
        height, width = lightness.shape
        thumbnail = resize_plane(lightness, (8, max(1, round(8 * height / width))))
        thumbnail = thumbnail - thumbnail.mean()
        if previous is not None and float(np.mean(np.abs(thumbnail - previous))) > scene_cut:
            cuts.append(index)
        previous = thumbnail
    return cuts


def aligned_cuts(frames: list[np.ndarray]) -> tuple[list[int], list[float]]:
    """The frames `TemporalSmoothing` starts a scene at, and its change between each pair of frames."""
    smoothing, cuts, changes, previous = TemporalSmoothing(), [], [], None
    for index, lightness in enumerate(frames):
        before = smoothing.cuts
        smoothing(lightness, np.zeros((*lightness.shape, 2), np.float32))
        thumbnail = TemporalSmoothing.thumbnail(lightness)
        if previous is not None:
            changes.append(TemporalSmoothing.change(previous, thumbnail))
        if smoothing.cuts > before:
            cuts.append(index)
        previous = thumbnail
    return cuts, changes


def network_frames(grey_frames, work: Path, fps: int = FPS) -> list[np.ndarray]:
    """Grey frames encoded with H.264 and decoded, each frame's L resized as the network sees it."""
    film = work / "clip.mp4"
    write_film(film, grey_frames, fps)
    frames = []
    with av.open(str(film)) as container:
        for frame in container.decode(video=0):
            lightness = lightness_of_rgb(frame.to_ndarray(format="rgb24"))
            height, width = lightness.shape
            scale = NETWORK_SIDE / min(height, width)
            frames.append(
                resized_lightness(
                    lightness,
                    tuple(max(MULTIPLE, round(side * scale / MULTIPLE) * MULTIPLE) for side in (width, height)),
                )
            )
    return frames


def pan_table(photos: list[np.ndarray], work: Path) -> list[tuple]:
    rows = []
    for name, size, share in CLIPS:
        speed = round(share * size[0])
        old_false = new_false = old_found = new_found = old_extra = new_extra = 0
        worst_old = worst_new = 0
        largest_within, smallest_at_cut = 0.0, np.inf
        for index, photo in enumerate(photos):
            one = network_frames(
                (grey for _, grey in panning_frames([photo], FRAMES, size, speeds=(speed,), seed=index)), work
            )
            old, (new, changes) = fixed_thumbnail_cuts(one), aligned_cuts(one)
            old_false, new_false = old_false + len(old), new_false + len(new)
            worst_old, worst_new = max(worst_old, len(old)), max(worst_new, len(new))
            largest_within = max(largest_within, *changes)
            two = network_frames(
                (
                    grey
                    for _, grey in panning_frames(
                        [photo, photos[(index + 1) % len(photos)]], FRAMES // 2, size, speeds=(speed,), seed=index
                    )
                ),
                work,
            )
            old, (new, changes) = fixed_thumbnail_cuts(two), aligned_cuts(two)
            old_found, new_found = old_found + (FRAMES // 2 in old), new_found + (FRAMES // 2 in new)
            old_extra, new_extra = old_extra + len(set(old) - {FRAMES // 2}), new_extra + len(set(new) - {FRAMES // 2})
            smallest_at_cut = min(smallest_at_cut, changes[FRAMES // 2 - 1])
        rows.append(
            (
                f"{name}, {size[0]}x{size[1]}, {speed} px a frame",
                old_false,
                worst_old,
                new_false,
                worst_new,
                old_found,
                new_found,
                old_extra,
                new_extra,
                largest_within,
                smallest_at_cut,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path)
    parser.add_argument("--count", type=int, default=20, help="photos (clips of each kind) to use")
    args = parser.parse_args()
    photos = []
    for path in sorted(args.photos.glob("Places365*.jpg"))[: args.count]:
        with Image.open(path) as image:
            photos.append(np.asarray(image.convert("RGB")))
    with tempfile.TemporaryDirectory() as work:
        print(
            f"{len(photos)} clips of {FRAMES} frames of each kind at {DEFAULT_SCENE_CUT}: clip | false cuts, "
            f"replaced (most in a clip) | new (most) | real cuts found, replaced | new | other cuts in the two-shot "
            f"clips, replaced | new | new: largest change within a shot | smallest at a cut"
        )
        for row in pan_table(photos, Path(work)):
            print(
                f"| {row[0]} | {row[1]} ({row[2]}) | {row[3]} ({row[4]}) | {row[5]}/{len(photos)} | "
                f"{row[6]}/{len(photos)} | {row[7]} | {row[8]} | {row[9]:.1f} | {row[10]:.1f} |",
                flush=True,
            )
        film = network_frames(
            (grey for _, grey in panning_frames(photos[:6], 24, (640, 480), speeds=(1, 12))), Path(work), 24
        )
        new, _ = aligned_cuts(film)
        print(
            f"colorize_quality's film, {len(film)} frames, cuts at 24, 48, 72, 96, 120: "
            f"replaced {fixed_thumbnail_cuts(film)}, new {new}"
        )
    smoothing, ab = TemporalSmoothing(), np.zeros((*film[0].shape, 2), np.float32)
    started = time.perf_counter()
    for lightness in film:
        smoothing(lightness, ab)
    new = time.perf_counter() - started
    started = time.perf_counter()
    fixed_thumbnail_cuts(film)
    old = time.perf_counter() - started
    print(
        f"ms a frame ({film[0].shape[1]}x{film[0].shape[0]}): TemporalSmoothing {new / len(film) * 1e3:.2f}, "
        f"the replaced detector {old / len(film) * 1e3:.2f}"
    )


if __name__ == "__main__":
    main()
