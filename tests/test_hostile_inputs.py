"""Files made to hurt `colorize` (issue 35): a film that declares huge frames or hours of them, or lies
about them in its header; hints files that are valid JSON Python will not read, or not files at all; an
audio codec the output's container cannot hold. Each is one line, the batch goes on where it should, and
nothing is half-written. The command runs for real, with the shipped default model (it takes hints), in
a folder of the test's own."""

import io
import json
import os
import resource
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from test_colorize import _skipped, assert_one_line_error, colorize, summary

from bench.workloads import panning_frames, write_film
from colorization.colorize import hint_files
from colorization.colorize.films import FilmLimits, OverBudget, colorize_film
from colorization.colorize.render import load_model
from colorization.core.errors import UserError
from conftest import project_env
from photo_files import colour_photo

HOSTILE_HINTS = {  # valid JSON that Python's json or the checks of the points could not take before
    "nested": "[" * 100_000,
    "digits": json.dumps({"points": [{"x": 1, "y": 1, "color": "#2f5fb0"}]}).replace("1,", "9" * 5000 + ",", 1),
    "huge number": json.dumps({"points": [{"x": 10**30, "y": 1, "color": "#2f5fb0"}]}),
    "surrogate key": '{"points": [], "\\ud800": 1}',
    "surrogate value": '{"points": [{"x": 1, "y": 1, "color": "\\ud800' + "x" * 500 + '"}]}',
}


def film(path: Path, frames: int, size: tuple[int, int] = (64, 48), fps: int = 8, **options) -> Path:
    """A small grey panning film."""
    shots = panning_frames([np.asarray(colour_photo(4, 160, 120))], frames, size)
    write_film(path, (grey for _, grey in shots), fps, **options)
    return path


def streams(path: Path) -> tuple[int, list[str]]:
    """A film's decoded video frames and its audio streams' codecs."""
    with av.open(str(path)) as container:
        codecs = [stream.codec_context.name for stream in container.streams.audio]
        return sum(1 for _ in container.decode(video=0)), codecs


def colorize_bounded(*args, cwd: Path, memory: int | None = None):
    """The command line, run as `colorize` runs it but stopped after a minute (TimeoutExpired), so that a
    run that hangs fails the test instead of blocking it; with `memory`, given that many bytes of address
    space, so that one that reads without end stops at a MemoryError instead of filling the memory."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run(
        [sys.executable, "-m", "colorization.colorize", *map(str, args)],
        cwd=cwd,
        env=project_env(cwd),
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit if memory else None,
    )


def test_hostile_hints_text_is_a_one_line_error_naming_its_source():
    for case, text in HOSTILE_HINTS.items():
        with pytest.raises(UserError) as error:
            hint_files.loads(text, "street.hints.json", (40, 32))
        message = str(error.value)
        assert message.startswith("street.hints.json: ") and "\n" not in message, case
        message.encode("utf-8")  # printable and encodable: a lone surrogate is shown escaped
        assert len(message) < 200, (case, message)


@pytest.mark.slow
@pytest.mark.parametrize("case", HOSTILE_HINTS)
def test_hostile_hints_on_the_command_line_are_one_line_and_nothing_is_written(tmp_path, case):
    photo = tmp_path / "street.png"
    colour_photo(8, 40, 32).convert("L").save(photo)
    hints = tmp_path / "hints.json"
    hints.write_text(HOSTILE_HINTS[case], encoding="utf-8")
    result = colorize(photo, "--hints", hints, "-o", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(result, str(hints))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_hostile_sidecar_of_a_folder_is_one_line_and_nothing_is_written(tmp_path):
    folder = tmp_path / "album"
    folder.mkdir()
    colour_photo(1, 40, 32).convert("L").save(folder / "a.png")
    colour_photo(2, 40, 32).convert("L").save(folder / "b.png")
    (folder / "b.hints.json").write_text(HOSTILE_HINTS["huge number"], encoding="utf-8")
    result = colorize(folder, "-o", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(result, "b.hints.json: points[0].x = 1000000000000000000000000000000: outside the photo")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["device", "named pipe"])
def test_hints_that_are_not_a_regular_file_are_refused_at_once(tmp_path, kind):
    """--hints /dev/zero read until the memory ran out, and --hints FIFO waited for a writer for ever."""
    photo = tmp_path / "street.png"
    colour_photo(8, 40, 32).convert("L").save(photo)
    hints = Path("/dev/zero")
    if kind == "named pipe":
        hints = tmp_path / "hints.json"
        os.mkfifo(hints)
    result = colorize_bounded(photo, "--hints", hints, "-o", tmp_path / "out", cwd=tmp_path, memory=8 << 30)
    assert_one_line_error(result, f"{hints}: not a regular file")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_sidecar_that_is_not_a_regular_file_is_skipped_with_a_warning(tmp_path):
    """NAME.hints.json linked to /dev/zero, to a named pipe or to nothing, or a folder of that name: each
    photo is coloured without hints, and the sidecar is named in a warning."""
    folder = tmp_path / "album"
    folder.mkdir()
    names = ("folder", "gone", "pipe", "zero")
    for name in names:
        colour_photo(len(name), 40, 32).convert("L").save(folder / f"{name}.png")
    os.mkfifo(tmp_path / "fifo")
    (folder / "zero.hints.json").symlink_to("/dev/zero")
    (folder / "pipe.hints.json").symlink_to(tmp_path / "fifo")
    (folder / "gone.hints.json").symlink_to(tmp_path / "deleted.hints.json")
    (folder / "folder.hints.json").mkdir()
    result = colorize_bounded(folder, "-o", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert summary(result)[:2] == (4, 0)
    warnings = sorted(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert warnings == [
        f"warning: {folder / f'{name}.hints.json'} skipped: not a regular file; "
        f"{folder / f'{name}.png'} coloured without hints"
        for name in names
    ], result.stderr
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [f"{name}.png" for name in names]


@pytest.mark.slow
def test_a_film_over_the_frame_size_or_length_limit_is_skipped_in_one_line_and_the_rest_is_done(tmp_path):
    folder = tmp_path / "reels"
    folder.mkdir()
    film(folder / "large frames.mp4", 4, size=(96, 64))
    film(folder / "long.mp4", 16)  # 2 seconds
    film(folder / "fine.mp4", 4)
    colour_photo(5, 40, 32).convert("L").save(folder / "photo.png")
    out = tmp_path / "out"
    result = colorize(folder, "-o", out, "--max-film-megapixels", "0.005", "--max-film-minutes", "0.01", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert summary(result) == (2, 2, "2 unreadable")
    assert _skipped(result) == [
        f"skipped {folder / 'large frames.mp4'}: frames of 96 x 64 (0.00614 megapixels) are over the limit of "
        "0.005 megapixels (--max-film-megapixels)",
        f"skipped {folder / 'long.mp4'}: 0.0333 minutes long, over the limit of 0.01 minutes (--max-film-minutes)",
    ]
    assert sorted(path.name for path in out.iterdir()) == ["fine.mp4", "photo.png"]


def _changing_size_mjpeg(path: Path, sizes: list[tuple[int, int]], fps: int) -> Path:
    """An MJPEG AVI whose frames are JPEGs of `sizes`: its header has the first one's size."""
    with av.open(str(path), "w") as output:
        stream = output.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *sizes[0], "yuvj420p"
        for index, (width, height) in enumerate(sizes):
            buffer = io.BytesIO()
            colour_photo(index, width, height).convert("L").save(buffer, "JPEG")
            packet = av.Packet(buffer.getvalue())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, fps)
            output.mux(packet)
    return path


