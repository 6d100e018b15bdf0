"""The page of `colorize --serve` attacked as a hostile stranger would (issue 35): another user of the
computer, a page writing to the server's terminal, films past the limits, a disk budget to overflow, an
edit racing the clean-up, an abandoned film, hostile hints, stalled bodies, a killed server's leftovers
and names that hide what they are. Each against the real server: sockets, plain HTTP, curl run as another
user, Chromium where a page is involved."""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_page import CLIENT_TIMEOUT, browser_tab, grey_photo, needs_chromium, raw, serving

from bench.workloads import panning_frames, write_film
from conftest import colorize_project, project_env
from photo_files import colour_photo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return colorize_project(tmp_path_factory.mktemp("attacked project"), ("resnet18", "unet"))


@pytest.fixture(scope="module")
def served(project):
    with serving(project) as server:
        yield server


def disk_usage(folder: Path) -> int:
    """Bytes `folder` takes on disk: the blocks allocated to it and everything in it."""
    total = 0
    for directory, _, files in os.walk(folder):  # a folder removed meanwhile is left out
        for path in (directory, *(os.path.join(directory, name) for name in files)):
            with suppress(OSError):
                total += os.lstat(path).st_blocks * 512
    return total


def port_of(served) -> int:
    return int(served.url.rsplit(":", 1)[1].strip("/"))


def log_of(served) -> str:
    return (served.project / "server.log").read_text(errors="replace")


def png(path: Path, width: int = 64, height: int = 48) -> bytes:
    grey_photo(path, width, height)
    return path.read_bytes()


def tiny_film(path: Path, frames: int, size: tuple[int, int] = (16, 16), fps: int = 25, codec: str = "libx264") -> Path:
    """A film of `frames` frames of a grey pan, `size` = (width, height)."""
    rgb = np.asarray(colour_photo(3, size[0] * 2, size[1] * 2))
    pixel_format = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    write_film(
        path, (grey for _, grey in panning_frames([rgb], frames, size, speeds=(1,))), fps, codec, None, pixel_format
    )
    return path


