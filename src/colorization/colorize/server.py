"""The page: `colorize --serve` colorizes photos and films picked or dropped in a browser, on 127.0.0.1.

A small ASGI app (Starlette, served by uvicorn) with one self-contained HTML page (`page.html`: inline
style and script, nothing fetched from elsewhere, so it works with no internet at all). Why not Gradio:
the page needs a handful of routes and a slider, Gradio would add some forty packages and a front end
that loads fonts from the internet by default, and its upload checks are not ours to decide.

Each upload is one POST of the file's bytes (`/api/colorize?name=...&model=...`), streamed to the page's
output folder and refused as soon as it passes --max-upload-mb, or when the client stops sending for
--client-timeout seconds. A photo's header is read before it is decoded, so a decompression bomb is
refused by its pixel count. The file then goes through the same `jobs` code as the command line, one
upload at a time (a colorization uses every core; others wait their turn), and the page gets the
addresses of a preview of the input's lightness, a preview of the result and the full-resolution result
to download; a film's frames done are at `/api/progress` meanwhile. A photo colorized by a model that
takes colour hints can then be told colours (`/api/hints`, the hints as `hint_files` writes them): the
network runs again at the render size from the lightness kept in memory (the photo is re-read if it was
let go), the result and its preview are rewritten in place, and the hints are saved beside the result to
download and load again; `/api/suggest` gives the model's most likely colours at a point, the palette.
A photo coloured by a model that takes no hints has them taken by the default hint model. Bad uploads
get a 4xx answer with one line that the page shows beside the file. Everything is written under the
output folder, owner-only, in a folder per upload whose name the server makes up; names from the
browser are cleaned and never used as paths.

Only the page itself may use it (`Guard`): any other web page the same browser opens, a DNS-rebinding
name, or another program or user on this computer that did not read the address printed at launch. Every
request must name the bound address in `Host`; the page is served only with the per-launch token of that
address (or the cookie its first load set), and sends the token in a header with every API call; its
load sets an HttpOnly, SameSite=Strict cookie with a second per-launch secret, without which no result or
preview is served (an <img> sends no header), so results, an earlier launch's too, reach only this
launch's page. A POST must also come from the page's own origin (`Origin`, or `Sec-Fetch-Site:
same-origin`) with `Content-Type: application/octet-stream`, which no cross-origin form or simple request
can send. A refused request gets a one-line 403 and nothing is written; the terminal shows it escaped
(nothing a request carries can forge a line), at most REFUSALS_SHOWN lines every REFUSALS_WINDOW seconds.

On disk: the output folder must be one no other user can open (a new one is made owner-only), one page
uses it at a time (LOCK), and at start what an earlier launch left half-done is cleared (`Page.tidy`).
The folder keeps at most --max-output-mb, counted in allocated blocks: what is being received counts as
it arrives, a film stops being written where it would pass the budget, and the oldest finished results
are removed first, never one in use (being received, colorized or told colours). An upload's result is
written in a compressed format (a BMP or TIFF upload gives a PNG), so one small upload cannot become a
disk bomb. A film is refused from its header when its frames or its length pass the --max-film limits,
and a job whose browser hangs up stops at once, freeing the one colorize turn. Request bodies (uploads
and hints) that stall for --client-timeout seconds are cut off.
"""

import asyncio
import fcntl
import json
import os
import re
import secrets
import shutil
import socket
import stat
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import quote

import h11
import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..core.errors import UserError
from ..core.files import write_json
from ..core.photo import FORMATS, open_image, output_format
from . import hint_files
from .films import FILM_FORMATS, OverBudget, is_film, misnamed
from .jobs import SUPPORTED, Job, Settings, colorize_job, colorize_photo
from .photos import Photo, UnreadableImage, read_photo, write_image
from .render import Model, colour, load_model, resized_lightness, trained_models
from .untrusted import shown

PAGE = Path(__file__).with_name("page.html")
MAX_MEGAPIXELS = 50  # photos larger than this are refused before decoding (a decompression bomb)
PREVIEW_SIDE = 1600  # the previews shown in the page: long side at most this
PREVIEW_QUALITY = 90
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")  # names are checked with fullmatch: `$` would let a newline end one
JOB_ID = re.compile(r"[0-9a-zA-Z_-]{8,64}")
PREVIEWS = ("input.jpg", "result.jpg")
FINISHED = "page.json"  # in an upload's folder once it is complete: its result's name
LOCK = ".lock"  # in the output folder: one page at a time uses it
BLOCK = 4096  # what a file takes on disk is counted in blocks of this many bytes while it is received
REFUSALS_SHOWN = 30  # refusal lines printed on the terminal per REFUSALS_WINDOW seconds; the rest are counted
REFUSALS_WINDOW = 10.0
EDITS_KEPT = 4  # photos whose lightness stays in memory for hint changes; older ones are re-read
SUGGESTIONS = 6  # colours in the palette of a point
NAME_BYTES = 200  # a cleaned name's UTF-8 length at most: room for the atomic writes' prefix
# Uncompressed formats: their results are written as PNG (lossless), so a small upload of a large,
# simple picture cannot write hundreds of megabytes.
RESULT_FORMAT = {"BMP": ".png", "TIFF": ".png"}
RESULT_BYTES_PER_PIXEL = 5  # a photo's result may not exceed this much a pixel (quality-100 JPEG of noise
RESULT_SLACK_BYTES = 1 << 20  # comes near it; PNG and WebP stay under an RGBA image) plus headers and metadata
TOKEN_HEADER = "x-colorize-token"
# The page's own loads (its results and previews, which an <img> fetches without the header) carry this
# launch's session in an HttpOnly, SameSite=Strict cookie that the page's load sets.
COOKIE = "colorize-{port}"
UPLOAD_TYPE = "application/octet-stream"
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
# The page runs only its own inline script (a nonce per answer) and reaches only its own server.
PAGE_POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self'; "
    "media-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


