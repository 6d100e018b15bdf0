"""The page of `colorize --serve`, used as a person uses it: the real command in a subprocess on 127.0.0.1,
driven by Debian's Chromium through Playwright, and by plain HTTP for the uploads a browser never sends."""

import io
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.workloads import panning_frames, write_film
from colorization.core.color import rgb_to_lab
from colorization.evaluation.metrics import colorfulness
from conftest import colorize_project, project_env
from photo_files import colour_photo, png_bytes

CHROMIUM = Path("/usr/bin/chromium")
# Chromium as root in a container with no network: no sandbox, no GPU, no calls home.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
MAX_UPLOAD_MB = 1


class Served:
    def __init__(self, url: str, project: Path, output: Path, process: subprocess.Popen):
        self.url, self.project, self.output, self.process = url, project, output, process

    def post(self, name: str, body: bytes, model: str | None = None) -> tuple[int, dict]:
        query = urllib.parse.urlencode({"name": name, **({"model": model} if model else {})})
        request = urllib.request.Request(f"{self.url}api/colorize?{query}", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return response.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    project = colorize_project(tmp_path_factory.mktemp("page project"), ("resnet18", "unet"))
    log = open(project / "server.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "colorization.colorize", "--serve", "--port", "0",
                                "--output", "page", "--max-upload-mb", str(MAX_UPLOAD_MB)],
                               cwd=project, env=project_env(), stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"no address in {line!r}: {(project / 'server.log').read_text()}"
        server = Served(match[0], project, project / "page", process)
        assert json.loads(server.get("api/models"))["models"] == ["resnet18", "unet"]
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def grey_photo(path: Path, width: int = 300, height: int = 200) -> np.ndarray:
    grey = np.asarray(colour_photo(7, width, height).convert("L"))
    Image.fromarray(grey).save(path)
    return grey


def lightness_of(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_lab(rgb)[..., 0]


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM} (.ci/run installs it)")
def test_a_person_colorizes_a_photo_in_the_browser(served, tmp_path):
    from playwright.sync_api import sync_playwright

    photo = tmp_path / "grandma, 1931.png"
    grey = grey_photo(photo)
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("a shopping list, not a photo\n")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            tab = browser.new_page(accept_downloads=True, viewport={"width": 1100, "height": 800})
            tab.goto(served.url)
            tab.wait_for_selector("#model option[value=unet]", state="attached")
            assert tab.locator("#model").input_value() == "resnet18"
            tab.set_input_files("#files", str(photo))
            card = tab.locator(".card", has_text=photo.name)
            card.locator("a.download").wait_for(timeout=60_000)
            tab.wait_for_function("() => [...document.querySelectorAll('.compare img')]"
                                  ".every(image => image.complete && image.naturalWidth > 0)")
            assert "300 × 200 with resnet18" in card.locator(".status").inner_text()
            card.locator(".compare input[type=range]").fill("20")
            assert "80%" in card.locator(".compare img.before").get_attribute("style")
            with tab.expect_download() as download:
                card.locator("a.download").click()
            saved = tmp_path / "downloaded.png"
            download.value.save_as(saved)
            tab.screenshot(path=str(tmp_path / "page.png"), full_page=True)

            tab.set_input_files("#files", str(not_a_photo))
            error = tab.locator(".card", has_text=not_a_photo.name).locator(".error")
            error.wait_for(timeout=30_000)
            assert "not an image file" in error.inner_text()
            assert tab.locator(".card", has_text=photo.name).locator("a.download").is_visible()
        finally:
            browser.close()
    with Image.open(saved) as image:
        assert image.size == (300, 200) and image.format == "PNG"
        colour = np.asarray(image.convert("RGB"))
    assert np.abs(lightness_of(colour) - lightness_of(np.repeat(grey[..., None], 3, -1))).max() < 0.3
    assert colorfulness(colour) > 5
    with Image.open(tmp_path / "page.png") as screenshot:
        assert screenshot.size[0] == 1100 and screenshot.size[1] >= 400


@pytest.mark.slow
def test_bad_uploads_get_one_line_and_nothing_else_breaks(served, tmp_path):
    before = {path for path in served.project.rglob("*") if served.output not in path.parents}
    good = tmp_path / "good.png"
    grey_photo(good, 64, 48)
    cases = {
        "a text file": ("letter.jpg", b"Dear Ada,\n", None, 400, "not an image file this page can read"),
        "a decompression bomb": ("bomb.png", png_bytes(30_000, 30_000, 8, 0), None, 400, "over this page's limit of"),
        "over the size limit": ("huge.jpg", bytes(MAX_UPLOAD_MB * 1_000_000 + 1), None, 413, "takes up to 1 MB"),
        "empty": ("empty.jpg", b"", None, 400, "the file is empty"),
        "a name going up": ("../../outside.png", good.read_bytes(), None, 400, "has a path"),
        "a name with a path": ("/etc/cron.d/x.png", good.read_bytes(), None, 400, "has a path"),
        "a Windows path": ("C:\\photos\\x.png", good.read_bytes(), None, 400, "has a path"),
        "not a photo or film": ("notes.txt", b"hello", None, 400, "not a photo or film"),
        "a model that is a path": ("good.png", good.read_bytes(), "../models/resnet18", 400, "no trained model"),
    }
    for case, (name, body, model, status, message) in cases.items():
        answer = served.post(name, body, model)
        assert answer[0] == status and message in answer[1]["error"], (case, answer)
        assert "\n" not in answer[1]["error"] and "Traceback" not in answer[1]["error"], case

    with ThreadPoolExecutor(20) as pool:  # 20 uploads at once: each waits its turn, none is lost
        answers = list(pool.map(lambda index: served.post(f"photo {index}.png", good.read_bytes()), range(20)))
    assert [status for status, _ in answers] == [200] * 20
    assert len({answer["download"] for _, answer in answers}) == 20
    for _, answer in answers:
        with Image.open(io.BytesIO(served.get(urllib.parse.quote(answer["download"])))) as image:
            assert image.size == (64, 48)

    film = tmp_path / "reel.mp4"
    frames = panning_frames([np.asarray(colour_photo(1, 120, 90))], 6, (64, 48), speeds=(1,))
    write_film(film, (grey for _, grey in frames), 12, audio_seconds=0.5)
    status, answer = served.post("reel.mp4", film.read_bytes(), "unet")
    assert status == 200 and answer["kind"] == "film" and answer["frames"] == 6, answer

    assert served.get("api/models")  # still serving
    for address in ("results/../../server.log", "results/0123/server.log", "previews/" + "0" * 32 + "/input.jpg"):
        with pytest.raises(urllib.error.HTTPError):
            served.get(address)
    after = {path for path in served.project.rglob("*") if served.output not in path.parents}
    assert after == before  # nothing written outside the page's own folder
    assert served.process.poll() is None