def _short_header(path: Path) -> Path:
    """`path`, a Matroska film, with its header's duration (the Duration element, a float of 8 bytes in
    milliseconds) made 1 ms."""
    data = path.read_bytes()
    at = data.index(b"\x44\x89\x88")
    path.write_bytes(data[: at + 3] + struct.pack(">d", 1.0) + data[at + 11 :])
    with av.open(str(path)) as container:
        assert container.duration == 1000 and not container.streams.video[0].frames
    return path


@pytest.mark.slow
def test_a_film_whose_header_lies_about_its_frames_or_length_is_stopped_while_decoded(tmp_path):
    folder = tmp_path / "reels"
    folder.mkdir()
    _changing_size_mjpeg(folder / "growing.avi", [(64, 48)] * 3 + [(640, 480)] * 3, fps=24)
    _short_header(film(folder / "longer than it says.mkv", 16))  # 2 seconds, 1 ms in its header
    out = tmp_path / "out"
    result = colorize(folder, "-o", out, "--max-film-megapixels", "0.01", "--max-film-minutes", "0.005", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert summary(result) == (0, 2, "2 unreadable")
    assert _skipped(result) == [
        f"skipped {folder / 'growing.avi'}: frame 4 is 640 x 480 (0.307 megapixels), over the limit of 0.01 "
        "megapixels (--max-film-megapixels); nothing written",
        f"skipped {folder / 'longer than it says.mkv'}: frame 3 is past the limit of 0.005 minutes "
        "(--max-film-minutes), which its header did not show; nothing written",
    ]
    assert not out.exists()  # the run made it, and left it empty


@pytest.mark.slow
def test_an_output_folder_the_run_made_and_left_empty_is_removed(tmp_path):
    """A film cut short is found out only while it is decoded, after its output's folder was made."""
    whole = film(tmp_path / "whole.mp4", 24, faststart=True)
    (tmp_path / "reels" / "cut").mkdir(parents=True)
    (tmp_path / "reels" / "cut" / "reel.mp4").write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    out = tmp_path / "out"
    result = colorize(tmp_path / "reels", "-o", out, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(_skipped(result)) == 1 and "nothing written" in _skipped(result)[0], result.stderr
    assert not out.exists()


def test_a_film_passing_its_budget_on_disk_is_stopped_and_nothing_is_written(tmp_path):
    source = film(tmp_path / "reel.mkv", 8)
    target = tmp_path / "out" / "reel.mkv"
    model = load_model("reference_hints", tmp_path)
    with pytest.raises(OverBudget, match=r"^the coloured film passed 0.001 MB, the most it may take; nothing written$"):
        colorize_film(source, target, model, limits=FilmLimits(max_bytes=1000))
    assert list(target.parent.iterdir()) == []
    assert colorize_film(source, target, model, limits=FilmLimits(max_bytes=10**7)).frames == 8


@pytest.mark.slow
def test_audio_the_container_cannot_hold_is_re_encoded_and_the_rest_of_the_batch_is_done(tmp_path):
    """Opus in a Matroska film named .avi: AVI cannot hold Opus, so the sound is re-encoded with one of
    AVI's codecs; the film keeps its frames, and the photo after it is coloured too."""
    folder = tmp_path / "reels"
    folder.mkdir()
    film(folder / "opus.webm", 6, codec="libvpx-vp9", audio_seconds=0.75).rename(folder / "opus.avi")
    assert streams(folder / "opus.avi") == (6, ["opus"])
    colour_photo(5, 40, 32).convert("L").save(folder / "photo.png")
    out = tmp_path / "out"
    result = colorize(folder, "-o", out, cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert summary(result)[:2] == (2, 0) and "1 film" in result.stdout
    frames, audio = streams(out / "opus.avi")
    assert frames == 6 and len(audio) == 1 and audio[0] != "opus", audio
    assert (out / "photo.png").is_file()
