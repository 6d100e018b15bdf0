"""Atomic writes: every output is written under a temporary name in its directory, then renamed, so a
file or folder under its final name is always complete (a killed stage leaves at most a stray temporary)."""

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from .errors import UserError


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it to `path` when the block ends without error.

    A failed write (full disk, no permission, a file where the directory should be) becomes a
    one-line UserError naming `path`, and whatever was at `path` before is left as it was.
    """
    path = Path(path)
    temporary = path.with_name(f"tmp-{os.getpid()}-{path.name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror or error}") from error
    finally:
        with suppress(OSError):
            temporary.unlink()


@contextmanager
def atomic_directory(path: Path | str) -> Iterator[Path]:
    """Yield an empty folder `<path>.tmp` beside `path`; when the block ends without error, replace `path`
    with it. On any error (or a kill) the temporary is removed or left for the next run to clear, and an
    existing `path` stays as it was."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    os.replace(temporary, path)


def write_json(path: Path | str, values: dict) -> None:
    """Write JSON with sorted keys, so identical values give identical bytes."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")


def save_array(path: Path | str, array: np.ndarray) -> None:
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.save(handle, array)
