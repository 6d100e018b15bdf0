"""Sharded, memory-mapped storage of encoded LAB images (see `colorization.core.encoding` for the encoding).

A split directory holds `shard_00000.npy`, `shard_00001.npy`, ... each a uint8 array (n, H, W, 3) of at
most `shard_size` images, in the split's order, a plain .npy file that `np.load(mmap_mode="r")` opens.
Writing puts one image at a time straight into its place in a temporary file, so memory does not depend
on the shard size; reading memory-maps every shard, so a batch costs only the pages it touches.
"""

import mmap
import os
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np

from ..core.encoding import scale_for_model
from ..core.errors import UserError

SHARD_PATTERN = "shard_{:05d}.npy"
LABELS_FILE = "labels.npy"  # int16 per image: its scene class, -1 for none


class ShardWriter:
    """Pre-sized shard files under temporary names, filled image by image at known offsets by any process.

    Workers write each image straight into its slot (`write_image`), so images never travel between
    processes and memory does not depend on the shard size; `commit` flushes and renames the shards to
    their final names, so a shard file under its final name is always whole.
    """

    def __init__(self, directory: Path, count: int, image_shape: tuple[int, int, int], shard_size: int):
        self.image_shape = tuple(image_shape)
        self.image_bytes = int(np.prod(image_shape))
        self.shard_size = shard_size
        self.files = []
        Path(directory).mkdir(parents=True, exist_ok=True)
        for shard in range(-(-count // shard_size)):
            final = Path(directory) / SHARD_PATTERN.format(shard)
            temporary = final.with_name("tmp-" + final.name)
            n_in_shard = min(shard_size, count - shard * shard_size)
            with open(temporary, "wb") as handle:
                header = {"descr": "|u1", "fortran_order": False, "shape": (n_in_shard, *image_shape)}
                np.lib.format.write_array_header_1_0(handle, header)
                header_bytes = handle.tell()
                handle.truncate(header_bytes + n_in_shard * self.image_bytes)
            self.files.append((temporary, final, header_bytes))

    def slot(self, index: int) -> tuple[str, int]:
        """(temporary file, byte offset) where image `index` of the split goes."""
        temporary, _, header_bytes = self.files[index // self.shard_size]
        return str(temporary), header_bytes + (index % self.shard_size) * self.image_bytes

    def commit(self) -> None:
        """Rename the filled shards to their final names. There is no fsync: the renames guard against
        a killed process (the data is in the page cache), not against a power cut, which DVC's own
        cache does not guard against either; syncing hundreds of MB doubled prepare's time here."""
        for temporary, final, _ in self.files:
            os.replace(temporary, final)

    def discard(self) -> None:
        for temporary, _, _ in self.files:
            temporary.unlink(missing_ok=True)


def write_image(slot: tuple[str, int], image: np.ndarray, image_shape: tuple[int, int, int]) -> None:
    """Write one encoded image into its slot of a ShardWriter's file."""
    if image.shape != tuple(image_shape) or image.dtype != np.uint8:
        raise ValueError(f"shard image has shape {image.shape} {image.dtype}, expected {tuple(image_shape)} uint8")
    path, offset = slot
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(descriptor, np.ascontiguousarray(image).data, offset)
    finally:
        os.close(descriptor)


def write_shards(
    images: Iterable[np.ndarray], count: int, image_shape: tuple[int, int, int], directory: Path, shard_size: int
) -> int:
    """Write `count` encoded images from an iterable, in order, into shards; return the shard count."""
    writer = ShardWriter(directory, count, image_shape, shard_size)
    try:
        for index, image in zip(range(count), images):
            write_image(writer.slot(index), image, image_shape)
    except BaseException:
        writer.discard()
        raise
    writer.commit()
    return len(writer.files)


class LabShards:
    """Read-only view of one split's shards as a single indexable sequence of encoded images."""

    def __init__(self, directory: Path | str, limit: int | None = None):
        self.directory = Path(directory)
        paths = sorted(self.directory.glob("shard_*.npy"))
        if not paths:
            raise UserError(f"no shards in {self.directory}: run the prepare stage (dvc repro prepare)")
        self._shards = [np.load(path, mmap_mode="r") for path in paths]
        self._rows = [np.asarray(shard).reshape(len(shard), -1) for shard in self._shards]  # flat images
        sizes = [len(shard) for shard in self._shards]
        self._starts = np.concatenate([[0], np.cumsum(sizes)])
        self._length = int(self._starts[-1]) if limit is None else min(limit, int(self._starts[-1]))
        self.image_shape = tuple(self._shards[0].shape[1:])
        labels = self.directory / LABELS_FILE
        # each image's scene class (an index into meta.json's categories), -1 for none; None: no labels
        self.labels = np.load(labels)[: self._length] if labels.is_file() else None

    def __len__(self) -> int:
        return self._length

    def read(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Encoded images at `indices` (any order), as a new uint8 array (len(indices), H, W, 3).

        Each shard's images are read in file order. The pages just read are then released from this
        process's mapping (they stay in the page cache), so its resident memory does not grow as an
        epoch touches every shard.
        """
        indices = self._checked(indices)
        out = np.empty((len(indices), *self.image_shape), dtype=np.uint8)
        for shard, local, rows in self._by_shard(indices):
            out[rows] = self._shards[shard][local]
        return out

    def _checked(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= self._length):
            raise IndexError(f"index out of range for {self._length} images in {self.directory}")
        return indices

    def _by_shard(self, indices: np.ndarray):
        """(shard, its local indices in ascending order, their positions in `indices`) per shard touched;
        once the caller has read them, the shard's pages are released from this process's mapping."""
        shard_of = np.searchsorted(self._starts, indices, side="right") - 1
        for shard in np.unique(shard_of):
            rows = np.nonzero(shard_of == shard)[0]
            local = indices[rows] - self._starts[shard]
            order = np.argsort(local, kind="stable")
            yield shard, local[order], rows[order]
            self._shards[shard].base.madvise(mmap.MADV_DONTNEED)

    def batch(self, indices: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network input L/100 (B, H, W, 1) and target ab/128 (B, H, W, 2) for `indices`, float32.

        Reads and converts straight from the memory maps in one compiled pass (see `read` for the order
        and the release of pages).
        """
        indices = self._checked(indices)
        scaled = np.empty((len(indices), int(np.prod(self.image_shape))), dtype=np.float32)
        for shard, local, rows in self._by_shard(indices):
            scale_for_model(self._rows[shard], local, rows, scaled)
        scaled = scaled.reshape(len(indices), *self.image_shape)
        return scaled[..., :1], scaled[..., 1:]

    def batches(
        self,
        batch_size: int,
        order: np.ndarray | None = None,
        prefetch: int = 0,
        part: tuple[int, int] = (0, 1),
        encoded: bool = False,
        mirror: np.ndarray | None = None,
        labels: bool = False,
    ):
        """Yield (L, ab) batches over all images, in `order` if given, else in stored order; with `encoded`,
        the encoded uint8 images themselves (`read`), for an engine to convert where it computes.
        `mirror`, a bool per image, marks the images that come out mirrored left-right (augmentation).
        With `labels`, each batch comes as (batch, its images' scene labels).

        `part` = (k, n): of each batch, only the k-th of n consecutive, near-equal shares (a data-parallel
        worker's); a batch of fewer than n images is skipped, so every worker gets as many batches.

        `prefetch` threads read and convert the next batches while the caller works on this one (the
        compiled conversion releases the GIL), so a GPU's training step need not wait for data; batches come out
        in order, so results do not depend on it. On a CPU the step itself uses every core, and
        prefetching slowed ResNet18 training by about 7 % here, so the default is none.
        """
        order = np.arange(self._length) if order is None else np.asarray(order)
        share, shares = part
        chunks = (
            np.array_split(order[start : start + batch_size], shares)[share]
            for start in range(0, len(order), batch_size)
            if len(order) - start >= shares
        )
        load = self.read if encoded else self.batch
        if mirror is not None:
            load = partial(_mirrored, load, np.asarray(mirror, dtype=bool))
        if labels:
            if self.labels is None:
                raise UserError(f"no scene labels in {self.directory}: run the prepare stage (dvc repro prepare)")
            load = partial(_labelled, load, self.labels)
        if prefetch <= 0:
            yield from map(load, chunks)
            return
        with ThreadPoolExecutor(max_workers=prefetch) as pool:
            pending = deque(pool.submit(load, chunk) for chunk in islice(chunks, prefetch + 1))
            while pending:
                head = pending.popleft()
                for chunk in islice(chunks, 1):  # queued before waiting, so no thread idles meanwhile
                    pending.append(pool.submit(load, chunk))
                yield head.result()


def _labelled(load, labels: np.ndarray, indices: np.ndarray):
    return load(indices), labels[indices]


def _mirrored(load, mirror: np.ndarray, indices: np.ndarray):
    """`load(indices)` (an array, or a tuple of arrays (B, H, W, C)) with the images `mirror` marks flipped
    left-right."""
    loaded = load(indices)
    flipped = mirror[indices]
    for images in loaded if isinstance(loaded, tuple) else (loaded,):
        images[flipped] = images[flipped, :, ::-1]
    return loaded
