"""The page: `colorize --serve` colorizes photos and films picked or dropped in a browser, on 127.0.0.1.

A small ASGI app (Starlette, served by uvicorn) with one self-contained HTML page (`page.html`: inline
style and script, nothing fetched from elsewhere, so it works with no internet at all). Why not Gradio:
the page needs four routes and a slider, Gradio would add some forty packages and a front end that loads
fonts from the internet by default, and its upload checks are not ours to decide.

Each upload is one POST of the file's bytes (`/api/colorize?name=...&model=...`), streamed to the page's
output folder and refused as soon as it passes --max-upload-mb. A photo's header is read before it is
decoded, so a decompression bomb is refused by its pixel count. The file then goes through the same
`jobs.colorize_job` as the command line, one upload at a time (a colorization uses every core; others
wait their turn), and the page gets the addresses of a preview of the input's lightness, a preview of
the result and the full-resolution result to download. Bad uploads get a 4xx answer with one line that
the page shows beside the file. Everything is written under the output folder, in a folder per upload
whose name the server makes up; names from the browser are never used as paths.
"""

import re
import secrets
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..core.errors import UserError
from ..core.photo import FORMATS, open_image, output_format
from .films import FILM_FORMATS, is_film
from .jobs import SUPPORTED, Job, Settings, colorize_job
from .photos import UnreadableImage, read_photo, write_image
from .render import Model, colour, load_model, resized_lightness, trained_models

PAGE = Path(__file__).with_name("page.html")
MAX_MEGAPIXELS = 50          # photos larger than this are refused before decoding (a decompression bomb)
PREVIEW_SIDE = 1600          # the previews shown in the page: long side at most this
PREVIEW_QUALITY = 90
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
PREVIEWS = ("input.jpg", "result.jpg")


