"""Sharded, memory-mapped storage of encoded LAB images (see `colorization.color` for the encoding).

A split directory holds `shard_00000.npy`, `shard_00001.npy`, ... each a uint8 array (n, H, W, 3) of at
most `shard_size` images, in the split's order. Writing streams one image at a time into a temporary
file, so memory does not depend on the shard size; reading memory-maps every shard, so a batch costs
only the pages it touches.
"""

import mmap
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .color import model_input, model_target
from .errors import UserError
from .files import atomic_path

SHARD_PATTERN = "shard_{:05d}.npy"


def write_shards(
    images: Iterable[np.ndarray], count: int, image_shape: tuple[int, int, int], directory: Path, shard_size: int
) -> int:
    """Write `count` encoded images from an iterable into shards under `directory`; return the shard count.

    Each shard is written under a temporary name and renamed when complete, so a shard file is always whole.
    """
    directory.mkdir(parents=True, exist_ok=True)
    iterator = iter(images)
    n_shards = -(-count // shard_size)
    for shard in range(n_shards):
        n_in_shard = min(shard_size, count - shard * shard_size)
        with atomic_path(directory / SHARD_PATTERN.format(shard)) as temporary, open(temporary, "wb") as handle:
            header = {"descr": "|u1", "fortran_order": False, "shape": (n_in_shard, *image_shape)}
            np.lib.format.write_array_header_1_0(handle, header)
            for _ in range(n_in_shard):
                image = next(iterator)
                if image.shape != image_shape or image.dtype != np.uint8:
                    raise ValueError(f"shard image has shape {image.shape} {image.dtype}, expected {image_shape} uint8")
                handle.write(np.ascontiguousarray(image).tobytes())
            handle.flush()
            os.fsync(handle.fileno())
    return n_shards


class LabShards:
    """Read-only view of one split's shards as a single indexable sequence of encoded images."""

    def __init__(self, directory: Path | str, limit: int | None = None):
        self.directory = Path(directory)
        paths = sorted(self.directory.glob("shard_*.npy"))
        if not paths:
            raise UserError(f"no shards in {self.directory}: run the prepare stage (dvc repro prepare)")
        self._shards = [np.load(path, mmap_mode="r") for path in paths]
        sizes = [len(shard) for shard in self._shards]
        self._starts = np.concatenate([[0], np.cumsum(sizes)])
        self._length = int(self._starts[-1]) if limit is None else min(limit, int(self._starts[-1]))
        self.image_shape = tuple(self._shards[0].shape[1:])

    def __len__(self) -> int:
        return self._length

    def read(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Encoded images at `indices` (any order), as a new uint8 array (len(indices), H, W, 3).

        The pages just read are then released from this process's mapping (they stay in the page
        cache), so its resident memory does not grow as an epoch touches every shard.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self._length):
            raise IndexError(f"index out of range for {self._length} images in {self.directory}")
        out = np.empty((len(indices), *self.image_shape), dtype=np.uint8)
        shard_of = np.searchsorted(self._starts, indices, side="right") - 1
        for shard in np.unique(shard_of):
            rows = np.nonzero(shard_of == shard)[0]
            local = indices[rows] - self._starts[shard]
            order = np.argsort(local)
            out[rows[order]] = self._shards[shard][local[order]]
            self._shards[shard].base.madvise(mmap.MADV_DONTNEED)
        return out

    def batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network input L/100 (B, H, W, 1) and target ab/128 (B, H, W, 2) for `indices`, float32."""
        encoded = self.read(indices)
        return model_input(encoded), model_target(encoded)

    def batches(self, batch_size: int, order: np.ndarray | None = None):
        """Yield (L, ab) batches over all images, in `order` if given, else in stored order."""
        order = np.arange(self._length) if order is None else order
        for start in range(0, len(order), batch_size):
            yield self.batch(order[start : start + batch_size])
