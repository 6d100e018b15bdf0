"""Download one large file into a cache directory: resumable, verified, never corrupt under its final name.

`fetch(url, md5, directory)` returns `directory/<name from the URL>` once its MD5 matches. Bytes go
to `<name>.part`; an interrupted transfer (a dropped connection, or a killed run) continues from
where it stopped with an HTTP Range request, guarded by If-Range so a file changed on the server is
not spliced. A server that ignores ranges answers with the whole file, which is then written from the
start. Only a complete file with the expected MD5 is renamed to the final name, next to a
`<name>.md5` record, so a later run (another seed, another n_images) reuses it without reading the
network or re-hashing. A lock file keeps two runs (parallel `dvc exp` workers) from writing one file.
"""

import hashlib
import http.client
import json
import os
import shutil
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError, URLError

from ..core.errors import UserError
from ..core.files import write_json
from .archives import progress_bar

CHUNK_BYTES = 1 << 20
TIMEOUT_S = 60
# Attempts in a row that bring no new bytes before giving up; attempts that make progress do not count.
MAX_STALLED_ATTEMPTS = 5
RETRY_WAIT_S = (1, 2, 4, 8, 16)
_TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; parallel downloads of one file are then the user's call
    fcntl = None


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/colorization, else ~/.cache/colorization."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "colorization"


