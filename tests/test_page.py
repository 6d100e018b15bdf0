"""The page of `colorize --serve`, used as a person uses it: the real command in a subprocess on 127.0.0.1,
driven by Debian's Chromium through Playwright (with the keyboard alone, and checked by axe-core), and by
plain HTTP and raw sockets for what a browser never sends: requests from elsewhere, hostile uploads and
clients that stall."""

import base64
import http.server
import io
import json
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.workloads import PageClient, panning_frames, write_film
from colorization.colorize.hint_files import Hint
from colorization.core.color import rgb_to_lab
from colorization.evaluation.metrics import colorfulness
from conftest import ROOT, colorize_project, project_env
from photo_files import colour_photo, png_bytes

CHROMIUM = Path("/usr/bin/chromium")
# Chromium as root in a container with no network: no sandbox, no GPU, no calls home.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
MAX_UPLOAD_MB = 1
CLIENT_TIMEOUT = 3
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"needs Debian's chromium at {CHROMIUM} (.ci/run installs it)"
)


class Served(PageClient):
    """A running `colorize --serve` and its folders."""

    def __init__(self, printed: str, project: Path, output: Path, process: subprocess.Popen):
        super().__init__(printed)
        self.project, self.output, self.process = project, output, process
        self.page = f"{self.url}?token={self.token}"

    def files(self) -> dict[Path, int]:
        """Every file under the page's output folder, with its size."""
        return {path: path.stat().st_size for path in self.output.rglob("*") if path.is_file()}


@contextmanager
def serving(project: Path, *options: str, output: str = "page"):
    """A `colorize --serve` of `project` whose folder is `output` (one server at a time uses a folder)."""
    log = open(project / "server.log", "a")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "colorization.colorize",
            "--serve",
            "--port",
            "0",
            "--output",
            output,
            "--max-upload-mb",
            str(MAX_UPLOAD_MB),
            "--client-timeout",
            str(CLIENT_TIMEOUT),
            *options,
        ],
        cwd=project,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "?token=" in line, f"no address in {line!r}: {(project / 'server.log').read_text()}"
        server = Served(line, project, project / output, process)
        # the default first: the shipped objects model, then the project's own, then the other shipped ones
        assert json.loads(server.get("api/models"))["models"] == [
            "objects",
            "resnet18",
            "unet",
            "reference",
            "reference_hints",
        ]
        yield server
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return colorize_project(tmp_path_factory.mktemp("page project"), ("resnet18", "unet"))


@pytest.fixture(scope="module")
def served(project):
    with serving(project) as server:
        yield server


@contextmanager
def browser_tab(**context_options):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(
                accept_downloads=True, viewport={"width": 1100, "height": 800}, **context_options
            )
            yield context.new_page()
        finally:
            browser.close()


def grey_photo(path: Path, width: int = 300, height: int = 200) -> np.ndarray:
    grey = np.asarray(colour_photo(7, width, height).convert("L"))
    Image.fromarray(grey).save(path)
    return grey