class BadUpload(Exception):
    """An upload the page refuses; its message is shown beside the file, and `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def upload_name(name: str) -> str:
    """The file name the browser gave, cleaned for use as a file name: surrounding spaces removed, an
    empty stem named "untitled", a long stem shortened to fit NAME_BYTES; BadUpload for a name with a path,
    control or invisible characters in it, or a suffix that is not a photo's or a film's."""
    if not name or not name.strip():
        raise BadUpload("the upload has no file name")
    if "/" in name or "\\" in name or name.strip() in (".", ".."):
        raise BadUpload(f"file name {shown(name)!r} has a path in it: upload the file itself")
    hidden = sorted({character for character in name if not character.isprintable() and character != " "})
    if hidden:
        # controls, DEL, bidi overrides (evil\u202egpj.exe.jpg shows as evilexe.jpg), line separators
        raise BadUpload(
            f"file name {shown(name)!r} has control or invisible characters in it "
            f"({shown(''.join(hidden))}): rename the file"
        )
    name = name.strip()
    stem, dot, suffix = name.rpartition(".")
    if not dot or (output_format(Path(f"x.{suffix}")) is None and not is_film(Path(f"x.{suffix}"))):
        raise BadUpload(f"{shown(name)}: not a photo or film this page colorizes (supported: {SUPPORTED})")
    room = NAME_BYTES - len(f".{suffix}".encode())  # the suffix is a known, short one
    stem = stem.encode()[:room].decode(errors="ignore").strip() or "untitled"
    return f"{stem}.{suffix}"


def result_name(name: str) -> str:
    """The result's file name for an upload called `name`: the same, except that an uncompressed format's
    result is a PNG (RESULT_FORMAT)."""
    path = Path(name)
    suffix = RESULT_FORMAT.get(output_format(path) or "", path.suffix)
    return path.stem + suffix


def preview_lightness(lightness: np.ndarray) -> np.ndarray:
    """The lightness of a photo's previews: its long side at most PREVIEW_SIDE."""
    height, width = lightness.shape
    scale = min(1.0, PREVIEW_SIDE / max(height, width))
    return resized_lightness(lightness, (max(1, round(width * scale)), max(1, round(height * scale))))


def _preview(small: np.ndarray, ab: np.ndarray | None, path: Path) -> None:
    """A JPEG of the preview's L (`preview_lightness`) with the predicted ab (None: grey)."""
    ab = np.zeros((*small.shape, 2), dtype=np.float32) if ab is None else ab
    write_image(path, colour(small, ab), quality=PREVIEW_QUALITY)


@dataclass
class Editing:
    """A photo on the page that a person may tell colours: where its files are, the model that coloured
    it and the one that takes its hints, and the planes a hint change re-renders from (None once let
    go: re-read from the kept upload)."""

    upload: Path
    result: Path
    model: str
    hint_model: str
    photo: Photo | None = None
    preview: np.ndarray | None = None
    network_lightness: dict = field(default_factory=dict)  # by model name
    changes: int = 0


def disk_usage(path: Path) -> int:
    """Bytes `path` takes on disk: the blocks allocated to it and to every file and folder in it (a tiny
    file takes a whole block, a folder its own), not the sum of the files' sizes."""
    total = 0
    for directory, _, files in os.walk(path):
        for name in (directory, *(os.path.join(directory, name) for name in files)):
            try:
                total += os.lstat(name).st_blocks * 512
            except OSError:
                pass  # removed meanwhile
    return total


def _folder(path: Path) -> bool:
    """A real folder, not a link to one."""
    return path.is_dir() and not path.is_symlink()