class BadUpload(Exception):
    """An upload the page refuses; its message is shown beside the file, and `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def upload_name(name: str) -> str:
    """The file name the browser gave, checked: a plain name with a photo or film suffix, or BadUpload."""
    if not name or not name.strip():
        raise BadUpload("the upload has no file name")
    if "/" in name or "\\" in name or name in (".", "..") or any(ord(character) < 32 for character in name):
        raise BadUpload(f"file name {name!r} has a path or control characters in it: upload the file itself")
    if output_format(Path(name)) is None and not is_film(Path(name)):
        raise BadUpload(f"{name}: not a photo or film this page colorizes (supported: {SUPPORTED})")
    return name.strip()


def _preview(lightness: np.ndarray, ab: np.ndarray | None, path: Path) -> None:
    """A JPEG of L with the predicted ab (None: grey), its long side at most PREVIEW_SIDE."""
    height, width = lightness.shape
    scale = min(1.0, PREVIEW_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = resized_lightness(lightness, size)
    ab = np.zeros((*small.shape, 2), dtype=np.float32) if ab is None else ab
    write_image(path, colour(small, ab), quality=PREVIEW_QUALITY)


class Page:
    """The page's state: where it writes, which models it offers (loaded on first use) and its limits."""

    def __init__(self, project: Path, output: Path, default_model: str, max_upload_bytes: int, settings: Settings):
        self.project = project
        self.output = output.resolve()
        self.output.mkdir(parents=True, exist_ok=True)
        self.max_upload_bytes = max_upload_bytes
        self.settings = settings
        self.default_model = default_model
        self.models: dict[str, Model] = {default_model: load_model(default_model, project)}
        self.models[default_model].render_size(settings.render_size)
        self.turn = threading.Lock()  # one colorization at a time: each uses every core

    def model(self, name: str) -> Model:
        """A model trained in the project, by name (checked against models/ first), loaded once."""
        if name not in self.models:
            try:
                self.models[name] = load_model(name, self.project)
            except UserError as error:
                raise BadUpload(f"model {name} cannot be used: {error}") from None
        return self.models[name]

    def colorize(self, folder: Path, upload: Path, model_name: str) -> dict:
        """Colorize an upload saved as `upload` into `folder`; the answer's fields for the page."""
        film = is_film(upload)
        if not film:
            try:
                with open_image(upload) as image:
                    width, height = image.size
            except Image.DecompressionBombError:
                raise BadUpload(f"{upload.name}: over this page's limit of {MAX_MEGAPIXELS} megapixels, and over "
                                f"Pillow's own limit for a decompression bomb") from None
            except Exception:  # noqa: BLE001 - any decoder failure is a bad upload, said in one line
                raise BadUpload(f"{upload.name}: not an image file this page can read") from None
            if width * height > MAX_MEGAPIXELS * 1_000_000:
                raise BadUpload(f"{upload.name}: {width} x {height} pixels is over this page's limit of "
                                f"{MAX_MEGAPIXELS} megapixels")
        started = time.perf_counter()
        result = folder / upload.name
        with self.turn:
            model = self.model(model_name)
            answer = {"name": upload.name, "kind": "film" if film else "photo", "model": model_name,
                      "download": f"results/{folder.name}/{upload.name}"}
            try:
                if film:
                    answer["frames"] = colorize_job(Job(upload, result, None), [model], self.settings).frames
                else:
                    photo = read_photo(upload)
                    ab = model.predict_ab(photo.lightness, self.settings.render_size, self.settings.square)
                    write_image(result, colour(photo.lightness, ab), photo.alpha, photo.info)
                    answer["width"], answer["height"] = photo.size
                    previews = folder / "preview"
                    _preview(photo.lightness, None, previews / "input.jpg")
                    _preview(photo.lightness, ab, previews / "result.jpg")
                    answer["input"], answer["result"] = (f"previews/{folder.name}/{name}" for name in PREVIEWS)
            except UnreadableImage as error:
                raise BadUpload(f"{upload.name}: {error}") from None
        answer["seconds"] = round(time.perf_counter() - started, 2)
        return answer

    async def receive(self, request: Request, path: Path) -> int:
        """Stream the request's body into `path`; BadUpload once it passes the size limit."""
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_upload_bytes:
            raise BadUpload(self._too_large(int(declared)), 413)
        size = 0
        with open(path, "wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_upload_bytes:
                    raise BadUpload(self._too_large(size, at_least=True), 413)
                handle.write(chunk)
        return size

    def _too_large(self, size: int, at_least: bool = False) -> str:
        return (f"the file is {'over ' if at_least else ''}{size / 1e6:.1f} MB; this page takes up to "
                f"{self.max_upload_bytes / 1e6:g} MB (colorize --serve --max-upload-mb)")


def create_app(page: Page) -> Starlette:
    """The ASGI app of `page`: the HTML page, the model list, uploads and their results."""

    async def index(request: Request) -> Response:
        return HTMLResponse(PAGE.read_text(encoding="utf-8"))

    async def models(request: Request) -> Response:
        return JSONResponse({"models": trained_models(page.project), "default": page.default_model,
                             "max_upload_mb": page.max_upload_bytes / 1e6, "max_megapixels": MAX_MEGAPIXELS,
                             "photos": sorted(FORMATS), "films": sorted(FILM_FORMATS)})

    async def upload(request: Request) -> Response:
        folder = page.output / secrets.token_hex(16)
        try:
            name = upload_name(request.query_params.get("name", ""))
            model = request.query_params.get("model") or page.default_model
            if model not in page.models and model not in trained_models(page.project):
                raise BadUpload(f"no trained model {model!r}; trained: {', '.join(trained_models(page.project))}")
            folder.mkdir()
            saved = folder / "upload" / name
            saved.parent.mkdir()
            if await page.receive(request, saved) == 0:
                raise BadUpload(f"{name}: the file is empty")
            answer = await run_in_threadpool(page.colorize, folder, saved, model)
            shutil.rmtree(saved.parent, ignore_errors=True)
            return JSONResponse(answer)
        except BadUpload as error:
            shutil.rmtree(folder, ignore_errors=True)
            return JSONResponse({"error": str(error)}, status_code=error.status)
        except ClientDisconnect:
            shutil.rmtree(folder, ignore_errors=True)
            return Response(status_code=400)
        except Exception as error:  # noqa: BLE001 - one upload failing must not stop the page
            shutil.rmtree(folder, ignore_errors=True)
            print(f"colorize --serve: {request.query_params.get('name')!r} failed: {error!r}", file=sys.stderr)
            return JSONResponse({"error": f"could not colorize this file ({type(error).__name__}: "
                                          f"{str(error).splitlines()[0] if str(error) else ''})"}, status_code=500)

    def located(request: Request, *inside: str) -> Path | None:
        """The file a result address names, if it is one the page wrote (never anything else)."""
        upload_id, name = request.path_params["upload"], request.path_params["name"]
        if not UPLOAD_ID.match(upload_id):
            return None
        folder = page.output.joinpath(upload_id, *inside)
        path = folder / name
        return path if path.is_file() and path.resolve().parent == folder else None

    async def result(request: Request) -> Response:
        path = located(request)
        if path is None:
            return JSONResponse({"error": "no such result"}, status_code=404)
        return FileResponse(path, filename=f"colorized {path.name}")

    async def preview(request: Request) -> Response:
        path = located(request, "preview") if request.path_params["name"] in PREVIEWS else None
        if path is None:
            return JSONResponse({"error": "no such preview"}, status_code=404)
        return FileResponse(path, media_type="image/jpeg")

    return Starlette(routes=[Route("/", index), Route("/api/models", models),
                             Route("/api/colorize", upload, methods=["POST"]),
                             Route("/results/{upload}/{name}", result),
                             Route("/previews/{upload}/{name}", preview)])


def serve(project: Path, output: Path, model: str, port: int, max_upload_bytes: int, settings: Settings) -> int:
    """Serve the page on 127.0.0.1:`port` (0: a free port) until interrupted; prints its address first."""
    import uvicorn

    page = Page(project, output, model, max_upload_bytes, settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(128)  # connections wait in the backlog until uvicorn accepts them
    except OSError as error:
        raise UserError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({error.strerror or error})") from None
    address = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    print(f"colorize: the page is at {address} (models: {', '.join(trained_models(project))}; "
          f"results in {page.output}); Ctrl-C stops it", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(page), log_level="warning", lifespan="off"))
    server.run(sockets=[listener])
    return 0