def noise_png(width: int, height: int, seed: int = 0) -> bytes:
    """A grey PNG of noise: its colorized result cannot be compressed much."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def lightness_of(rgb: np.ndarray) -> np.ndarray:
    return rgb_to_lab(rgb)[..., 0]


@pytest.mark.slow
@needs_chromium
def test_a_person_colorizes_a_photo_in_the_browser(served, tmp_path):
    photo = tmp_path / "grandma, 1931.png"
    grey = grey_photo(photo)
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("a shopping list, not a photo\n")
    with browser_tab() as tab:
        tab.goto(served.page)
        tab.wait_for_selector("#model option[value=unet]", state="attached")
        assert tab.locator("#model").input_value() == "objects"
        tab.set_input_files("#files", str(photo))
        card = tab.locator(".card", has_text=photo.name)
        card.locator("a.download").wait_for(timeout=60_000)
        tab.wait_for_function(
            "() => [...document.querySelectorAll('.compare img')]"
            ".every(image => image.complete && image.naturalWidth > 0)"
        )
        assert "300 × 200 with objects" in card.locator(".status").inner_text()
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
    with Image.open(saved) as image:
        assert image.size == (300, 200) and image.format == "PNG"
        colour = np.asarray(image.convert("RGB"))
    assert np.abs(lightness_of(colour) - lightness_of(np.repeat(grey[..., None], 3, -1))).max() < 0.3
    assert colorfulness(colour) > 5
    with Image.open(tmp_path / "page.png") as screenshot:
        assert screenshot.size[0] == 1100 and screenshot.size[1] >= 400


def ab_near(path: Path, x: int, y: int, radius: int = 6) -> np.ndarray:
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    return rgb_to_lab(rgb[y - radius : y + radius + 1, x - radius : x + radius + 1])[..., 1:].reshape(-1, 2).mean(0)


@pytest.mark.slow
@needs_chromium
def test_a_person_tells_the_colour_of_a_point_and_resumes_from_the_saved_hints(served, tmp_path):
    """A photo coloured by the automatic reference model; click a point, pick blue: the default hint model
    takes the hint and colours it again in place, the download is blue there; the hints download, and
    load again onto the photo uploaded anew; the keyboard adds, moves, deletes and undoes."""
    photo = tmp_path / "street.png"
    grey_photo(photo)
    blue = "#2050d0"
    with browser_tab() as tab:
        tab.on("filechooser", lambda chooser: None)
        tab.goto(served.page)
        tab.wait_for_selector("#model option[value=reference]", state="attached")
        tab.select_option("#model", "reference")
        tab.set_input_files("#files", str(photo))
        card = tab.locator(".card", has_text=photo.name)
        card.locator("a.download").wait_for(timeout=60_000)
        with tab.expect_download() as download:
            card.locator("a.download").click()
        download.value.save_as(tmp_path / "plain.png")

        card.get_by_role("button", name="Tell it the colour…").click()
        editor = card.locator(".editor")
        picture = editor.locator(".canvas img")
        box = picture.bounding_box()
        picture.click(position={"x": box["width"] * 0.5, "y": box["height"] * 0.5})
        status = editor.locator(".note")
        tab.wait_for_function("card => card.dataset.told === '1'", arg=card.element_handle(), timeout=60_000)
        assert editor.locator(".hint").count() == 1 and "1 hint" in status.inner_text()
        assert "with objects" in status.inner_text()
        editor.locator("input[type=color]").fill(blue)
        tab.wait_for_function("card => card.dataset.told === '2'", arg=card.element_handle(), timeout=60_000)
        assert "change=2" in picture.get_attribute("src")
        tab.wait_for_function("image => image.complete && image.naturalWidth > 0", arg=picture.element_handle())
        with tab.expect_download() as download:
            card.locator("a.download").click()
        download.value.save_as(tmp_path / "told.png")
        with tab.expect_download() as download:
            editor.get_by_role("link", name="Download hints").click()
        assert download.value.suggested_filename == "street.hints.json"
        download.value.save_as(tmp_path / "street.hints.json")

        # the keyboard alone: add a hint at the centre, move it, delete it, undo
        tab_to(tab, lambda name: name == "button:button:Add a hint")
        tab.keyboard.press("Enter")
        tab.wait_for_function("card => card.dataset.told === '3'", arg=card.element_handle(), timeout=60_000)
        assert focused(tab) == "button:button:" and editor.locator(".hint").count() == 2  # the new hint
        before = editor.locator(".hint.selected").get_attribute("style")
        tab.keyboard.press("Shift+ArrowRight")
        tab.wait_for_function("card => card.dataset.told === '4'", arg=card.element_handle(), timeout=60_000)
        assert editor.locator(".hint.selected").get_attribute("style") != before
        tab.keyboard.press("Delete")
        tab.wait_for_function("card => card.dataset.told === '5'", arg=card.element_handle(), timeout=60_000)
        assert editor.locator(".hint").count() == 1
        tab.keyboard.press("Control+z")
        tab.wait_for_function("card => card.dataset.told === '6'", arg=card.element_handle(), timeout=60_000)
        assert editor.locator(".hint").count() == 2

        # a new visit: the same photo uploaded again, its saved hints loaded back
        tab.reload()
        tab.wait_for_selector("#model option[value=reference]", state="attached")
        tab.set_input_files("#files", str(photo))
        card = tab.locator(".card", has_text=photo.name)
        card.locator("a.download").wait_for(timeout=60_000)
        card.get_by_role("button", name="Tell it the colour…").click()
        card.locator(".editor input[type=file]").set_input_files(str(tmp_path / "street.hints.json"))
        tab.wait_for_function("card => card.dataset.told === '1'", arg=card.element_handle(), timeout=60_000)
        assert card.locator(".editor .hint").count() == 1
        assert blue in card.locator(".editor .hint").get_attribute("aria-label")
        with tab.expect_download() as download:
            card.locator("a.download").click()
        download.value.save_as(tmp_path / "resumed.png")
    saved_hints = json.loads((tmp_path / "street.hints.json").read_text())
    assert saved_hints["width"] == 300 and saved_hints["height"] == 200
    [point] = saved_hints["points"]
    assert point["color"] == blue and abs(point["x"] - 150) < 3 and abs(point["y"] - 100) < 3
    target = np.array(Hint(150, 100, blue).ab)
    plain, told = ab_near(tmp_path / "plain.png", 150, 100), ab_near(tmp_path / "told.png", 150, 100)
    assert np.linalg.norm(told - target) < np.linalg.norm(plain - target) - 5, (plain, told, target)
    assert told[1] < plain[1] - 5  # bluer: b falls
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "resumed.png")), np.asarray(Image.open(tmp_path / "told.png"))
    )


@pytest.mark.slow
@needs_chromium
def test_the_keyboard_places_a_hint_at_its_cursor_moves_it_in_one_request_and_hears_colour_names(served, tmp_path):
    """The photo's cross moves with the arrows and Enter puts a hint there (not only at the centre); a
    hint moved by five quick arrow presses is coloured again once; markers are named by colour; after
    Ctrl+Z the restored hint has the focus."""
    photo = tmp_path / "harbour.png"
    grey_photo(photo)
    with browser_tab() as tab:
        tab.goto(served.page)
        tab.wait_for_selector("#model option[value=unet]", state="attached")
        tab.set_input_files("#files", str(photo))
        card = tab.locator(".card", has_text=photo.name)
        card.locator("a.download").wait_for(timeout=60_000)
        card.get_by_role("button", name="Tell it the colour…").click()
        editor = card.locator(".editor")
        on_cursor = "() => document.activeElement.classList.contains('cursor')"
        for _ in range(10):
            tab.keyboard.press("Tab")
            if tab.evaluate(on_cursor):
                break
        assert tab.evaluate(on_cursor), focused(tab)
        for key in ["Shift+ArrowRight"] * 4 + ["ArrowDown"] * 2:
            tab.keyboard.press(key)
        assert "place a hint at 210, 106" in editor.locator(".cursor").get_attribute("aria-label")
        tab.keyboard.press("Enter")
        tab.wait_for_function("card => card.dataset.told === '1'", arg=card.element_handle(), timeout=60_000)
        marker = editor.locator(".hint.selected")
        assert "at 210, 106" in marker.get_attribute("aria-label")

        marker.focus()
        for _ in range(5):
            tab.keyboard.press("ArrowLeft")
        assert "at 195, 106" in editor.locator(".hint.selected").get_attribute("aria-label")  # moved at once
        tab.wait_for_function("card => card.dataset.told === '2'", arg=card.element_handle(), timeout=60_000)
        tab.wait_for_timeout(1500)
        assert card.get_attribute("data-told") == "2"  # one request for the five presses

        editor.locator("input[type=color]").fill("#2050d0")
        tab.wait_for_function("card => card.dataset.told === '3'", arg=card.element_handle(), timeout=60_000)
        assert "blue (#2050d0) at 195, 106" in editor.locator(".hint").get_attribute("aria-label")
        assert tab.evaluate("() => colourName('#8b4513')") == "brown"
        assert tab.evaluate("() => colourName('#f0f0f0')") == "white"
        editor.locator(".hint").focus()
        tab.keyboard.press("Delete")
        tab.wait_for_function("card => card.dataset.told === '4'", arg=card.element_handle(), timeout=60_000)
        assert editor.locator(".hint").count() == 0
        tab.keyboard.press("Control+z")
        tab.wait_for_function("card => card.dataset.told === '5'", arg=card.element_handle(), timeout=60_000)
        assert tab.evaluate("() => document.activeElement.classList.contains('hint')")
        assert "blue" in tab.evaluate("() => document.activeElement.getAttribute('aria-label')")


def focused(tab) -> str:
    """What has the keyboard focus: its id, else its tag, type and text."""
    return tab.evaluate(
        "() => { const e = document.activeElement; return e.id || "
        "`${e.tagName.toLowerCase()}:${e.type || ''}:${e.textContent.trim()}`; }"
    )


def tab_to(tab, wanted, key: str = "Tab", presses: int = 30) -> None:
    """Press Tab (or `key`, such as Shift+Tab) until `wanted(focused)` holds."""
    for _ in range(presses):
        tab.keyboard.press(key)
        if wanted(focused(tab)):
            return
    raise AssertionError(f"Tab never reached it; last focus {focused(tab)!r}")


@pytest.mark.slow
@needs_chromium
def test_the_keyboard_alone_uploads_compares_and_downloads(served, tmp_path):
    """Tab, Enter, Space and the arrows only; the name has '#' and '?', which must survive into the
    download address; an error is announced (role=alert); every control's focus is visible."""
    photo = tmp_path / "photo #1 ?.png"
    grey_photo(photo, 120, 80)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with browser_tab() as tab:
        # Intercept file choosers from the start: expect_file_chooser turns interception on asynchronously,
        # and a chooser that opens before it would be a native dialog the test cannot see.
        tab.on("filechooser", lambda chooser: None)
        tab.goto(served.page)
        tab.wait_for_selector("#model option[value=unet]", state="attached")
        tab_to(tab, lambda name: name == "model")
        tab_to(tab, lambda name: name == "pick")
        with tab.expect_file_chooser() as chooser:
            tab.keyboard.press("Enter")
        chooser.value.set_files(str(photo))
        card = tab.locator(".card", has_text=photo.name)
        card.locator("a.download").wait_for(timeout=60_000)

        tab_to(tab, lambda name: name == "input:range:")
        slider = card.locator("input[type=range]")
        assert "before and after" in slider.get_attribute("aria-label")
        compare_outline = card.locator(".compare").evaluate("node => getComputedStyle(node).outlineStyle")
        assert compare_outline not in ("", "none"), "the slider's focus is invisible"
        for _ in range(5):
            tab.keyboard.press("ArrowLeft")
        assert slider.input_value() == "45"
        assert slider.get_attribute("aria-valuetext") == "45 % before, 55 % after"
        assert "55%" in card.locator("img.before").get_attribute("style")

        tab_to(tab, lambda name: name.startswith("a::Download"))
        with tab.expect_download() as download:
            tab.keyboard.press("Enter")
        saved = tmp_path / "downloaded.png"
        download.value.save_as(saved)
        # Chromium turns the '?' that some file systems forbid into '_'; the '#' arrives.
        assert re.fullmatch(r"colorized photo #1 [?_]\.png", download.value.suggested_filename)

        tab_to(tab, lambda name: name == "pick", "Shift+Tab")
        with tab.expect_file_chooser() as chooser:
            tab.keyboard.press(" ")
        chooser.value.set_files(str(broken))
        alert = tab.locator(".card", has_text=broken.name).locator("[role=alert]")
        alert.wait_for(timeout=30_000)
        assert "broken.png" in alert.inner_text()
        # Checked last: a script run by the test between Tab and Enter takes the key's right to open a chooser.
        assert focused(tab) == "pick"
        outline = tab.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none"), "the button's focus is invisible"
    with Image.open(saved) as image:
        assert image.size == (120, 80)


