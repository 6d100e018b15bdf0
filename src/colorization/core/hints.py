"""Colour hints, after Zhang, Zhu, Isola, Geng, Lin, Yu and Efros (2017), "Real-Time User-Guided Image
Colorization with Learned Deep Priors": sparse ab values at a few places in the picture, which a network
with a hint input (`ModelSpec.hints`) reads beside L and spreads along the edges it has learned.

A batch of hints is float32 (B, H, W, 3) at the network's input size: the hint's ab/128 in channels 0-1
(0 where there is none) and a mask in channel 2, 1 where a hint is. No hint anywhere is all zeros, which
a hint network reads as an ordinary automatic colorization.

Where hints come from:
- training (`simulate`), as the paper and its public training code do: per image a number of points
  drawn from a geometric distribution that starts at 0 (stop with probability 1/8 before each point: none
  for one image in eight, seven on average), each a square of side 1-9 px (uniform) whose colour is the
  truth's mean ab over the square, placed around the centre: each coordinate drawn from a normal with
  mean half and standard deviation a quarter of the room left, clipped to the image;
- evaluation (`reveal`): a fixed number of points per image, each a square of side POINT_SIDE at a
  uniformly drawn position, with the truth's mean ab over it, from a seeded generator;
- a person (`from_points`): points in a photo's pixel coordinates with a colour each, mapped to the
  network's input size as squares of side POINT_SIDE.
"""

import numpy as np

from .encoding import AB_SCALE

CHANNELS = 3  # hint a/128, hint b/128, mask
STOP = 1 / 8  # the geometric distribution's stop probability before each simulated point
SIDES = (1, 9)  # smallest and largest side of a simulated point's square, in network pixels
POINT_SIDE = 3  # side of an evaluation's or a person's point, in network pixels


def empty(batch: int, height: int, width: int) -> np.ndarray:
    """No hints: all zeros."""
    return np.zeros((batch, height, width, CHANNELS), dtype=np.float32)


def _put(hints: np.ndarray, ab: np.ndarray, top: int, left: int, side: int) -> None:
    """Reveal the mean of `ab` (H, W, 2) over the square at (top, left) into one image's `hints`."""
    square = (slice(top, top + side), slice(left, left + side))
    hints[square + (slice(0, 2),)] = ab[square].reshape(-1, 2).mean(axis=0)
    hints[square + (2,)] = 1.0


def simulate(ab: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Training hints for true ab/128 (B, H, W, 2), drawn from `rng` as the module docstring says."""
    batch, height, width, _ = ab.shape
    hints = empty(batch, height, width)
    for image in range(batch):
        while rng.random() >= STOP:
            side = min(int(rng.integers(SIDES[0], SIDES[1] + 1)), height, width)
            top, left = (
                int(np.clip(rng.normal(room / 2, room / 4), 0, room - 1))
                for room in (height - side + 1, width - side + 1)
            )
            _put(hints[image], ab[image], top, left, side)
    return hints


def positions(rng: np.random.Generator, batch: int, points: int, height: int, width: int) -> np.ndarray:
    """Top-left corners (B, points, 2) of evaluation squares of side POINT_SIDE, uniform over the image."""
    side = min(POINT_SIDE, height, width)
    tops = rng.integers(0, height - side + 1, size=(batch, points))
    lefts = rng.integers(0, width - side + 1, size=(batch, points))
    return np.stack([tops, lefts], axis=-1)


def reveal(ab: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Hints revealing the true ab/128 (B, H, W, 2) in the squares of side POINT_SIDE at `corners`
    (B, points, 2): what an evaluation with that many points gives the network."""
    batch, height, width, _ = ab.shape
    side = min(POINT_SIDE, height, width)
    hints = empty(batch, height, width)
    for image in range(batch):
        for top, left in corners[image]:
            _put(hints[image], ab[image], int(top), int(left), side)
    return hints


def network_pixel(x: float, y: float, size: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    """(row, column) at a network input of `shape` = (width, height) of the point (x, y) of a photo of
    `size` = (width, height), in its pixel coordinates."""
    (photo_width, photo_height), (width, height) = size, shape
    column = min(max(int((x + 0.5) * width / photo_width), 0), width - 1)
    row = min(max(int((y + 0.5) * height / photo_height), 0), height - 1)
    return row, column


def from_points(
    points: list[tuple[float, float, float, float]], size: tuple[int, int], shape: tuple[int, int]
) -> np.ndarray:
    """Hints (1, h, w, 3) at a network input of `shape` = (width, height) for a person's `points`, each
    (x, y, a, b): a position in the pixel coordinates of a photo of `size` = (width, height), and a colour's
    a, b in LAB units. Each point is a square of side POINT_SIDE around where it falls; a later point
    covers an earlier one where they overlap."""
    width, height = shape
    hints = empty(1, height, width)
    side = min(POINT_SIDE, height, width)
    for x, y, a, b in points:
        row, column = network_pixel(x, y, size, shape)
        top = int(np.clip(row - side // 2, 0, height - side))
        left = int(np.clip(column - side // 2, 0, width - side))
        hints[0, top : top + side, left : left + side, :2] = (a / AB_SCALE, b / AB_SCALE)
        hints[0, top : top + side, left : left + side, 2] = 1.0
    return hints
