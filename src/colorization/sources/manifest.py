"""The two lists the download stage leaves next to the raw photos.

manifest.csv lists every file in data/raw: file, source (where it came from), group, size, sha256,
width and height (upright, as seen after EXIF rotation), near_duplicate_of (the file whose
near-duplicate this one is, empty if none) and category (the photo's scene, for a source that names
it: Places' folder, e.g. "a/abbey" -> "abbey"; empty otherwise). The group names the original photograph; prepare splits
train and validation by group, so no validation image shares a source photo with a training image.

skipped.csv lists every file that was looked at and left out: source, reason (a short category)
and detail. Prepare reads only the manifest, so it only ever sees usable images.
"""

import csv
import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..core.errors import UserError
from ..core.files import atomic_path

MANIFEST = "manifest.csv"
SKIPPED = "skipped.csv"


@dataclass(frozen=True)
class RawImage:
    file: str
    source: str
    group: str
    size: int
    sha256: str
    width: int
    height: int
    near_duplicate_of: str = ""
    category: str = ""  # the photo's scene, where its source names one (Places: its folder), else empty


@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str
    detail: str


@dataclass(frozen=True)
class Gathered:
    """What a source produced: the images written into data/raw, the files left out, and how many
    image-named files it saw."""

    images: list[RawImage]
    skipped: list[SkippedFile]
    examined: int


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _write_rows(path: Path, kind: type, rows: list) -> None:
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[field.name for field in fields(kind)])
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)


def write_manifest(directory: Path, rows: list[RawImage], skipped: list[SkippedFile] = ()) -> None:
    _write_rows(Path(directory) / MANIFEST, RawImage, rows)
    _write_rows(Path(directory) / SKIPPED, SkippedFile, list(skipped))


def read_manifest(directory: Path) -> list[RawImage]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise UserError(f"{path} not found: run the download stage first (dvc repro download)")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [field.name for field in fields(RawImage) if field.name not in (reader.fieldnames or [])]
        if missing:
            raise UserError(
                f"{path} lacks column(s) {', '.join(missing)}: it was written by an older version; "
                "run the download stage again (dvc repro -f download)"
            )
        return [
            RawImage(
                row["file"],
                row["source"],
                row["group"],
                int(row["size"]),
                row["sha256"],
                int(row["width"]),
                int(row["height"]),
                row["near_duplicate_of"],
                row["category"],
            )
            for row in reader
        ]


def read_skipped(directory: Path) -> list[SkippedFile]:
    path = Path(directory) / SKIPPED
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [SkippedFile(row["source"], row["reason"], row["detail"]) for row in csv.DictReader(handle)]