@pytest.mark.slow
@needs_chromium
@pytest.mark.skipif(not AXE.exists(), reason=f"needs axe-core at {AXE} (`npm ci`, which .ci/run does)")
def test_axe_core_finds_no_serious_violation_on_a_page_with_a_result_and_an_error(served, tmp_path):
    photo = tmp_path / "photo.png"
    grey_photo(photo, 120, 80)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with browser_tab(bypass_csp=True) as tab:  # the page's CSP lets only its own script run: axe is injected
        tab.goto(served.page)
        tab.wait_for_selector("#model option[value=unet]", state="attached")
        tab.set_input_files("#files", [str(photo), str(broken)])
        tab.locator(".card", has_text=photo.name).locator("a.download").wait_for(timeout=60_000)
        tab.locator(".card", has_text=broken.name).locator("[role=alert]").wait_for(timeout=30_000)
        card = tab.locator(".card", has_text=photo.name)
        card.get_by_role("button", name="Tell it the colour…").click()  # the hint editor, with a hint and its palette
        card.get_by_role("button", name="Add a hint").click()
        tab.wait_for_function("card => card.dataset.told === '1'", arg=card.element_handle(), timeout=60_000)
        card.locator(".palette button").first.wait_for(timeout=30_000)
        tab.add_script_tag(path=str(AXE))
        report = tab.evaluate("async () => await axe.run(document)")
    violations = [(rule["id"], rule["impact"], len(rule["nodes"])) for rule in report["violations"]]
    print("axe-core", report["testEngine"]["version"], "violations:", violations, "passes:", len(report["passes"]))
    assert not [violation for violation in violations if violation[1] in ("serious", "critical")], violations
    assert len(report["passes"]) > 10  # axe really ran over the page