def _in_blocks(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


class ClientGone(Exception):
    """The browser that asked for this has hung up: stop working for it."""


class RefusalLog:
    """Refusals printed on the terminal, escaped (`shown`: nothing a request carries can move the cursor or
    forge a line) and at most REFUSALS_SHOWN a REFUSALS_WINDOW; the others are counted and said in one
    line, so a page hammering the server cannot flood the terminal."""

    def __init__(self):
        self.started, self.printed, self.hidden = time.monotonic(), 0, 0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        if now - self.started >= REFUSALS_WINDOW:
            if self.hidden:
                print(
                    f"colorize --serve: {self.hidden} more requests refused in {now - self.started:.0f} s (not shown)",
                    file=sys.stderr,
                    flush=True,
                )
            self.started, self.printed, self.hidden = now, 0, 0
        if self.printed < REFUSALS_SHOWN:
            self.printed += 1
            print(f"colorize --serve: {line}", file=sys.stderr, flush=True)
        else:
            self.hidden += 1


def private_folder(output: Path) -> Path:
    """The page's output folder, resolved: made owner-only if new; an existing one must be a folder of this
    user's that no other user can open (its photos would be theirs to read), else a one-line UserError."""
    output = output.resolve()
    if not output.exists():
        output.mkdir(mode=0o700, parents=True)
    status = output.stat()
    if not stat.S_ISDIR(status.st_mode):
        raise UserError(f"--output {output}: not a folder")
    if status.st_uid != os.getuid():
        raise UserError(f"--output {output}: belongs to another user; the page keeps its photos in a folder of yours")
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        raise UserError(
            f"--output {output}: other users of this computer can open it (mode {mode:o}), and the page keeps "
            f"people's photos there: give a new folder, or one only you can open (chmod 700 {output})"
        )
    return output


class Page:
    """The page's state: where it writes, which models it offers (loaded on first use) and its limits.

    What it has on disk is accounted in blocks (`disk_usage`): the finished uploads, which the budget
    removes oldest first, and the ones in flight (`busy`: being received, colorized or told colours),
    which are never removed and which together may not pass the budget either.
    """

    def __init__(
        self,
        project: Path,
        output: Path,
        default_model: str,
        max_upload_bytes: int,
        settings: Settings,
        max_output_bytes: int,
        client_timeout: float,
        hint_model: str | None = None,
    ):
        self.project = project
        self.output = private_folder(output)
        self._lock = open(self.output / LOCK, "a")  # noqa: SIM115 - held for the page's whole life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"--output {self.output}: another colorize --serve uses this folder") from None
        self.max_upload_bytes = max_upload_bytes
        self.max_output_bytes = max_output_bytes
        self.client_timeout = client_timeout
        self.settings = settings
        self.default_model = default_model
        self.models: dict[str, Model] = {default_model: load_model(default_model, project)}
        self.models[default_model].render_size(settings.render_size)
        # the model that takes the hints of a photo coloured by one that does not, if there is one
        self.hint_model = hint_model if hint_model in trained_models(project) else None
        self.turn = threading.Lock()  # one colorization at a time: each uses every core
        self.rooms = threading.Lock()  # guards busy, receiving and edits against the budget's removals
        self.progress: dict[str, dict] = {}  # a film's frames done, by the job id the page gave
        self.busy: Counter[Path] = Counter()  # upload folders in use: never removed
        self.receiving: dict[Path, int] = {}  # bytes received so far (in whole blocks), by upload folder
        self.edits: OrderedDict[str, Editing] = OrderedDict()  # photos that can be told colours, newest last
        self.tidy()
        self.make_room()

    def tidy(self) -> None:
        """Clear what an earlier launch left half-done (it was killed, or the computer stopped): an upload
        folder without its FINISHED note is removed whole; in a finished one, only its result, the result's
        hints and its previews are kept (no half-written temporary, no copy of the upload: this launch
        cannot edit an earlier launch's photos)."""
        for path in self.output.iterdir():
            if not (UPLOAD_ID.fullmatch(path.name) and _folder(path)):
                continue
            result = self.finished(path.name)
            if result is None:
                shutil.rmtree(path, ignore_errors=True)
                continue
            kept = {FINISHED, result, hint_files.sidecar(Path(result)).name}
            previews = path / "preview"
            for entry in [*path.iterdir(), *(previews.iterdir() if _folder(previews) else ())]:
                wanted = PREVIEWS if entry.parent == previews else kept
                if entry.name in wanted or (entry == previews and _folder(previews)):
                    continue
                shutil.rmtree(entry) if _folder(entry) else entry.unlink()

    def finished(self, upload_id: str) -> str | None:
        """The result's file name of a finished upload (its FINISHED note), else None."""
        try:
            name = json.loads((self.output / upload_id / FINISHED).read_text(encoding="utf-8"))["result"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return name if isinstance(name, str) and "/" not in name and name not in ("", ".", "..") else None

    def model(self, name: str) -> Model:
        """A model trained in the project, by name (checked against models/ first), loaded once."""
        if name not in self.models:
            try:
                self.models[name] = load_model(name, self.project)
            except UserError as error:
                raise BadUpload(f"model {name} cannot be used: {error}") from None
        return self.models[name]

    @contextmanager
    def in_use(self, folder: Path) -> Iterator[None]:
        """`folder` is busy meanwhile: the budget does not remove it, and its bytes count as in flight."""
        with self.rooms:
            self.busy[folder] += 1
        try:
            yield
        finally:
            self._release(folder)

    def _release(self, folder: Path) -> None:
        """One use of `folder` ended: once none is left, the budget may remove it."""
        with self.rooms:
            self.busy[folder] -= 1
            if self.busy[folder] <= 0:
                del self.busy[folder]
                self.receiving.pop(folder, None)

    def in_flight(self, but: Path | None = None) -> int:
        """Bytes the busy upload folders take (what is being received counted as it arrives), `but` left out."""
        with self.rooms:
            busy = [folder for folder in self.busy if folder != but]
            received = {folder: self.receiving.get(folder) for folder in busy}
        return sum(size if size is not None else disk_usage(folder) for folder, size in received.items())

    def make_room(self, keep: Path | None = None) -> None:
        """Remove the oldest finished upload folders until the output folder holds at most max_output_bytes;
        `keep` (the upload just done) and busy folders are never removed. Only folders the page made
        (UPLOAD_ID names) are touched."""
        with self.rooms:
            folders = []
            for path in self.output.iterdir():
                if UPLOAD_ID.fullmatch(path.name) and _folder(path):
                    size = self.receiving.get(path) or disk_usage(path)
                    folders.append((path.stat().st_mtime, path.name, path, size))
            total = sum(size for *_, size in folders)
            for _, name, path, size in sorted(folders):
                if total <= self.max_output_bytes:
                    break
                if path != keep and path not in self.busy:
                    shutil.rmtree(path, ignore_errors=True)
                    self.edits.pop(name, None)
                    total -= size

    def check_result(self, folder: Path, result: Path, pixels: int | None) -> None:
        """BadUpload (507) when one upload's files are over the page's whole budget, or a photo's `result`
        is over RESULT_BYTES_PER_PIXEL for its `pixels` (None: a film, bounded by the budget alone)."""
        size = disk_usage(folder)
        if size > self.max_output_bytes:
            raise BadUpload(
                f"the result would take {size / 1e6:.1f} MB, over this page's budget of "
                f"{self.max_output_bytes / 1e6:g} MB (colorize --serve --max-output-mb)",
                507,
            )
        if pixels is not None and result.stat().st_size > RESULT_BYTES_PER_PIXEL * pixels + RESULT_SLACK_BYTES:
            raise BadUpload(
                f"the result would take {result.stat().st_size / 1e6:.1f} MB, over this page's "
                f"limit of {RESULT_BYTES_PER_PIXEL} bytes a pixel",
                507,
            )

    def _take_turn(self, stop: threading.Event | None) -> None:
        """Wait for the one colorize turn; ClientGone if the browser hangs up meanwhile."""
        while not self.turn.acquire(timeout=0.2):
            if stop is not None and stop.is_set():
                raise ClientGone()
        if stop is not None and stop.is_set():
            self.turn.release()
            raise ClientGone()

    def colorize(
        self, folder: Path, upload: Path, model_name: str, job: str | None = None, stop: threading.Event | None = None
    ) -> dict:
        """Colorize an upload saved as `upload` into `folder`; the answer's fields for the page. A film's
        progress is kept under `job` meanwhile; ClientGone as soon as `stop` is set (the browser hung up)."""
        film = is_film(upload)
        if not film:
            try:
                with open_image(upload) as image:
                    width, height = image.size
            except Image.DecompressionBombError:
                raise BadUpload(
                    f"{upload.name}: over this page's limit of {MAX_MEGAPIXELS} megapixels, and over "
                    f"Pillow's own limit for a decompression bomb"
                ) from None
            except Exception:  # noqa: BLE001 - any decoder failure is a bad upload, said in one line
                raise BadUpload(
                    f"{upload.name}: {misnamed(upload) or 'not an image file this page can read'}"
                ) from None
            if width * height > MAX_MEGAPIXELS * 1_000_000:
                raise BadUpload(
                    f"{upload.name}: {width} x {height} pixels is over this page's limit of {MAX_MEGAPIXELS} megapixels"
                )
        started = time.perf_counter()
        result = folder / result_name(upload.name)
        self._take_turn(stop)
        try:
            model = self.model(model_name)
            answer = {
                "name": upload.name,
                "kind": "film" if film else "photo",
                "model": model_name,
                "download": f"results/{folder.name}/{quote(result.name)}",
                "result_name": result.name,
            }
            try:
                if film:
                    # the film stops being written where it would pass what is left of the budget
                    room = self.max_output_bytes - self.in_flight(but=folder) - disk_usage(folder)
                    limits = replace(self.settings.film_limits, max_bytes=max(0, room))
                    settings = replace(self.settings, film_limits=limits)
                    answer["frames"] = colorize_job(
                        Job(upload, result, None), [model], settings, self._film_progress(job, stop)
                    ).frames
                    self.check_result(folder, result, None)
                else:
                    photo, ab = colorize_photo(upload, result, model, self.settings)
                    answer["width"], answer["height"] = photo.size
                    previews = folder / "preview"
                    small = preview_lightness(photo.lightness)
                    _preview(small, None, previews / "input.jpg")
                    _preview(small, ab, previews / "result.jpg")
                    answer["input"], answer["result"] = (f"previews/{folder.name}/{name}" for name in PREVIEWS)
                    self.check_result(folder, result, photo.size[0] * photo.size[1])
                    hint_model = model_name if model.takes_hints else self.hint_model
                    answer["upload"], answer["hints"], answer["hint_model"] = folder.name, bool(hint_model), hint_model
                    if hint_model:
                        self._keep(folder.name, Editing(upload, result, model_name, hint_model, photo, small))
            except OverBudget:
                raise BadUpload(
                    f"{upload.name}: the coloured film passed what is left of this page's budget of "
                    f"{self.max_output_bytes / 1e6:g} MB (colorize --serve --max-output-mb); nothing kept",
                    507,
                ) from None
            except UnreadableImage as error:
                raise BadUpload(f"{upload.name}: {error}") from None
            finally:
                self.progress.pop(job, None)
            write_json(folder / FINISHED, {"result": result.name})
        finally:
            self.turn.release()
        answer["seconds"] = round(time.perf_counter() - started, 2)
        return answer

    def _keep(self, upload_id: str, editing: Editing) -> None:
        """Remember a photo that can be told colours; let go of the planes of all but the newest EDITS_KEPT."""
        with self.rooms:
            self.edits[upload_id] = editing
            self.edits.move_to_end(upload_id)
            for old in list(self.edits.values())[:-EDITS_KEPT]:
                old.photo = old.preview = None
                old.network_lightness = {}

    @contextmanager
    def _editing(self, upload_id: str) -> Iterator[Editing]:
        """The photo `upload_id` names, its planes in memory (re-read if let go), its folder in use meanwhile
        (the budget cannot remove it under an edit); BadUpload (404), with nothing written, when the page
        has no such photo any more."""
        gone = BadUpload(
            "this photo is no longer on the page (its result was removed to make room, or the page "
            "was restarted): upload it again, then load its saved hints",
            404,
        )
        with self.rooms:
            editing = self.edits.get(upload_id) if UPLOAD_ID.fullmatch(upload_id) else None
            if editing is None or not editing.upload.is_file():
                self.edits.pop(upload_id, None)
                raise gone
            folder = editing.result.parent
            self.busy[folder] += 1
        try:
            if editing.photo is None:
                try:
                    photo = read_photo(editing.upload)
                except UnreadableImage as error:
                    raise BadUpload(f"{editing.upload.name}: {error}") from None
                editing.photo, editing.preview = photo, preview_lightness(photo.lightness)
            self._keep(upload_id, editing)
            yield editing
        finally:
            self._release(folder)

    def _network_lightness(self, editing: Editing, name: str) -> tuple[Model, np.ndarray]:
        """The model `name` and the photo's lightness at its input shape, computed once per model."""
        model = self.model(name)
        if name not in editing.network_lightness:
            editing.network_lightness[name] = model.network_lightness(
                editing.photo.lightness, self.settings.render_size, self.settings.square
            )
        return model, editing.network_lightness[name]

    def _hints(self, document: bytes, size: tuple[int, int]) -> list[hint_files.Hint]:
        """The checked hints of a request's body (`hint_files`' format), or BadUpload naming the entry."""
        try:
            return hint_files.loads(document.decode("utf-8"), "hints", size)
        except UnicodeDecodeError as error:
            raise BadUpload(f"hints: not UTF-8 text ({error})") from None
        except UserError as error:
            raise BadUpload(str(error)) from None

    def tell(self, upload_id: str, document: bytes) -> dict:
        """Colorize the photo `upload_id` again, told the colours of the hints in `document` by the hint
        model (by its own model when there are none): its result, preview and saved hints rewritten in
        place; the answer's fields for the page."""
        started = time.perf_counter()
        with self.turn, self._editing(upload_id) as editing:
            photo = editing.photo
            hints = self._hints(document, photo.size)
            model, small = self._network_lightness(editing, editing.hint_model if hints else editing.model)
            hint_map = model.hint_map(hint_files.network_points(hints), photo.size, small)
            ab = model.predict(small, hint_map)
            write_image(editing.result, colour(photo.lightness, ab), photo.alpha, photo.info)
            _preview(editing.preview, ab, editing.result.parent / "preview" / "result.jpg")
            hints_file = hint_files.sidecar(editing.result)
            hint_files.write(hints_file, hints, photo.size)
            editing.changes += 1
        folder = editing.result.parent.name
        return {
            "result": f"previews/{folder}/result.jpg?change={editing.changes}",
            "download": f"results/{folder}/{quote(editing.result.name)}",
            "hints_file": f"results/{folder}/{quote(hints_file.name)}",
            "hints_name": hints_file.name,
            "points": len(hints),
            "model": editing.hint_model if hints else editing.model,
            "seconds": round(time.perf_counter() - started, 3),
        }

    def suggest(self, upload_id: str, document: bytes, x: float, y: float) -> dict:
        """The model's most likely colours at (x, y) of the photo `upload_id`, given the hints in
        `document`, for the palette."""
        with self.turn, self._editing(upload_id) as editing:
            photo = editing.photo
            if not (0 <= x < photo.size[0] and 0 <= y < photo.size[1]):
                raise BadUpload(f"x = {x:g}, y = {y:g}: outside the photo ({photo.size[0]} x {photo.size[1]} pixels)")
            hints = self._hints(document, photo.size)
            model, small = self._network_lightness(editing, editing.hint_model)
            hint_map = model.hint_map(hint_files.network_points(hints), photo.size, small)
            return {"colors": model.suggestions(small, hint_map, (x, y), photo.size, SUGGESTIONS)}

    def _film_progress(self, job: str | None, stop: threading.Event | None = None):
        """The `on_frame` callback that records a film's progress under `job` for /api/progress, and stops
        the film (ClientGone) once `stop` is set."""
        if job is not None:
            self.progress[job] = {"done": 0, "total": None}

        def on_frame(done: int, declared: int | None) -> None:
            if stop is not None and stop.is_set():
                raise ClientGone()
            if job is not None:
                self.progress[job] = {"done": done, "total": declared}

        return on_frame

    async def chunks(self, request: Request, limit: int, too_large) -> AsyncIterator[bytes]:
        """The request's body, chunk by chunk: BadUpload (413, `too_large(size)`'s line) once it passes
        `limit` bytes, BadUpload (408) when the client sends nothing for client_timeout seconds, and
        ClientDisconnect when it hangs up."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BadUpload(too_large(int(declared)), 413)
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(request.receive(), self.client_timeout)
            except TimeoutError:
                raise BadUpload(
                    f"the request stopped: nothing arrived for {self.client_timeout:g} s "
                    f"(colorize --serve --client-timeout)",
                    408,
                ) from None
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BadUpload(too_large(size, at_least=True), 413)
            yield chunk
            if not message.get("more_body", False):
                return

    async def receive(self, request: Request, folder: Path, path: Path) -> int:
        """Stream the request's body into `path`, in `folder` (in use meanwhile); what has arrived counts
        against the budget at once, with what the other uploads in flight hold (BadUpload 507 past it)."""
        size = 0
        with open(path, "wb") as handle:
            async for chunk in self.chunks(request, self.max_upload_bytes, self._too_large):
                size += len(chunk)
                with self.rooms:
                    self.receiving[folder] = _in_blocks(size) + 3 * BLOCK  # and its folders
                if size >> 20 != (size - len(chunk)) >> 20:
                    self.make_room(keep=folder)  # finished results make way for what arrives, oldest first
                if self.in_flight() > self.max_output_bytes:
                    raise BadUpload(
                        f"the uploads arriving now would take over this page's budget of "
                        f"{self.max_output_bytes / 1e6:g} MB (colorize --serve --max-output-mb): try again later",
                        507,
                    )
                handle.write(chunk)
        with self.rooms:
            self.receiving.pop(folder, None)
        return size

    def _too_large(self, size: int, at_least: bool = False) -> str:
        return (
            f"the file is {'over ' if at_least else ''}{size / 1e6:.1f} MB; this page takes up to "
            f"{self.max_upload_bytes / 1e6:g} MB (colorize --serve --max-upload-mb)"
        )


class Answer(JSONResponse):
    """A JSON answer in ASCII: whatever a message quotes (a name, a bad hint's key) always encodes."""

    def render(self, content) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class Guard:
    """ASGI middleware: only the page this server printed may use it (the module docstring says how).

    `port` is the bound port; `token` the per-launch secret of the printed address, which the page sends in
    a header with every API call; `session` the per-launch secret of the cookie the page's load sets, which
    its results and previews (fetched by <img> and links, which send no header) need. Refusals are one
    line, status 403, before the app sees the request, printed on the terminal by a `RefusalLog`; every
    answer gets SECURITY_HEADERS.
    """

    def __init__(self, app, port: int, token: str, session: str):
        self.app, self.port, self.token, self.session = app, port, token, session
        self.cookie = COOKIE.format(port=port)
        self.log = RefusalLog()
        names = ("127.0.0.1", "localhost", "[::1]")
        self.hosts = {f"{name}:{port}" for name in names} | (set(names) if port == 80 else set())

    def refusal(self, scope, headers: Headers) -> str | None:
        """Why this request is refused, or None."""
        host = headers.get("host", "")
        if host.lower() not in self.hosts:
            return (
                f"Host {host[:100]!r} refused: this page answers only at http://127.0.0.1:{self.port}/ "
                f"(or localhost:{self.port})"
            )
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return f"a request from another site refused (Sec-Fetch-Site: {fetch_site[:40]})"
        path = scope["path"]
        request = Request(scope)
        token = secrets.compare_digest(headers.get(TOKEN_HEADER, "").encode(), self.token.encode())
        session = secrets.compare_digest(request.cookies.get(self.cookie, "").encode(), self.session.encode())
        if path == "/":
            given = request.query_params.get("token", "")
            if not (secrets.compare_digest(given.encode(), self.token.encode()) or session):
                return "open the page at the address colorize --serve printed: it carries this launch's token"
        elif path.startswith("/api/"):
            if not token:
                return "missing or wrong token: reload the page from the address colorize --serve printed"
        elif not (session or token):
            return "results are shown only to this launch's page: open it at the address colorize --serve printed"
        if scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            same_origin = origin == f"http://{host}" if origin is not None else fetch_site == "same-origin"
            if not same_origin:
                return f"a request from another origin refused (Origin: {(origin or 'none')[:100]})"
            if headers.get("content-type", "").split(";")[0].strip().lower() != UPLOAD_TYPE:
                return f"uploads are sent as {UPLOAD_TYPE} by the page, not {headers.get('content-type', 'none')[:60]}"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def secured(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        reason = self.refusal(scope, Headers(scope=scope))
        if reason is None:
            return await self.app(scope, receive, secured)
        self.log(f"refused {shown(scope['method'], 20)} {shown(scope['path'], 100)}: {shown(reason, 300)}")
        response = (
            Answer({"error": reason}, 403)
            if scope["path"].startswith("/api/")
            else PlainTextResponse(reason + "\n", 403)
        )
        await response(scope, receive, secured)


async def _hung_up(request: Request, stop: threading.Event) -> None:
    """Set `stop` once the browser that sent `request`, whose body has all been read, hangs up."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    stop.set()


def create_app(page: Page, port: int, token: str, session: str) -> Guard:
    """The ASGI app of `page`, served at 127.0.0.1:`port`: the HTML page, the model list, uploads, a film's
    progress and the results, behind `Guard`."""
    template = PAGE.read_text(encoding="utf-8")
    cookie = COOKIE.format(port=port)
    private = {"cache-control": "no-store"}  # people's photos stay out of the browser's cache

    async def index(request: Request) -> Response:
        nonce = secrets.token_urlsafe(16)
        html = template.replace("__TOKEN__", token).replace("__NONCE__", nonce)
        response = HTMLResponse(html, headers={"content-security-policy": PAGE_POLICY.format(nonce=nonce), **private})
        response.set_cookie(cookie, session, httponly=True, samesite="strict", path="/")
        return response

    async def models(request: Request) -> Response:
        return Answer(
            {
                # the default first: the model a visitor gets unless they choose
                "models": sorted(trained_models(page.project), key=lambda name: name != page.default_model),
                "default": page.default_model,
                "max_upload_mb": page.max_upload_bytes / 1e6,
                "max_megapixels": MAX_MEGAPIXELS,
                "photos": sorted(FORMATS),
                "films": sorted(FILM_FORMATS),
            }
        )

    async def progress(request: Request) -> Response:
        return Answer(page.progress.get(request.query_params.get("job", ""), {"done": None, "total": None}))

    async def upload(request: Request) -> Response:
        folder = page.output / secrets.token_hex(16)
        given = request.query_params.get("name", "")
        try:
            with page.in_use(folder):
                name = upload_name(given)
                model = request.query_params.get("model") or page.default_model
                if model not in page.models and model not in trained_models(page.project):
                    raise BadUpload(
                        f"no trained model {shown(model)!r}; trained: {', '.join(trained_models(page.project))}"
                    )
                job = request.query_params.get("job")
                if job is not None and not JOB_ID.fullmatch(job):
                    raise BadUpload("job: 8 to 64 letters, digits, - or _")
                folder.mkdir(mode=0o700)
                saved = folder / "upload" / name
                saved.parent.mkdir(mode=0o700)
                if await page.receive(request, folder, saved) == 0:
                    raise BadUpload(f"{name}: the file is empty")
                stop = threading.Event()
                watcher = asyncio.create_task(_hung_up(request, stop))
                try:
                    answer = await run_in_threadpool(page.colorize, folder, saved, model, job, stop)
                finally:
                    watcher.cancel()
                if not answer.get("hints"):  # a photo that can be told colours keeps its upload to re-read
                    shutil.rmtree(saved.parent, ignore_errors=True)
                os.utime(folder)  # the budget removes the oldest results first
            await run_in_threadpool(page.make_room, folder)
            return Answer(answer)
        except BadUpload as error:
            shutil.rmtree(folder, ignore_errors=True)
            # The body may be unread (too large, stalled): close rather than wait for the rest.
            return Answer({"error": str(error)}, status_code=error.status, headers={"connection": "close"})
        except (ClientDisconnect, ClientGone):
            shutil.rmtree(folder, ignore_errors=True)
            print(f"colorize --serve: {shown(given)!r}: the browser hung up; stopped", file=sys.stderr, flush=True)
            return Response(status_code=400)
        except Exception as error:  # noqa: BLE001 - one upload failing must not stop the page
            shutil.rmtree(folder, ignore_errors=True)
            print(f"colorize --serve: {shown(given)!r} failed: {shown(repr(error), 300)}", file=sys.stderr)
            return Answer({"error": f"could not colorize this file ({type(error).__name__})"}, status_code=500)

    async def body(request: Request) -> bytes:
        """A small request body (hints), refused past hint_files.MAX_BYTES or when it stalls."""

        def too_large(size: int, at_least: bool = False) -> str:
            return f"hints: over {hint_files.MAX_BYTES >> 20} MB"

        document = bytearray()
        async for chunk in page.chunks(request, hint_files.MAX_BYTES, too_large):
            document += chunk
        return bytes(document)

    def answered(work):
        """A hints route: `work(request)`'s answer, a BadUpload as its one line, a hang-up as nothing."""

        async def route(request: Request) -> Response:
            try:
                return Answer(await work(request))
            except BadUpload as error:
                return Answer({"error": str(error)}, status_code=error.status, headers={"connection": "close"})
            except ClientDisconnect:
                return Response(status_code=400)

        return route

    async def hints(request: Request) -> dict:
        document = await body(request)
        return await run_in_threadpool(page.tell, request.query_params.get("upload", ""), document)

    async def suggest(request: Request) -> dict:
        try:
            x, y = (float(request.query_params.get(key, "")) for key in ("x", "y"))
        except ValueError:
            raise BadUpload("x and y: the point's pixel coordinates, as numbers") from None
        document = await body(request)
        return await run_in_threadpool(page.suggest, request.query_params.get("upload", ""), document, x, y)

    def located(request: Request, *inside: str) -> Path | None:
        """The file a result address names, if it is one the page wrote for a finished upload (never
        anything else: not a temporary, not the upload)."""
        upload_id, name = request.path_params["upload"], request.path_params["name"]
        if not UPLOAD_ID.fullmatch(upload_id):
            return None
        result = page.finished(upload_id)
        if result is None:
            return None
        if inside:
            allowed = PREVIEWS
        else:
            allowed = (result, hint_files.sidecar(Path(result)).name)
        if name not in allowed:
            return None
        folder = page.output.joinpath(upload_id, *inside)
        path = folder / name
        return path if path.is_file() and path.resolve().parent == folder else None

    async def result(request: Request) -> Response:
        path = located(request)
        if path is None:
            return Answer({"error": "no such result"}, status_code=404)
        name = path.name if path.name.endswith(hint_files.SUFFIX) else f"colorized {path.name}"
        return FileResponse(path, filename=name, headers=private)

    async def preview(request: Request) -> Response:
        path = located(request, "preview")
        if path is None:
            return Answer({"error": "no such preview"}, status_code=404)
        return FileResponse(path, media_type="image/jpeg", headers=private)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/models", models),
            Route("/api/progress", progress),
            Route("/api/colorize", upload, methods=["POST"]),
            Route("/api/hints", answered(hints), methods=["POST"]),
            Route("/api/suggest", answered(suggest), methods=["POST"]),
            Route("/results/{upload}/{name}", result),
            Route("/previews/{upload}/{name}", preview),
        ]
    )
    return Guard(app, port, token, session)


class TimedHTTP(H11Protocol):
    """uvicorn's HTTP/1.1 connection, which also closes one whose request headers do not all arrive within
    `timeout` seconds (a slow or stalled client), answering 408. uvicorn's own keep-alive timeout only
    covers an idle connection between requests; the upload's body has its own (`Page.receive`)."""

    timeout: float  # set by serve()

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._deadline = None
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def connection_lost(self, exc) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline while a request's headers are awaited; disarm it once they are in."""
        waiting = self.conn.their_state is h11.IDLE
        if waiting and self._deadline is None:
            self._deadline = self.loop.call_later(self.timeout, self._expired)
        elif not waiting and self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            if self.conn.our_state is h11.IDLE:
                reason = f"the request did not arrive within {self.timeout:g} s\n".encode()
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
                    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(reason), reason)
                )
            self.transport.close()


