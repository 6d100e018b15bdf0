"""The ab colour classes: the ab plane cut into square cells of GRID units centred on multiples of GRID,
and the Q cells that some sRGB colour falls into, exactly or after the shards' rounding of a and b to
integers (computed from every one of the 2^24 sRGB colours by `srgb_gamut_cells`, never downloaded, and
kept below as a picture: the computation takes seconds, and every process that colours with a
classification model needs the table; tests/test_classification.py checks the picture against it). The classification
loss predicts a distribution over them; the class-rebalanced AuC weighs each pixel by its true class.
"""

from functools import lru_cache

import numpy as np

from .color import rgb_to_lab

GRID = 10.0  # ab units per cell side
CELL_SPAN = 13  # cells -13..13 cover a, b in [-135, 135]: all of sRGB with room


def cell(ab: np.ndarray) -> np.ndarray:
    """Table index (a cell, b cell) of each ab (..., 2): the nearest multiple of GRID, halves rounded up."""
    cells = np.floor(np.asarray(ab, dtype=np.float32) / GRID + 0.5).astype(np.int64) + CELL_SPAN
    return np.clip(cells, 0, 2 * CELL_SPAN)


# Row: a cell from -CELL_SPAN to CELL_SPAN; column: b cell, the same; "#": some sRGB colour falls in it.
GAMUT = (
    "...........................",
    "...........................",
    "...........................",
    "...........................",
    ".....................#.....",
    ".................######....",
    "...............########....",
    ".............##########....",
    "...........############....",
    "..........#############....",
    ".........##############....",
    ".........##############....",
    "........###############....",
    ".......################....",
    "......#################....",
    "......################.....",
    ".....#################.....",
    "....##################.....",
    "....#################......",
    "...##################......",
    "..###################......",
    "..###################......",
    "....##########.............",
    "......###..................",
    "...........................",
    "...........................",
    "...........................",
)


@lru_cache(maxsize=1)
def gamut_cells() -> np.ndarray:
    """(2 * CELL_SPAN + 1)^2 boolean table: which cells (a index, b index) some sRGB colour falls into."""
    return np.array([[mark == "#" for mark in row] for row in GAMUT])


def srgb_gamut_cells() -> np.ndarray:
    """`gamut_cells` computed from every sRGB colour (what GAMUT pictures)."""
    occupied = np.zeros((2 * CELL_SPAN + 1,) * 2, dtype=bool)
    levels = np.arange(256, dtype=np.uint8)
    for red in levels:  # one plane of 65,536 colours at a time: 16.7 million in all
        green, blue = np.meshgrid(levels, levels, indexing="ij")
        plane = np.stack([np.full_like(green, red), green, blue], axis=-1)
        ab = rgb_to_lab(plane)[..., 1:].reshape(-1, 2)
        for cells in (cell(ab), cell(np.floor(ab + 0.5))):
            occupied[cells[:, 0], cells[:, 1]] = True
    return occupied


@lru_cache(maxsize=1)
def class_of_cell() -> np.ndarray:
    """The class index of every cell of the table, -1 for cells outside the gamut."""
    occupied = gamut_cells()
    table = np.full(occupied.shape, -1, dtype=np.int64)
    table[occupied] = np.arange(occupied.sum())
    return table


def bin_centres() -> np.ndarray:
    """(Q, 2) float32 ab centres of the in-gamut cells, in the order of their class index."""
    a_index, b_index = np.nonzero(gamut_cells())
    return ((np.stack([a_index, b_index], axis=1) - CELL_SPAN) * GRID).astype(np.float32)


def nearest_class(ab: np.ndarray) -> np.ndarray:
    """Class index of the cell each ab (..., 2) falls into (hard assignment), shape (...)."""
    cells = cell(ab)
    return class_of_cell()[cells[..., 0], cells[..., 1]]