@pytest.mark.slow
@needs_chromium
def test_a_film_shows_its_frames_done_while_it_is_colorized(served, tmp_path):
    film = tmp_path / "reel #2.mp4"
    frames = panning_frames([np.asarray(colour_photo(1, 800, 600))], 90, (640, 480), grain=0, exposure=0, speeds=(2,))
    write_film(film, (grey for _, grey in frames), 24, audio_seconds=1.0)
    assert film.stat().st_size < MAX_UPLOAD_MB * 1_000_000
    with browser_tab() as tab:
        tab.goto(served.page)
        tab.wait_for_selector("#model option[value=unet]", state="attached")
        tab.evaluate(
            "() => { window.seen = []; new MutationObserver(() => document.querySelectorAll('.status')"
            ".forEach(status => window.seen.push(status.textContent)))"
            ".observe(document.body, {subtree: true, childList: true, characterData: true}); }"
        )
        tab.set_input_files("#files", str(film))
        card = tab.locator(".card", has_text=film.name)
        card.locator("a.download").wait_for(timeout=120_000)
        seen = tab.evaluate("() => window.seen")
        assert card.locator("video").count() == 1
        assert "90 frames" in card.locator(".status").inner_text()
        video_ready = tab.wait_for_function("() => document.querySelector('video').readyState >= 1", timeout=30_000)
        assert video_ready
    progress = [text for text in seen if re.fullmatch(r"colorizing: frame \d+ of 90", text)]
    assert progress, seen
    done = [int(text.split()[2]) for text in progress]
    assert done == sorted(done) and 0 < done[-1] <= 90


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
        "no name": ("   ", good.read_bytes(), None, 400, "no file name"),
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
        with Image.open(io.BytesIO(served.get(answer["download"]))) as image:
            assert image.size == (64, 48)

    film = tmp_path / "reel.mp4"
    frames = panning_frames([np.asarray(colour_photo(1, 120, 90))], 6, (64, 48), speeds=(1,))
    write_film(film, (grey for _, grey in frames), 12, audio_seconds=0.5)
    status, answer = served.post("reel.mp4", film.read_bytes(), "unet")
    assert status == 200 and answer["kind"] == "film" and answer["frames"] == 6, answer
    status, answer = served.post("reel.png", film.read_bytes())  # recognised by content, not by name
    assert status == 400 and "a film (MP4), not a photo: rename it .mp4" in answer["error"], answer
    status, answer = served.post("photo.mp4", good.read_bytes())
    assert status == 400 and "a PNG photo, not a film: rename it .png" in answer["error"], answer

    assert served.get("api/models")  # still serving
    for address in ("results/../../server.log", "results/0123/server.log", "previews/" + "0" * 32 + "/input.jpg"):
        assert served.request(address)[0] == 404, address
    after = {path for path in served.project.rglob("*") if served.output not in path.parents}
    assert after == before  # nothing written outside the page's own folder
    assert served.process.poll() is None