def upload_request(served, name: str, length: int, path: str = "api/colorize") -> bytes:
    """The headers of a POST the page would send, declaring a body of `length` bytes."""
    query = urllib.parse.urlencode({"name": name}) if path == "api/colorize" else name
    return (
        f"POST /{path}?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port_of(served)}\r\nOrigin: {served.origin}\r\n"
        f"X-Colorize-Token: {served.token}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to be another user"
)
@pytest.mark.skipif(not shutil.which("curl"), reason="needs curl")
def test_another_user_of_the_computer_cannot_read_the_photos(project, tmp_path):
    """User nobody lists nothing and fetches nothing, with or without an earlier launch's cookie; the
    page's own load (its cookie) gets the results, an earlier launch's too; a folder others can open is
    refused in one line."""
    photo = png(tmp_path / "family.png")
    as_nobody = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]

    def curl(address: str, *headers: str) -> str:
        arguments = [arg for header in headers for arg in ("-H", header)]
        result = subprocess.run(
            [*as_nobody, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", *arguments, address],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout

    with serving(project, output="family") as first:
        status, answer = first.post("family.png", photo)
        assert status == 200, answer
        addresses = [first.url + answer["download"], first.url + answer["input"], first.url + answer["result"]]
        assert all(curl(address) == "403" for address in addresses)
        listing = subprocess.run([*as_nobody, "ls", str(first.output)], capture_output=True, text=True)
        assert listing.returncode != 0 and answer["upload"] not in listing.stdout
        # the page's own load: its cookie lets the results in
        status, _, headers = first.request(f"?token={first.token}")
        cookie = headers["set-cookie"].split(";")[0]
        assert status == 200 and "httponly" in headers["set-cookie"].lower()
        assert "samesite=strict" in headers["set-cookie"].lower()
        assert all(curl(address, f"Cookie: {cookie}") == "200" for address in addresses)
    with serving(project, output="family") as second:  # a restart: the earlier launch's cookie opens nothing
        addresses = [second.url + address.split(first.url)[1] for address in addresses]
        assert all(curl(address, f"Cookie: {cookie}") == "403" for address in addresses)
        status, _, headers = second.request(f"?token={second.token}")
        cookie = headers["set-cookie"].split(";")[0]
        assert all(curl(address, f"Cookie: {cookie}") == "200" for address in addresses)

    shared = project / "shared-folder"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-m", "colorization.colorize", "--serve", "--port", "0", "--output", str(shared)],
        cwd=project,
        env=project_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "other users of this computer can open it (mode 755)" in result.stderr
    assert list(shared.iterdir()) == []


class EvilPage(http.server.BaseHTTPRequestHandler):
    """A page on another local port whose script fetches the server with ESC sequences and a newline in
    the address."""

    target = ""

    def do_GET(self):  # noqa: N802 - the standard library's name
        page = (
            "<!doctype html><script>window.done = fetch("
            f'"{self.target}x%1b%5b31mBROWSER%1b%5b0m%0afake%20browser%20line", {{mode: "no-cors"}})'
            ".then(() => 'answered', () => 'refused');</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


@needs_chromium
def test_no_request_writes_raw_bytes_or_many_lines_to_the_servers_terminal(project):
    with serving(project, output="terminal") as served:
        port = port_of(served)
        evil = "/x%1b%5b31mINJECTED%1b%5b0m%0afake%20line%20colorize:%20the%20page%20is%20at%20http://evil/?token=x"
        answer, _ = raw(
            served, f"GET {evil} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nSec-Fetch-Site: cross-site\r\n\r\n".encode(), 5
        )
        assert answer.startswith(b"HTTP/1.1 403"), answer
        handler = type("Evil", (EvilPage,), {"target": served.url})
        attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        try:
            with browser_tab() as tab:
                tab.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
                tab.evaluate("() => window.done")
        finally:
            attacker.shutdown()
        log = (served.project / "server.log").read_bytes()
        assert b"\x1b" not in log
        lines = log.decode().splitlines()
        assert not [line for line in lines if line.startswith(("fake", "colorize: the page is at"))], lines
        assert "x\\x1b[31mINJECTED\\x1b[0m\\nfake line" in log.decode()
        assert "x\\x1b[31mBROWSER\\x1b[0m\\nfake browser line" in log.decode()

        with ThreadPoolExecutor(8) as pool:  # a flood of refusals: a few lines, then a count
            statuses = list(
                pool.map(lambda _: served.request("api/models", headers={"X-Colorize-Token": "x"})[0], range(200))
            )
        assert statuses == [403] * 200
        time.sleep(10.5)
        assert served.request("api/models", headers={"X-Colorize-Token": "x"})[0] == 403
        log = log_of(served)
        assert log.count("refused GET /api/models") <= 31, log.count("refused GET /api/models")
        assert "more requests refused in" in log


def test_films_over_the_frame_size_or_length_limits_are_refused_from_their_header(project, tmp_path):
    with serving(project, "--max-film-megapixels", "0.5", "--max-film-minutes", "0.05", output="films") as served:
        large = tiny_film(tmp_path / "large.avi", 3, (1000, 800), codec="mjpeg")
        long = tiny_film(tmp_path / "long.mp4", 100)  # 4 s at 25 frames a second
        small = tiny_film(tmp_path / "small.mp4", 25)
        status, answer = served.post("large.avi", large.read_bytes())
        assert status == 400 and "1000 x 800" in answer["error"] and "--max-film-megapixels" in answer["error"], answer
        status, answer = served.post("long.mp4", long.read_bytes())
        assert status == 400 and "--max-film-minutes" in answer["error"], answer
        assert "\n" not in answer["error"]
        status, answer = served.post("small.mp4", small.read_bytes())
        assert status == 200 and answer["frames"] == 25, answer
        assert len([path for path in served.output.iterdir() if path.is_dir()]) == 1


def still_film(path: Path, frames: int) -> Path:
    """An MPEG-2 film of one grainy 640x480 still frame: one key frame, then nothing changes (a long GOP),
    so it is small while every coloured frame (MJPEG, as an .avi is written) is large."""
    import av

    rng = np.random.default_rng(0)
    photo = np.asarray(colour_photo(5, 640, 480).convert("L"), dtype=np.float32)
    grain = np.clip(photo + rng.normal(0, 40, photo.shape), 0, 255).astype(np.uint8)
    still = av.VideoFrame.from_ndarray(np.repeat(grain[..., None], 3, -1), format="rgb24")
    with av.open(str(path), "w") as output:
        stream = output.add_stream("mpeg2video", rate=25)
        stream.width, stream.height, stream.pix_fmt, stream.gop_size = 640, 480, "yuv420p", frames + 1
        for _ in range(frames):
            output.mux(stream.encode(still))
        output.mux(stream.encode())
    return path


class DiskWatch:
    """The most the page's output folder took on disk (allocated blocks) while it ran."""

    def __init__(self, folder: Path):
        self.folder, self.peak, self.running = folder, 0, True
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self):
        while self.running:
            self.peak = max(self.peak, disk_usage(self.folder))
            time.sleep(0.005)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return self.peak


def test_the_disk_budget_holds_while_films_are_written_uploads_arrive_and_tiny_files_pile_up(project, tmp_path):
    budget = 2_000_000
    with serving(project, "--max-output-mb", "2", output="budget") as served:
        # one still frame, a long GOP: a tiny MPEG-2 film whose coloured frames take far more
        film = still_film(tmp_path / "still.avi", 200)
        assert film.stat().st_size < 300_000
        watch = DiskWatch(served.output)
        status, answer = served.post("still.avi", film.read_bytes())
        peak = watch.stop()
        print(f"a {film.stat().st_size} B MPEG-2 still film: {status}, the folder peaked at {peak} B")
        assert status == 507 and "budget of 2 MB" in answer["error"], answer
        assert peak <= budget + 300_000, peak
        assert list(served.output.glob("*/*")) == []

        # five uploads trickling in at once: what is received counts, before any of it is colorized
        body = png(tmp_path / "padded.png", 300, 200) + bytes(650_000)  # after its end: read as the photo
        assert len(body) < 1_000_000

        def trickle(index: int) -> bytes:
            with socket.create_connection(("127.0.0.1", port_of(served))) as connection:
                connection.settimeout(60)
                connection.sendall(upload_request(served, f"slow {index}.png", len(body)))
                for start in range(0, len(body), 50_000):
                    try:
                        connection.sendall(body[start : start + 50_000])
                    except OSError:
                        break  # refused while sending
                    time.sleep(0.05)
                return connection.recv(65536)

        watch = DiskWatch(served.output)
        with ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(trickle, range(5)))
        peak = watch.stop()
        statuses = [int(answer.split()[1]) for answer in answers]
        print(f"five trickling uploads of {len(body)} B: {statuses}, the folder peaked at {peak} B")
        assert 507 in statuses and 200 in statuses, answers
        refused = next(answer for answer in answers if answer.startswith(b"HTTP/1.1 507"))
        assert b"arriving now would take over this page's budget of 2 MB" in refused
        assert peak <= budget + 300_000, peak

    with serving(project, "--max-output-mb", "0.3", output="tiny") as served:
        # many tiny uploads: each takes whole blocks (files and folders), and those are what count
        for index in range(30):
            status, answer = served.post(f"tiny {index}.png", png(tmp_path / "tiny.png", 8, 8))
            assert status == 200, answer
            assert disk_usage(served.output) <= 300_000
        print(f"30 tiny uploads: {disk_usage(served.output)} B on disk, {sum(1 for _ in served.output.iterdir())} kept")
        assert sum(1 for _ in served.output.iterdir()) < 20


def test_an_edit_racing_the_clean_up_is_404_or_kept_and_never_recreates_a_folder(project, tmp_path):
    """Each new upload pushes the oldest photo out while that photo is told a colour (the edit waits for
    the upload's turn, then runs while the upload's clean-up removes the oldest): the edit either keeps its
    photo (in use: the budget takes another) or answers 404 and writes nothing."""

    def photo(seed: int) -> bytes:  # a photo that takes a while to colour and 0.7 MB with its results
        grey = tmp_path / f"{seed}.png"
        colour_photo(seed, 1200, 900).convert("L").save(grey)
        return grey.read_bytes()

    hints = json.dumps({"points": [{"x": 100, "y": 100, "color": "#2050d0"}]}).encode()
    with serving(project, "--max-output-mb", "1.6", output="race") as served:
        uploads = []
        for index in range(2):
            status, answer = served.post(f"photo {index}.png", photo(index))
            assert status == 200 and answer["hints"], answer
            uploads.append(answer["upload"])
        outcomes = []
        for index in range(6):
            oldest = next(upload for upload in uploads if (served.output / upload).is_dir())
            with ThreadPoolExecutor(2) as pool:
                newer = pool.submit(served.post, f"newer {index}.png", photo(10 + index))
                time.sleep(0.15)  # the newer upload holds the turn; the edit waits for it
                edit = pool.submit(served.request, f"api/hints?upload={oldest}", hints)
                status, answer = newer.result()
                assert status == 200, answer
                uploads.append(answer["upload"])
                edited = edit.result()[0]
            again = served.request(f"api/hints?upload={oldest}", hints)[0]
            outcomes.append((edited, again))
            assert edited in (200, 404), edited
            if edited == 404:
                assert not (served.output / oldest).exists()
            for folder in served.output.iterdir():
                if folder.is_dir():
                    assert (folder / "preview" / "input.jpg").is_file() and (folder / "upload").is_dir(), sorted(
                        str(path.relative_to(folder)) for path in folder.rglob("*")
                    )
        assert all(again == 200 for edited, again in outcomes if edited == 200), outcomes
        print("edit, edit again:", outcomes)


def test_a_film_whose_browser_hangs_up_stops_and_frees_the_turn(served, tmp_path):
    film = tiny_film(tmp_path / "endless.mp4", 3000)
    photo = png(tmp_path / "next.png")
    with socket.create_connection(("127.0.0.1", port_of(served))) as connection:
        data = film.read_bytes()
        connection.sendall(upload_request(served, "endless.mp4", len(data)) + data)
        time.sleep(3)  # colorizing, then the browser goes away
    started = time.monotonic()
    status, answer, _ = served.request("api/colorize?name=next.png", photo, timeout=25)
    print(f"the photo behind the abandoned film answered in {time.monotonic() - started:.1f} s")
    assert status == 200, answer
    assert time.monotonic() - started < 20
    time.sleep(0.5)
    assert "'endless.mp4': the browser hung up; stopped" in log_of(served)
    assert not [path for path in served.output.rglob("*endless*")]


HOSTILE_HINTS = {
    "deep nesting": b"[" * 100_000,
    "an integer of 10^30": json.dumps({"points": [{"x": 10**30, "y": 1, "color": "#123456"}]}).encode(),
    "an integer of 5,000 digits": b'{"points": [{"x": ' + b"9" * 5000 + b', "y": 1, "color": "#123456"}]}',
    "a lone surrogate key": b'{"\\ud800": 1, "points": []}',
    "a lone surrogate colour": b'{"points": [{"x": 1, "y": 1, "color": "\\ud800"}]}',
}


def test_hostile_hints_and_stalled_or_abandoned_bodies_get_one_line(served, tmp_path):
    status, answer = served.post("hinted.png", png(tmp_path / "hinted.png"))
    assert status == 200 and answer["hints"], answer
    upload = answer["upload"]
    for case, document in HOSTILE_HINTS.items():
        for route in (f"api/hints?upload={upload}", f"api/suggest?upload={upload}&x=3&y=4"):
            status, body, _ = served.request(route, document)
            assert status == 400, (case, route, status, body)
            error = json.loads(body)["error"]
            assert "\n" not in error and error.startswith("hints"), (case, error)

    # a body that stalls: cut off after --client-timeout, as an upload is
    stalled, seconds = raw(served, upload_request(served, f"upload={upload}", 1000, "api/hints") + b"{", 20)
    assert stalled.startswith(b"HTTP/1.1 408") and seconds < CLIENT_TIMEOUT + 5, (stalled, seconds)
    # a client that hangs up in the middle of its hints
    with socket.create_connection(("127.0.0.1", port_of(served))) as connection:
        connection.sendall(upload_request(served, f"upload={upload}", 1000, "api/suggest?x=1&y=1&") + b'{"poi')
    time.sleep(0.5)
    assert "Traceback" not in log_of(served) and "Exception" not in log_of(served), log_of(served)
    assert served.request(f"api/hints?upload={upload}", b'{"points": []}')[0] == 200


def test_a_killed_servers_leftovers_are_cleared_and_never_served(project, tmp_path):
    film = tiny_film(tmp_path / "reel.mp4", 3000)
    with serving(project, output="killed") as first:
        status, answer = first.post("kept.png", png(tmp_path / "kept.png"))
        assert status == 200, answer
        kept = answer

        def upload_until_killed():
            with suppress(OSError):  # the server is killed under it
                first.post("reel.mp4", film.read_bytes())

        threading.Thread(target=upload_until_killed, daemon=True).start()
        for _ in range(600):
            temporaries = list(first.output.glob("*/tmp-*"))
            if temporaries:
                break
            time.sleep(0.05)
        assert temporaries, "the film was never being written"
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    [temporary] = temporaries
    assert temporary.exists() and (first.output / kept["upload"] / "upload").is_dir()
    with serving(project, output="killed") as second:
        assert not temporary.exists() and not temporary.parent.exists()
        assert not (second.output / kept["upload"] / "upload").exists()
        address = f"results/{temporary.parent.name}/{urllib.parse.quote(temporary.name)}"
        assert second.request(address)[0] == 404
        assert second.request(f"results/{kept['upload']}/upload")[0] == 404
        with Image.open(__import__("io").BytesIO(second.get(kept["download"]))) as image:
            assert image.size == (64, 48)


def test_names_that_hide_what_they_are_odd_ids_and_caching_are_refused(served, tmp_path):
    body = png(tmp_path / "good.png")
    for name in ("evil\u202egpj.exe.jpg", "bell\x7f.png", "two\u2028lines.png"):
        status, answer = served.post(name, body)
        assert status == 400 and "control or invisible characters" in answer["error"], (name, answer)
        assert "\u202e" not in answer["error"] and "\u2028" not in answer["error"]
    status, answer = served.post("fine.png", body, job="abcdefgh\n")
    assert status == 400 and "job:" in answer["error"], answer
    status, answer = served.post("fine.png", body)
    assert status == 200, answer
    for address in (answer["download"], answer["input"], answer["result"]):
        status, _, headers = served.request(address)
        assert status == 200 and headers["cache-control"] == "no-store", (address, headers)
    assert served.request(answer["download"].replace(answer["upload"], answer["upload"] + "%0A"))[0] == 404


@needs_chromium
def test_the_token_leaves_the_address_bar_and_a_reload_still_works(served):
    with browser_tab() as tab:
        tab.goto(served.page)
        tab.wait_for_selector("#model option[value=unet]", state="attached")
        assert "token" not in tab.url
        tab.reload()  # let in by the page's cookie
        tab.wait_for_selector("#model option[value=unet]", state="attached")
        assert "token" not in tab.url
        tab.go_back()  # the entry with the token was replaced: back is where the tab started
        assert tab.url == "about:blank"
