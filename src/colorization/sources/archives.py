"""The files of a folder, a tar stream or a zip archive, one at a time, with names safe to write under.

Nothing here extracts anything: each entry offers its bytes through `read()`, and the caller decides
what to write and where. A tar is read as a stream (mode "r|*"), so a 24 GB archive never needs to be
on disk twice or in memory at once. Entries whose names are absolute, climb with "..", or are links
or devices come back with a `problem` and are never read.
"""

import hashlib
import re
import stat
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from ..core.errors import UserError
from ..core.photo import has_image_suffix, walk_files
from .inspection import MAX_FILE_BYTES

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
ARCHIVE_SUFFIXES = (*TAR_SUFFIXES, ".zip")
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass
class Entry:
    """One image-named file. `read()` is valid until the next entry is produced (tar streams move on)."""

    name: str
    size: int
    read: Callable[[], bytes]
    problem: str = ""
    detail: str = ""


@dataclass
class Listing:
    """What a walk saw besides image-named files, for the error message when nothing usable is found."""

    other_files: int = 0
    other_examples: list[str] = field(default_factory=list)

    def ignore(self, name: str) -> None:
        self.other_files += 1
        if len(self.other_examples) < 3:
            self.other_examples.append(name)


def safe_name(name: str) -> str | None:
    """The entry's path relative to the target directory, or None when it could land outside it."""
    name = name.replace("\\", "/")
    if not name or "\0" in name or name.startswith("/") or _DRIVE.match(name):
        return None
    parts = [part for part in PurePosixPath(name).parts if part != "."]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _checked(name: str, size: int, read: Callable[[], bytes], problem: str = "", detail: str = "") -> Entry:
    relative = safe_name(name)
    if relative is None:
        return Entry(name, size, read, "unsafe path", "absolute or climbing out with '..': not written")
    if not problem and size > MAX_FILE_BYTES:
        problem, detail = "too large", f"{size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit"
    return Entry(relative, size, read, problem, detail)


def walk_folder(root: Path, listing: Listing) -> Iterator[Entry]:
    """Image-named files under `root` (see `core.photo.walk_files`: recursive, sorted, hidden files and
    symlinked folders left out)."""
    for path in walk_files(root):
        relative = path.relative_to(root).as_posix()
        if not has_image_suffix(path.name):
            listing.ignore(relative)
            continue
        try:
            size = path.stat().st_size
        except OSError as error:
            yield Entry(relative, 0, path.read_bytes, "unreadable", error.strerror or str(error))
            continue
        yield _checked(relative, size, path.read_bytes)


class ProgressReader:
    """A read-only file wrapper that shows bytes read (with rate) and, optionally, hashes them with MD5."""

    def __init__(self, handle, total: int | None, description: str, hash_md5: bool = False):
        self.handle = handle
        self.md5 = hashlib.md5(usedforsecurity=False) if hash_md5 else None
        self.bar = progress_bar(total, description)

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        if self.md5 is not None:
            self.md5.update(data)
        self.bar.update(len(data))
        return data

    def drain(self) -> None:
        """Read to the end (a tar stream stops at its end marker, before the padding) to finish the hash."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        self.bar.close()


def progress_bar(total: int | None, description: str, initial: int = 0) -> tqdm:
    """A byte counter with rate on stderr; in a log file (no terminal) it writes a line every 30 s."""
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        initial=initial,
        desc=description,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        mininterval=0.5 if interactive else 30,
        dynamic_ncols=True,
    )


def stream_tar(handle, label: str, listing: Listing) -> Iterator[Entry]:
    """Image-named members of a tar read as a stream, in archive order; the member list is not kept."""

    def read_member(member: tarfile.TarInfo) -> bytes:
        try:
            return archive.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise UserError(f"{label}: cut short or corrupt inside {member.name!r} ({error})") from None

    try:
        with tarfile.open(fileobj=handle, mode="r|*") as archive:
            for member in archive:
                archive.members.clear()
                if member.isdir():
                    continue
                if not has_image_suffix(member.name):
                    listing.ignore(member.name)
                    continue
                if member.issym() or member.islnk():
                    yield _checked(member.name, 0, bytes, "link", f"points to {member.linkname!r}: not followed")
                elif not member.isreg():
                    yield _checked(member.name, 0, bytes, "not a regular file", "device, fifo or other special member")
                else:
                    yield _checked(member.name, member.size, lambda m=member: read_member(m))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise UserError(f"{label}: not a readable tar archive or cut short ({error})") from None


def _zip_entries(archive: zipfile.ZipFile, listing: Listing) -> Iterator[Entry]:
    for info in archive.infolist():
        if info.is_dir():
            continue
        if not has_image_suffix(info.filename):
            listing.ignore(info.filename)
            continue
        read = lambda i=info: archive.read(i)  # noqa: E731 - bound per entry
        if stat.S_ISLNK(info.external_attr >> 16):
            yield _checked(info.filename, 0, bytes, "link", "symbolic link member: not followed")
        elif info.flag_bits & 0x1:
            yield _checked(info.filename, 0, bytes, "encrypted", "password-protected member")
        else:
            yield _checked(info.filename, info.file_size, read)


@contextmanager
def open_collection(path: Path, listing: Listing) -> Iterator[Iterator[Entry]]:
    """The image-named entries of a folder, a tar (optionally compressed) or a zip at `path`."""
    if path.is_dir():
        yield walk_folder(path, listing)
        return
    name = path.name.lower()
    if name.endswith(".zip"):
        try:
            with zipfile.ZipFile(path) as archive:
                yield _zip_entries(archive, listing)
        except (zipfile.BadZipFile, OSError) as error:
            raise UserError(f"{path}: not a readable zip archive ({error})") from None
        return
    if name.endswith(TAR_SUFFIXES):
        with open(path, "rb") as raw:
            reader = ProgressReader(raw, path.stat().st_size, f"reading {path.name}")
            try:
                yield stream_tar(reader, str(path), listing)
            finally:
                reader.close()
        return
    raise UserError(f"{path}: not a folder or a {'/'.join(ARCHIVE_SUFFIXES)} archive")