@pytest.mark.slow
def test_odd_names_are_cleaned_and_their_download_addresses_work(served, tmp_path):
    good = tmp_path / "good.png"
    grey_photo(good, 64, 48)
    long_name = "é" * 150 + ".png"  # 300 bytes in UTF-8: over what a Linux file name holds
    expected = {"photo #1 ?.png": "photo #1 ?.png", "  .png": "untitled.png", "%41 & more.png": "%41 & more.png"}
    for name, cleaned in {**expected, long_name: None}.items():
        status, answer = served.post(name, good.read_bytes())
        assert status == 200, (name, answer)
        assert str(served.output) not in json.dumps(answer)
        if cleaned is None:
            cleaned = answer["name"]
            assert cleaned.endswith(".png") and len(cleaned.encode()) <= 200 and set(cleaned[:-4]) == {"é"}
        assert answer["name"] == answer["result_name"] == cleaned
        with Image.open(io.BytesIO(served.get(answer["download"]))) as image:
            assert image.size == (64, 48)
        assert urllib.parse.unquote(answer["download"].rsplit("/", 1)[1]) == cleaned


def raw(served: Served, data: bytes, wait: float) -> tuple[bytes, float]:
    """Send `data` on a new connection, then read what comes back within `wait` seconds (and how long it
    took to come)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", int(served.url.rsplit(":", 1)[1].strip("/")))) as connection:
        connection.settimeout(wait)
        if data:
            connection.sendall(data)
        answer = b""
        try:
            while chunk := connection.recv(65536):
                answer += chunk
        except TimeoutError:
            pass
    return answer, time.monotonic() - started


@pytest.mark.slow
def test_slow_clients_are_timed_out_and_leave_nothing(served):
    port = served.url.rsplit(":", 1)[1].strip("/")
    files = served.files()
    silent, seconds = raw(served, b"", CLIENT_TIMEOUT + 10)
    assert silent.startswith(b"HTTP/1.1 408") and seconds < CLIENT_TIMEOUT + 5, (silent, seconds)
    half_headers, seconds = raw(
        served, f"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode(), CLIENT_TIMEOUT + 10
    )
    assert half_headers.startswith(b"HTTP/1.1 408") and seconds < CLIENT_TIMEOUT + 5, (half_headers, seconds)
    headers = (
        f"POST /api/colorize?name=slow.png HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {served.origin}\r\n"
        f"X-Colorize-Token: {served.token}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: 100000\r\n\r\n"
    ).encode()
    stalled, seconds = raw(served, headers + b"\x89PNG\r\n\x1a\n", CLIENT_TIMEOUT + 10)
    assert stalled.startswith(b"HTTP/1.1 408") and b"nothing arrived for 3 s" in stalled, stalled
    assert seconds < CLIENT_TIMEOUT + 5
    assert served.files() == files  # the half upload was removed
    assert served.get("api/models")


def refused(served: Served, answer: tuple[int, bytes, dict], *fragments: str) -> None:
    status, body, _ = answer
    assert status == 403, (status, body)
    text = json.loads(body)["error"] if body.startswith(b"{") else body.decode().rstrip("\n")
    assert "\n" not in text and all(fragment in text for fragment in fragments), text


@pytest.mark.slow
def test_only_the_page_itself_may_use_the_api(served, tmp_path):
    port = served.url.rsplit(":", 1)[1].strip("/")
    good = tmp_path / "good.png"
    grey_photo(good, 64, 48)
    body = good.read_bytes()
    upload = "api/colorize?name=x.png"
    files = served.files()
    cases = {
        "another site's name (DNS rebinding)": (
            upload,
            body,
            {"Host": "evil.example", "Origin": "http://evil.example"},
            "Host 'evil.example' refused",
        ),
        "the right address with another port": (upload, body, {"Host": "127.0.0.1:1"}, "refused"),
        "a LAN name": (upload, body, {"Host": f"192.168.1.20:{port}"}, "refused"),
        "no token": (upload, body, {"X-Colorize-Token": None}, "token"),
        "a wrong token": (upload, body, {"X-Colorize-Token": "guess"}, "token"),
        "another local origin": (upload, body, {"Origin": "http://127.0.0.1:9999"}, "another origin"),
        "an opaque origin": (upload, body, {"Origin": "null"}, "another origin"),
        "no origin at all": (upload, body, {"Origin": None}, "another origin"),
        "a cross-site fetch": (upload, body, {"Origin": None, "Sec-Fetch-Site": "cross-site"}, "another site"),
        "a form's text/plain": (upload, body, {"Content-Type": "text/plain"}, "application/octet-stream"),
        "a form's multipart": (upload, body, {"Content-Type": "multipart/form-data; boundary=x"}, "octet-stream"),
        "no content type": (upload, body, {"Content-Type": None}, "octet-stream"),
        "the model list without token": ("api/models", None, {"X-Colorize-Token": None}, "token"),
        "a film's progress without token": ("api/progress?job=abcdefgh", None, {"X-Colorize-Token": None}, "token"),
        "the page without its token": ("", None, {}, "token"),
        "the page with a wrong token": ("?token=guess", None, {}, "token"),
        "the page from a link on another site": (
            f"?token={served.token}",
            None,
            {"Sec-Fetch-Site": "cross-site"},
            "another site",
        ),
    }
    for case, (path, data, headers, fragment) in cases.items():
        answer = served.request(path, data, headers)
        refused(served, answer, fragment)
        assert answer[2].get("x-frame-options") == "DENY", case
    assert served.files() == files  # nothing written for any of them

    status, answer = served.post(
        "x.png", body, headers={"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    )
    assert status == 200, answer
    status, answer = served.post("x.png", body, headers={"Origin": None, "Sec-Fetch-Site": "same-origin"})
    assert status == 200, answer
    status, page, headers = served.request(f"?token={served.token}")
    assert status == 200 and served.token.encode() in page
    assert "script-src 'nonce-" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


class AttackerPage(http.server.BaseHTTPRequestHandler):
    """Another local web page, on its own port, that tries to post a real photo to the page's API: a
    text/plain form (no preflight) and fetches, with and without the token (as if it had leaked)."""

    target = token = photo = ""

    def do_GET(self):  # noqa: N802 - the standard library's name
        script = f"""
          const photo = Uint8Array.from(atob("{self.photo}"), character => character.charCodeAt(0));
          const address = "{self.target}api/colorize?name=stolen.png";
          window.tries = Promise.allSettled([
            fetch(address, {{method: "POST", mode: "no-cors", body: photo}}),
            fetch(address, {{method: "POST", mode: "no-cors", body: new Blob([photo], {{type: "text/plain"}})}}),
            fetch(address, {{method: "POST", body: photo, headers: {{"X-Colorize-Token": "{self.token}",
                                                                     "Content-Type": "application/octet-stream"}}}}),
          ]).then(results => results.map(result => result.status));
          document.forms[0].submit();"""
        page = (
            f'<!doctype html><form method="post" enctype="text/plain" target="sink" action="{self.target}'
            f'api/colorize?name=form.png"><input name="a" value="b"></form><iframe name="sink"></iframe>'
            f"<script>{script}</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


@pytest.mark.slow
@needs_chromium
def test_a_page_from_another_local_origin_cannot_make_the_browser_upload(served):
    files = served.files()
    refusals = (served.project / "server.log").read_text().count("refused POST /api/colorize")
    photo = base64.b64encode(noise_png(64, 48)).decode()
    handler = type("Attacker", (AttackerPage,), {"target": served.url, "token": served.token, "photo": photo})
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    try:
        with browser_tab() as tab:
            tab.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
            outcomes = tab.evaluate("() => window.tries")
            tab.wait_for_timeout(1000)  # the form's post lands in the iframe
    finally:
        attacker.shutdown()
    # The browser sends the form and the no-cors fetches, and the server refuses them (their opaque answers
    # are hidden from the attacker); the fetch with the token needs a preflight, which is refused too.
    assert outcomes[2] == "rejected", outcomes
    log = (served.project / "server.log").read_text()
    assert log.count("refused POST /api/colorize") - refusals >= 3, log
    assert "refused OPTIONS /api/colorize" in log
    assert served.files() == files  # nothing was colorized or written
    assert served.process.poll() is None


@pytest.mark.slow
def test_the_disk_budget_removes_the_oldest_results_and_keeps_them_private(project, tmp_path):
    with serving(project, "--max-output-mb", "1", output="budget") as served:
        bmp_named_png = noise_png(320, 240)
        status, answer = served.post("amp.bmp", bmp_named_png)  # a PNG named .bmp: its result is a PNG
        assert status == 200 and answer["result_name"] == "amp.png", answer
        result = served.get(answer["download"])
        with Image.open(io.BytesIO(result)) as image:
            assert image.format == "PNG" and image.size == (320, 240)
        assert len(result) < 4 * 320 * 240

        downloads = [answer["download"]]
        for index in range(8):
            status, answer = served.post(f"photo {index}.png", noise_png(320, 240, seed=index + 1))
            assert status == 200, answer
            downloads.append(answer["download"])
            assert sum(served.files().values()) <= 1_000_000
        kept = [served.request(address)[0] == 200 for address in downloads]
        assert kept[-1] and not kept[0] and kept == sorted(kept), kept  # the oldest went first

        status, answer = served.post("too big.png", noise_png(900, 900, seed=99))
        assert status == 507 and "over this page's budget of 1 MB" in answer["error"], answer
        assert sum(served.files().values()) <= 1_000_000

        modes = {path: stat.S_IMODE(path.stat().st_mode) for path in [served.output, *served.output.rglob("*")]}
        assert modes and all(mode == (0o700 if path.is_dir() else 0o600) for path, mode in modes.items()), modes
    with serving(
        project, "--max-output-mb", "0.2", output="budget"
    ):  # a smaller budget applies to what a last launch left
        pass
    assert sum(path.stat().st_size for path in served.output.rglob("*") if path.is_file()) <= 200_000
    assert served.output.is_dir()  # the page's folder itself stays
