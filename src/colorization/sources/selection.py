"""Seeded uniform subsampling of a stream of image files, checking only the files that could be chosen.

Every file gets a key, a BLAKE2b hash of its name keyed by the seed; the selection is the `n` usable
files with the smallest keys (bottom-k sampling). That is a uniform random sample without replacement;
it depends only on the seed and the names (not on their order, not on anything read before), and the
selection for a smaller `n` is a subset of the selection for a larger one.

While streaming, a file is read, inspected and written into the output directory only when its key
beats the n-th smallest key so far; a file pushed out later is deleted again. Over N files that is
about n * (1 + ln(N / n)) writes, and memory holds one file's bytes plus a small record per chosen file.
Files that are unusable, exact copies of a chosen file, or unsafe archive members are skipped with a
reason; the ones reported are those whose key is below the final cut-off, i.e. the files that would
have been chosen had they been usable.
"""

import hashlib
import heapq
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .archives import Entry
from .inspection import Inspection, inspect_image, near_duplicate_representatives
from .manifest import Gathered, RawImage, SkippedFile


@dataclass(frozen=True)
class _Chosen:
    key: int
    name: str
    size: int
    inspection: Inspection


def selection_key(name: str, seed: int) -> int:
    """A 64-bit pseudo-random key for a file name, fixed by the seed."""
    digest = hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8, key=str(seed).encode()).digest()
    return int.from_bytes(digest, "big")


class _BottomK:
    """The n usable files with the smallest keys so far, with their files kept in `out_dir`."""

    def __init__(self, n: int, out_dir: Path):
        self.n = n
        self.out_dir = out_dir
        self.chosen: dict[str, _Chosen] = {}
        self.by_content: dict[str, str] = {}
        self.heap: list[tuple[int, str]] = []  # (-key, name); entries of removed files are skipped lazily

    def largest(self) -> _Chosen:
        """The chosen file with the largest key (dropping heap entries of files removed since)."""
        while True:
            negative_key, name = self.heap[0]
            item = self.chosen.get(name)
            if item is not None and item.key == -negative_key:
                return item
            heapq.heappop(self.heap)

    def cutoff(self) -> float:
        """Keys at or above this cannot enter: the largest chosen key once n files are chosen."""
        return self.largest().key if len(self.chosen) >= self.n else float("inf")

    def add(self, item: _Chosen, data: bytes) -> None:
        path = self.out_dir / item.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.chosen[item.name] = item
        self.by_content[item.inspection.sha256] = item.name
        heapq.heappush(self.heap, (-item.key, item.name))
        if len(self.chosen) > self.n:
            self.remove(self.largest())

    def remove(self, item: _Chosen) -> None:
        del self.chosen[item.name]
        del self.by_content[item.inspection.sha256]
        (self.out_dir / item.name).unlink()


def select_images(entries: Iterable[Entry], n: int, seed: int, out_dir: Path, label: str) -> Gathered:
    """Choose up to `n` usable images from `entries`, write them byte for byte under `out_dir`, and group
    near-duplicates. `label` prefixes each file's `source` in the manifest (the folder or archive name)."""
    out_dir = Path(out_dir)
    best = _BottomK(n, out_dir)
    rejected: list[tuple[int, SkippedFile]] = []
    examined = 0
    for entry in entries:
        examined += 1
        key = selection_key(entry.name, seed)
        if key >= best.cutoff():
            continue
        source = f"{label}:{entry.name}"
        if entry.problem:
            rejected.append((key, SkippedFile(source, entry.problem, entry.detail)))
            continue
        if entry.name in best.chosen:
            rejected.append((key, SkippedFile(source, "repeated name", "an earlier member has the same path")))
            continue
        try:
            data = entry.read()
        except (OSError, ValueError, RuntimeError, NotImplementedError, zipfile.BadZipFile, zlib.error) as error:
            rejected.append((key, SkippedFile(source, "unreadable", str(error) or type(error).__name__)))
            continue
        inspection = inspect_image(data)
        if not inspection.usable:
            rejected.append((key, SkippedFile(source, inspection.reason, inspection.detail)))
            continue
        twin_name = best.by_content.get(inspection.sha256)
        if twin_name is not None:
            twin = best.chosen[twin_name]
            if twin.key < key:
                rejected.append((key, SkippedFile(source, "duplicate", f"same bytes as {label}:{twin_name}")))
                continue
            best.remove(twin)
            rejected.append((twin.key, SkippedFile(f"{label}:{twin_name}", "duplicate", f"same bytes as {source}")))
        try:
            best.add(_Chosen(key, entry.name, len(data), inspection), data)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as error:
            rejected.append((key, SkippedFile(source, "name conflict", f"a file and a folder share a path ({error})")))
    cutoff = best.cutoff() if len(best.chosen) == n else float("inf")
    skipped = [record for key, record in sorted(rejected, key=lambda pair: pair[0]) if key <= cutoff]
    _remove_empty_folders(out_dir)
    return Gathered(
        _group_near_duplicates(sorted(best.chosen.values(), key=lambda item: item.key), label), skipped, examined
    )


def _group_near_duplicates(chosen: list[_Chosen], label: str) -> list[RawImage]:
    """Manifest rows sorted by file name; near-duplicates share the group of the first of them by key."""
    representatives = near_duplicate_representatives([item.inspection for item in chosen])
    rows = []
    for item, first in zip(chosen, representatives):
        group = chosen[first].name
        rows.append(
            RawImage(
                item.name,
                f"{label}:{item.name}",
                group,
                item.size,
                item.inspection.sha256,
                item.inspection.width,
                item.inspection.height,
                group if group != item.name else "",
            )
        )
    return sorted(rows, key=lambda row: row.file)


def _remove_empty_folders(root: Path) -> None:
    for folder in sorted((path for path in root.rglob("*") if path.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