def local_path(url: str) -> Path | None:
    """The file a URL names on this machine (a plain path or file://), or None for http(s)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    return Path(url).expanduser()


def file_name(url: str) -> str:
    name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    return name or "download"


def md5_of(path: Path, description: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle, progress_bar(path.stat().st_size, description) as bar:
        for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"waiting for another run that is downloading into {lock_path.parent}", file=sys.stderr)
                fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def fetch(url: str, md5: str | None, directory: Path, param: str = "data.places365", index: str = "") -> Path:
    """The verified local copy of `url` in `directory`, downloaded or resumed as needed.

    `md5` None skips the check (the file's MD5 is still recorded). `param` names the params key in
    messages, `index` the archive's place in its lists of urls and md5s ("[1]"), if they are lists.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / file_name(url)
    part = final.with_name(final.name + ".part")
    state = final.with_name(final.name + ".part.json")
    record = final.with_name(final.name + ".md5")
    with _exclusive(final.with_name(final.name + ".lock")):
        if final.is_file():
            return _cached(final, record, md5, param, index)
        actual = _download(url, part, state, param, index)
        if md5 is not None and actual != md5:
            part.unlink()
            state.unlink(missing_ok=True)
            raise UserError(
                f"{url}: downloaded file has MD5 {actual}, expected {md5} ({param}.md5{index}); "
                f"the corrupt download was deleted, nothing was kept"
            )
        write_json(record, {"md5": actual, "size": part.stat().st_size, "url": url})
        os.replace(part, final)
        state.unlink(missing_ok=True)
        return final


def _cached(final: Path, record: Path, md5: str | None, param: str, index: str = "") -> Path:
    """Reuse a file already under its final name if its recorded (or, failing that, computed) MD5 fits."""
    try:
        known = json.loads(record.read_text())
        recorded = known["md5"] if known["size"] == final.stat().st_size else None
    except (OSError, ValueError, KeyError, TypeError):
        recorded = None
    if md5 is None or recorded == md5:
        return final
    if recorded is None:
        recorded = md5_of(final, f"verifying {final.name}")
        if recorded == md5:
            write_json(record, {"md5": recorded, "size": final.stat().st_size})
            return final
    raise UserError(
        f"{final} has MD5 {recorded}, but {param}.md5{index} is {md5}: if the MD5 is right, "
        f"delete that file to download it again"
    )


def _resume_state(part: Path, state_path: Path) -> dict:
    """The validators (ETag, Last-Modified) of a partial download; empty, and the part removed, if unknown.

    The URL may differ from the earlier run's (another mirror): If-Range lets the server decide whether
    the part still fits, and the MD5 check catches a server that ignores it.
    """
    try:
        state = json.loads(state_path.read_text())
        if isinstance(state, dict) and part.is_file():
            return state
    except (OSError, ValueError):
        pass
    part.unlink(missing_ok=True)
    return {}


def _download(url: str, part: Path, state_path: Path, param: str, index: str = "") -> str:
    """Fetch `url` into `part`, resuming what is there; return the MD5 of the whole file."""
    state = _resume_state(part, state_path)
    offset = part.stat().st_size if state else 0
    digest = hashlib.md5(usedforsecurity=False)
    if offset:
        with open(part, "rb") as handle:
            for block in iter(lambda: handle.read(CHUNK_BYTES), b""):
                digest.update(block)
    furthest, stalled = offset, 0
    while True:
        problem = ""
        try:
            with urllib.request.urlopen(_request(url, offset, state), timeout=TIMEOUT_S) as response:
                if offset and response.status == 206 and _range_start(response) == offset:
                    mode = "ab"
                else:
                    if offset:
                        print(
                            f"{url}: the server sent the whole file (it does not support ranges, or the file "
                            "changed): downloading from the start",
                            file=sys.stderr,
                        )
                    offset, mode, digest = 0, "wb", hashlib.md5(usedforsecurity=False)
                length = response.headers.get("Content-Length")
                total = offset + int(length) if length and length.isdigit() else None
                state = {
                    "url": url,
                    "etag": response.headers.get("ETag"),
                    "last_modified": response.headers.get("Last-Modified"),
                    "total": total,
                }
                write_json(state_path, state)
                _check_space(part, total, offset)
                with open(part, mode) as out, progress_bar(total, f"downloading {part.name[:-5]}", offset) as bar:
                    while block := response.read(CHUNK_BYTES):
                        out.write(block)
                        digest.update(block)
                        offset += len(block)
                        bar.update(len(block))
                if total is None or offset == total:
                    return digest.hexdigest()
                problem = f"connection closed after {offset} of {total} bytes"
        except HTTPError as error:
            if error.code == 416 and offset and _complete_size(error) == offset:
                return digest.hexdigest()
            if error.code == 416:
                part.unlink(missing_ok=True)
                offset, digest = 0, hashlib.md5(usedforsecurity=False)
                problem = "the partial download does not fit the file on the server"
            elif error.code in _TRANSIENT_HTTP:
                problem = f"HTTP {error.code} {error.reason}"
            else:
                raise UserError(f"{url}: HTTP {error.code} {error.reason} (check {param}.url{index})") from None
        except (URLError, OSError, http.client.HTTPException) as error:
            problem = str(getattr(error, "reason", None) or error) or type(error).__name__
        if offset > furthest:
            furthest, stalled = offset, 0
        else:
            stalled += 1
            if stalled > MAX_STALLED_ATTEMPTS:
                kept = f"; {offset} bytes are kept in {part} and the next run resumes from there" if offset else ""
                raise UserError(f"{url}: download failed {stalled} times in a row ({problem}){kept}")
            time.sleep(RETRY_WAIT_S[min(stalled, len(RETRY_WAIT_S)) - 1])
        print(f"{url}: {problem}; resuming at byte {offset}", file=sys.stderr)


def _request(url: str, offset: int, state: dict) -> urllib.request.Request:
    headers = {"User-Agent": "colorization-pipeline", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = state.get("etag") or state.get("last_modified")
        if validator and not validator.startswith("W/"):
            headers["If-Range"] = validator
    return urllib.request.Request(url, headers=headers)


def _range_start(response) -> int | None:
    """The first byte of a 206 answer, from `Content-Range: bytes START-END/TOTAL`."""
    value = response.headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _complete_size(error: HTTPError) -> int | None:
    """The file size a 416 answer states (`Content-Range: bytes */TOTAL`)."""
    try:
        return int(error.headers.get("Content-Range", "").rsplit("/", 1)[1])
    except (AttributeError, IndexError, ValueError):
        return None


def _check_space(part: Path, total: int | None, offset: int) -> None:
    if total is None:
        return
    free = shutil.disk_usage(part.parent).free
    if total - offset > free:
        raise UserError(
            f"downloading {part.name[:-5]} needs {(total - offset) / 1e9:.1f} GB more in {part.parent}, "
            f"only {free / 1e9:.1f} GB are free: free some space or set data.cache_dir"
        )
