"""Colour as classification: Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016).

The ab plane is cut into square cells of GRID units centred on multiples of GRID; the Q cells that some
sRGB colour falls into, exactly or after the shards' rounding of a and b to integers, are the classes
(computed here from every one of the 2^24 sRGB colours, never downloaded). A target pixel is soft-encoded over its NEIGHBOURS nearest class centres with a Gaussian of
SIGMA; each pixel's loss is weighted by class rebalancing, w ~ ((1 - lambda) p + lambda / Q)^-1 with p
the Gaussian-smoothed ab prior of the training images, scaled so that E_p[w] = 1; and a predicted
distribution is decoded with the annealed mean, softmax(logits / T) . centres.

The arrays here are plain numpy in LAB units (a, b roughly -128..127), so the Keras and the PyTorch
training share them; a network's head predicts Q logits per pixel.
"""

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from ..core.color import AB_OFFSET, rgb_to_lab

GRID = 10.0         # ab units per cell side
SIGMA = 5.0         # ab units: the soft-encoding and prior-smoothing Gaussian
NEIGHBOURS = 5      # class centres each target pixel is spread over
REBALANCE = 0.5     # lambda: the share of the uniform distribution mixed into the prior
TEMPERATURE = 0.38  # the annealed mean's T: 1 is the mean, towards 0 the mode

_CELL_SPAN = 13                   # cells -13..13 cover a, b in [-135, 135]: all of sRGB with room
_SEARCH = np.array([(da, db) for da in range(-2, 3) for db in range(-2, 3)])  # the 5x5 cells around a pixel


def _cell(ab: np.ndarray) -> np.ndarray:
    """Table index (a cell, b cell) of each ab (..., 2): the nearest multiple of GRID, halves rounded up."""
    cells = np.floor(np.asarray(ab, dtype=np.float32) / GRID + 0.5).astype(np.int64) + _CELL_SPAN
    return np.clip(cells, 0, 2 * _CELL_SPAN)


@lru_cache(maxsize=1)
def _gamut_cells() -> np.ndarray:
    """(2 * _CELL_SPAN + 1)^2 boolean table: which cells (a index, b index) some sRGB colour falls into."""
    occupied = np.zeros((2 * _CELL_SPAN + 1,) * 2, dtype=bool)
    levels = np.arange(256, dtype=np.uint8)
    for red in levels:  # one plane of 65,536 colours at a time: 16.7 million in all
        green, blue = np.meshgrid(levels, levels, indexing="ij")
        plane = np.stack([np.full_like(green, red), green, blue], axis=-1)
        ab = rgb_to_lab(plane)[..., 1:].reshape(-1, 2)
        for cells in (_cell(ab), _cell(np.floor(ab + 0.5))):
            occupied[cells[:, 0], cells[:, 1]] = True
    return occupied


@lru_cache(maxsize=1)
def _class_of_cell() -> np.ndarray:
    """The class index of every cell of the table, -1 for cells outside the gamut."""
    occupied = _gamut_cells()
    table = np.full(occupied.shape, -1, dtype=np.int64)
    table[occupied] = np.arange(occupied.sum())
    return table


def bin_centres() -> np.ndarray:
    """(Q, 2) float32 ab centres of the in-gamut cells, in the order of their class index."""
    a_index, b_index = np.nonzero(_gamut_cells())
    return ((np.stack([a_index, b_index], axis=1) - _CELL_SPAN) * GRID).astype(np.float32)


def nearest_class(ab: np.ndarray) -> np.ndarray:
    """Class index of the cell each ab (..., 2) falls into (hard assignment), shape (...)."""
    cells = _cell(ab)
    return _class_of_cell()[cells[..., 0], cells[..., 1]]