def serve(
    project: Path,
    output: Path,
    model: str,
    port: int,
    max_upload_bytes: int,
    settings: Settings,
    max_output_bytes: int,
    client_timeout: float,
    hint_model: str | None = None,
) -> int:
    """Serve the page on 127.0.0.1:`port` (0: a free port) until interrupted; prints its address, with this
    launch's token, first. Everything it writes is readable by its owner only. `hint_model` takes the
    hints of photos coloured by a model that takes none."""
    import uvicorn

    os.umask(0o077)  # people's family photos: no other local user reads the uploads or results
    page = Page(project, output, model, max_upload_bytes, settings, max_output_bytes, client_timeout, hint_model)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except OSError as error:
        raise UserError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({error.strerror or error})") from None
    port = listener.getsockname()[1]
    token, session = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    print(
        f"colorize: the page is at http://127.0.0.1:{port}/?token={token} (models: "
        f"{', '.join(trained_models(project))}; results in {page.output}, at most "
        f"{max_output_bytes / 1e6:g} MB); Ctrl-C stops it",
        flush=True,
    )
    protocol = type("TimedHTTP", (TimedHTTP,), {"timeout": client_timeout})
    server = uvicorn.Server(
        uvicorn.Config(create_app(page, port, token, session), log_level="warning", lifespan="off", http=protocol)
    )
    server.run(sockets=[listener])
    return 0
