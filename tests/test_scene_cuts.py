"""Scene cuts in films (`films.TemporalSmoothing`): a pan, grain, gate weave and exposure flicker are not
cuts, a new shot is. Frames are made as the benchmark makes them (`bench.workloads.panning_frames`: grain,
exposure flicker and gate weave in every frame) and given at the size the network sees them."""

import numpy as np
import pytest

from bench.workloads import panning_frames
from colorization.colorize.films import DEFAULT_SCENE_CUT, TemporalSmoothing
from colorization.colorize.render import resized_lightness
from colorization.core.color import lightness_of_rgb
from photo_files import colour_photo

PORTRAIT, LANDSCAPE = (270, 480), (480, 270)


def mosaic(seed: int, columns: int = 6, rows: int = 3, tile: int = 128) -> np.ndarray:
    """A detailed photo: unrelated `colour_photo`s side by side, whose edges made the detector that compared
    frames in place see cuts in a pan across them."""
    return np.concatenate(
        [
            np.concatenate(
                [
                    np.asarray(colour_photo(seed * 100 + row * columns + column, tile, tile))
                    for column in range(columns)
                ],
                axis=1,
            )
            for row in range(rows)
        ]
    )


def network_frames(
    photos: list[np.ndarray], frames_per_shot: int, size: tuple[int, int], share: float, **old_film
) -> list[np.ndarray]:
    """Grey frames of `size` panning `share` of their width a frame across each photo, each frame's L at 64
    pixels on its short side, as `colorize_film` gives it to the smoothing."""
    frames = []
    for _, grey in panning_frames(photos, frames_per_shot, size, speeds=(round(share * size[0]),), **old_film):
        lightness = lightness_of_rgb(grey)
        scale = 64 / min(lightness.shape)
        frames.append(
            resized_lightness(lightness, (round(lightness.shape[1] * scale), round(lightness.shape[0] * scale)))
        )
    return frames


def scene_starts(frames: list[np.ndarray], ab: list[float] | None = None) -> tuple[list[int], list[float]]:
    """The frames TemporalSmoothing starts a new scene at, and the smoothed ab it gives each frame for a
    predicted ab of `ab[index]` everywhere (0 if None)."""
    smoothing, starts, outputs = TemporalSmoothing(), [], []
    for index, lightness in enumerate(frames):
        before = smoothing.cuts
        value = 0.0 if ab is None else ab[index]
        outputs.append(float(smoothing(lightness, np.full((*lightness.shape, 2), value, np.float32))[0, 0, 0]))
        if smoothing.cuts > before:
            starts.append(index)
    return starts, outputs


def changes(frames: list[np.ndarray]) -> list[float]:
    thumbnails = [TemporalSmoothing.thumbnail(lightness) for lightness in frames]
    return [TemporalSmoothing.change(*pair) for pair in zip(thumbnails, thumbnails[1:])]


@pytest.mark.parametrize("size", [PORTRAIT, LANDSCAPE], ids=["portrait", "landscape"])
def test_a_fast_pan_is_not_a_cut(size):
    frames = network_frames([mosaic(1)], 50, size, 0.05)  # 2 s at 25 fps, 5 % of the width a frame
    in_place = [float(np.mean(np.abs(a - b))) for a, b in zip(frames, frames[1:])]
    assert np.mean(in_place) > DEFAULT_SCENE_CUT  # compared without aligning, the frames differ as at a cut
    assert scene_starts(frames)[0] == []
    assert max(changes(frames)) < DEFAULT_SCENE_CUT / 2


@pytest.mark.parametrize("size", [PORTRAIT, LANDSCAPE], ids=["portrait", "landscape"])
def test_two_shots_joined_are_one_cut_at_the_join_where_the_colours_restart(size):
    frames = network_frames([mosaic(1), mosaic(2)], 25, size, 0.05)
    starts, outputs = scene_starts(frames, [20.0] * 25 + [-20.0] * 25)
    assert starts == [25]
    assert outputs[24] == pytest.approx(20.0) and outputs[25] == pytest.approx(-20.0)  # not 0.8 * 20 + 0.2 * -20
    assert changes(frames)[24] > 2 * DEFAULT_SCENE_CUT


def test_grain_gate_weave_and_exposure_flicker_are_not_cuts():
    frames = network_frames([mosaic(3)], 50, PORTRAIT, 0.0, grain=12.0, exposure=0.06, weave=2)
    assert scene_starts(frames)[0] == []
    assert max(changes(frames)) < DEFAULT_SCENE_CUT / 2


def test_a_still_film_is_not_a_cut():
    frames = network_frames([mosaic(4)], 20, PORTRAIT, 0.0, grain=0.0, exposure=0.0, weave=0)
    assert scene_starts(frames)[0] == []
    assert changes(frames) == [0.0] * 19


def test_a_cut_in_brightness_alone_is_found_but_flicker_is_not():
    """Two plain shots, as from a dark room to a bright sky: little to tell them apart but their brightness."""
    shape = (112, 64)
    texture = [lightness_of_rgb(np.asarray(colour_photo(seed, shape[1], shape[0]))) for seed in (5, 6)]
    dark, bright = (level + 0.05 * (plane - plane.mean()) for level, plane in zip((15.0, 65.0), texture))
    flicker = [1.0, 1.1, 0.9, 1.05] * 3  # +-10 % of the brightness from frame to frame
    frames = [dark * gain for gain in flicker] + [bright * gain for gain in flicker]
    assert scene_starts(frames)[0] == [12]


def test_flow_guided_smoothing_carries_colour_along_a_pan_where_the_moving_average_smears_it():
    """A pan across a picture whose true colour belongs to it (a function of its lightness), predicted
    with fresh noise in every frame (the network's flicker): along the flow the smoothed colour stays on
    the picture and beats each frame alone; the moving average, kept in place, drags colour behind the
    motion. Same weight for both; a longer memory along the flow blurs detail, as each frame's warp
    interpolates (BENCHMARKS.md weighs it on films)."""
    from colorization.evaluation.metrics import warping_error

    picture = resized_lightness(lightness_of_rgb(mosaic(3, columns=4, rows=2)), (256, 128))
    truth_of = lambda plane: np.stack([(plane - 50) * 0.8, (50 - plane) * 0.5], axis=-1)  # noqa: E731
    rng = np.random.default_rng(0)
    frames = [picture[16:80, 3 * t : 3 * t + 96] for t in range(30)]  # 3 network pixels a frame
    errors, outputs = {}, {}
    for flow in (True, False):
        smoothing, out = TemporalSmoothing(0.8, flow=flow), []
        for lightness in frames:
            noisy = truth_of(lightness) + rng.normal(0, 6, (*lightness.shape, 2)).astype(np.float32)
            out.append(smoothing(lightness, noisy).copy())
        assert smoothing.cuts == 0
        errors[flow] = np.mean([np.abs(o - truth_of(f))[8:-8, 8:-8].mean() for o, f in zip(out[10:], frames[10:])])
        outputs[flow] = out
    alone = np.mean(np.abs(rng.normal(0, 6, (10000, 2))))
    assert errors[True] < 0.5 * alone
    assert errors[True] < 0.6 * errors[False]
    assert warping_error(frames, outputs[True]) < warping_error(frames, outputs[False])