def soft_encode(ab: np.ndarray, sigma: float = SIGMA, neighbours: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Each ab (..., 2) spread over its `neighbours` nearest class centres with a Gaussian of `sigma`.

    Returns (classes, weights), both (..., neighbours): int64 class indices and float32 weights that sum
    to 1 per pixel. Sparse, so a batch's targets cost 5 numbers a pixel instead of Q.
    """
    ab = np.asarray(ab, dtype=np.float32)
    flat = ab.reshape(-1, 2)
    candidates = np.clip(_cell(flat)[:, None, :] + _SEARCH[None], 0, 2 * _CELL_SPAN)
    classes = _class_of_cell()[candidates[..., 0], candidates[..., 1]]
    centres = (candidates - _CELL_SPAN) * GRID
    distance = np.sum((centres - flat[:, None, :]) ** 2, axis=-1, dtype=np.float32)
    distance[classes < 0] = np.inf
    order = np.argsort(distance, axis=1, kind="stable")[:, :neighbours]
    nearest = np.take_along_axis(distance, order, axis=1)
    weights = np.exp(-(nearest - nearest[:, :1]) / (2 * sigma ** 2))  # relative to the nearest: no underflow
    weights /= weights.sum(axis=1, keepdims=True)
    shape = ab.shape[:-1] + (neighbours,)
    return (np.take_along_axis(classes, order, axis=1).reshape(shape), weights.astype(np.float32).reshape(shape))


def dense(classes: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """The (..., Q) distribution that `soft_encode`'s sparse (classes, weights) stand for."""
    out = np.zeros(classes.shape[:-1] + (n_classes,), dtype=np.float32)
    np.put_along_axis(out, classes, weights, axis=-1)
    return out


def class_counts(encoded_batches: Iterable[np.ndarray]) -> np.ndarray:
    """Pixels per class over batches of shard-encoded images (..., 3): the counts of the empirical ab prior.

    Counts the 65,536 possible encoded (a, b) byte pairs first, then maps each pair to its class, so the
    shards are read once, in any batch size, at the speed of a histogram.
    """
    pairs = np.zeros(256 * 256, dtype=np.int64)
    for encoded in encoded_batches:
        pair = encoded[..., 1].astype(np.int64) * 256 + encoded[..., 2]
        pairs += np.bincount(pair.ravel(), minlength=pairs.size)
    a_byte, b_byte = np.divmod(np.arange(pairs.size), 256)
    classes = nearest_class(np.stack([a_byte, b_byte], axis=-1) - AB_OFFSET)
    seen = pairs > 0
    if np.any(classes[seen] < 0):
        raise ValueError("encoded ab values outside the sRGB gamut's classes: not shard data")
    return np.bincount(classes[seen], weights=pairs[seen], minlength=len(bin_centres())).astype(np.int64)


def smoothed_prior(counts: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """The empirical class distribution of `counts` (Q,), smoothed with a Gaussian of `sigma` ab units
    over the class centres; sums to 1."""
    centres = bin_centres().astype(np.float64)
    squared = np.sum((centres[:, None, :] - centres[None, :, :]) ** 2, axis=-1)
    kernel = np.exp(-squared / (2 * sigma ** 2))
    empirical = np.asarray(counts, dtype=np.float64) / max(float(np.sum(counts)), 1.0)
    prior = kernel @ empirical
    return prior / prior.sum()


def rebalancing_weights(prior: np.ndarray, rebalance: float = REBALANCE) -> np.ndarray:
    """Per-class loss weights ((1 - lambda) p + lambda / Q)^-1, scaled so that their mean under `prior` is 1:
    rare, saturated colours weigh more, so the loss stops paying for the common desaturated ones."""
    prior = np.asarray(prior, dtype=np.float64)
    weights = 1.0 / ((1.0 - rebalance) * prior + rebalance / prior.size)
    return (weights / np.sum(prior * weights)).astype(np.float32)


def annealed_mean(logits: np.ndarray, temperature: float = TEMPERATURE) -> np.ndarray:
    """ab (..., 2) decoded from per-pixel class logits (..., Q): the mean of the centres under
    softmax(logits / T), which is the predicted distribution re-normalised after raising it to 1/T."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    probabilities = np.exp(scaled)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return (probabilities @ bin_centres().astype(np.float64)).astype(np.float32)
