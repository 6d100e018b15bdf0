"""The `colorize` command, run for real: a subprocess of the CLI on real files, with networks trained for a
few steps in the test and saved by models.saved.save into a project's models/<arch> folders."""

import re
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

from bench.workloads import panning_frames, read_film_lab, write_film
from colorization.colorize.jobs import plan_jobs
from colorization.colorize.render import load_model
from colorization.core.color import rgb_to_lab
from colorization.core.errors import UserError
from colorization.evaluation.metrics import colorfulness, flicker, warping_error
from conftest import SHARED_DATA, colorize_project, run
from photo_files import colour_photo

BW_PHOTOS = SHARED_DATA / "bw_photos"
SUMMARY = re.compile(r"^colorize: (\d+) done, (\d+) skipped(?: \(([^)]*)\))?(?:, ([\d.]+) s per image)?", re.M)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return colorize_project(tmp_path_factory.mktemp("project"), ("resnet18", "cnn_v1"))


def colorize(*args: str, cwd: Path):
    """Run the real command line in a subprocess."""
    return run([sys.executable, "-m", "colorization.colorize", *map(str, args)], cwd=cwd, check=False)


def summary(result) -> tuple[int, int, str]:
    match = SUMMARY.search(result.stdout)
    assert match, f"no summary line in {result.stdout!r}"
    return int(match[1]), int(match[2]), match[3] or ""


def lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L of an RGB array: uint8, or float in [0, 1]."""
    return rgb_to_lab(rgb)[..., 0]


def read_rgb(path: Path) -> np.ndarray:
    """An image file's pixels as the photo's author sees them: upright, RGB uint8."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:") or "Traceback" in line]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.slow
@pytest.mark.skipif(not BW_PHOTOS.is_dir(), reason=f"{BW_PHOTOS} (the shared old photos) is not here")
def test_old_photos_keep_their_size_and_lightness_and_gain_colour(project, tmp_path):
    out = tmp_path / "out"
    photos = sorted(BW_PHOTOS.iterdir())
    result = colorize(BW_PHOTOS, "--output", out, cwd=project)
    assert result.returncode == 0, result.stderr
    assert summary(result)[:2] == (len(photos), 0) and " s per image" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == [photo.name for photo in photos]
    for photo in photos:
        original, colour = read_rgb(photo), read_rgb(out / photo.name)
        assert colour.shape == original.shape
        error = np.abs(lightness(colour) - lightness(original))
        # JPEG (written at quality 100, 4:4:4) cannot store pixels exactly: a few edge pixels move by
        # just over 1 unit; lossless formats stay within 0.3 (see the generated-files test).
        assert error.mean() < 0.3 and np.quantile(error, 0.999) <= 1.0 and error.max() < 1.5, photo.name
        assert colorfulness(colour) > colorfulness(original) + 5, photo.name
    stamps = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    again = colorize(BW_PHOTOS, "--output", out, "--compare", cwd=project)
    assert again.returncode == 0, again.stderr
    assert summary(again)[:2] == (len(photos), 0)  # the comparisons were missing, so each photo counts
    assert {path.name: path.stat().st_mtime_ns for path in out.iterdir() if path.name in stamps} == stamps
    for photo in photos:
        height, width = read_rgb(photo).shape[:2]
        compare = Image.open(out / f"{photo.stem}.compare{photo.suffix}")
        panel_width = round(width * min(height, 768) / height)
        # input | objects (shipped, the default) | cnn_v1 | resnet18 | reference | reference_hints (shipped)
        assert compare.size == (6 * panel_width + 5 * 8, min(height, 768))


def _write_odd_files(folder: Path) -> dict[str, np.ndarray]:
    """Generate the awkward files of real archives; return each one's expected upright RGB (float, 0-1)."""
    rng = np.random.default_rng(1)
    ramp = np.add.outer(np.linspace(0, 200, 48), np.linspace(0, 55, 80))
    grey = np.clip(ramp + rng.integers(0, 3, ramp.shape), 0, 255).astype(np.uint8)
    grey_rgb = np.repeat(grey[..., None], 3, axis=-1)
    expected = {}
    (folder / "scans").mkdir(parents=True)
    Image.fromarray(grey).save(folder / "grey, scanned 1931.png")
    expected["grey, scanned 1931.png"] = grey_rgb / 255.0
    Image.fromarray(grey_rgb).save(folder / "equal channels.png")
    expected["equal channels.png"] = grey_rgb / 255.0
    sepia = np.clip(grey_rgb * np.array([1.0, 0.9, 0.72]) + np.array([12, 6, 0]), 0, 255).astype(np.uint8)
    Image.fromarray(sepia).save(folder / "scans" / "sepia tint.png")
    expected["scans/sepia tint.png"] = sepia / 255.0
    sixteen = (ramp * 255 + rng.integers(0, 200, ramp.shape)).astype(np.uint16)  # uses all 16 bits
    Image.fromarray(sixteen).save(folder / "scans" / "sixteen bit.png")
    assert Image.open(folder / "scans" / "sixteen bit.png").mode == "I;16"
    expected["scans/sixteen bit.png"] = np.repeat(sixteen[..., None], 3, axis=-1) / 65535.0
    alpha = np.linspace(0, 255, 80).astype(np.uint8)[None].repeat(48, axis=0)
    Image.fromarray(np.dstack([grey_rgb, alpha]), "RGBA").save(folder / "scans" / "with alpha.png")
    expected["scans/with alpha.png"] = grey_rgb / 255.0
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers turn it 90 degrees clockwise
    Image.fromarray(grey_rgb).save(folder / "rotated.jpg", exif=exif, quality=95)
    expected["rotated.jpg"] = read_rgb(folder / "rotated.jpg") / 255.0
    assert expected["rotated.jpg"].shape[:2] == (80, 48)
    (folder / "scans" / "not a photo.jpg").write_text("this is a text file with an image's name\n")
    (folder / "notes.txt").write_text("a file that is not an image at all\n")
    return expected


@pytest.mark.slow
def test_odd_files_of_a_folder_are_colorized_or_skipped_and_reported(project, tmp_path):
    folder, out = tmp_path / "family album", tmp_path / "out"
    expected = _write_odd_files(folder)
    model_file = project / "models" / "resnet18" / "model.pt"
    result = colorize(folder, "--output", out, "--model", model_file, cwd=tmp_path)
    assert result.returncode == 1, "an unreadable file makes the exit status 1: " + result.stderr
    assert summary(result)[:3] == (len(expected), 1, "1 unreadable")
    assert "1 non-image files ignored" in result.stdout
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
    assert skipped == [f"skipped {folder / 'scans' / 'not a photo.jpg'}: not an image file Pillow can read"]
    written = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    assert written == sorted(expected)
    for name, truth in expected.items():
        with Image.open(out / name) as image:
            assert image.size == (truth.shape[1], truth.shape[0]), name
            assert image.getexif().get(0x0112) in (None, 1), name
            colour = np.asarray(image.convert("RGB"))
        error = np.abs(lightness(colour) - lightness(truth))
        limit = 1.5 if name.endswith(".jpg") else 0.3  # JPEG is lossy; PNG keeps 8-bit rounding only
        assert error.max() < limit and error.mean() < 0.3, (name, error.max())
        assert colorfulness(colour) > 5, name
    with Image.open(out / "scans" / "with alpha.png") as image:
        assert image.mode == "RGBA"
        np.testing.assert_array_equal(
            np.asarray(image)[..., 3], np.linspace(0, 255, 80).astype(np.uint8)[None].repeat(48, 0)
        )

    stamps = {path: path.stat().st_mtime_ns for path in out.rglob("*.*")}
    kept = colorize(folder, "--output", out, "--model", model_file, cwd=tmp_path)
    assert summary(kept) == (
        0,
        len(expected) + 1,
        f"{len(expected)} already had an output, kept without --overwrite; 1 unreadable",
    )
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*.*")} == stamps
    replaced = colorize(
        folder / "grey, scanned 1931.png", "--output", out, "--overwrite", "--model", model_file, cwd=tmp_path
    )
    assert replaced.returncode == 0 and summary(replaced)[:2] == (1, 0)
    assert (out / "grey, scanned 1931.png").stat().st_mtime_ns > stamps[out / "grey, scanned 1931.png"]


@pytest.mark.slow
def test_missing_input_is_a_one_line_error_and_writes_nothing(project, tmp_path):
    result = colorize(tmp_path / "no such photo.jpg", "--output", tmp_path / "out", cwd=project)
    assert_one_line_error(result, "no such photo.jpg", "no such file or folder")
    assert not (tmp_path / "out").exists()


def _plant(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["missing path", "not a model file", "no config", "planted model file", "architecture not trained"]
)
def test_a_model_that_is_not_ours_is_refused_with_one_line(case, project, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((16, 16), 90, dtype=np.uint8)).save(photo)
    planted_config = '{"arch": "resnet18", "image_size": 32}'
    model, expected = {
        "missing path": lambda: (tmp_path / "nowhere", "no such model directory or file"),
        "not a model file": lambda: (
            _plant(tmp_path / "m", {"weights.bin": "x"}) / "weights.bin",
            "not a model written by this project",
        ),
        "no config": lambda: (_plant(tmp_path / "m", {"model.pt": "x"}), "no config.json"),
        "planted model file": lambda: (
            _plant(tmp_path / "m", {"config.json": planted_config, "model.pt": "not a tensor"}),
            "could not be loaded safely",
        ),
        "architecture not trained": lambda: ("cnn_v2", "dvc repro train@cnn_v2"),
    }[case]()
    result = colorize(photo, "--output", tmp_path / "out", "--model", model, cwd=project)
    assert_one_line_error(result, expected)
    assert not (tmp_path / "out").exists()


def test_outputs_mirror_folders_and_never_replace_inputs(tmp_path):
    for folder in ("a", "b", "a/out"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    for name in ("a/x.jpg", "a/sub dir/y, z.png", "b/x.jpg", "a/out/old.jpg", "a/.hidden.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    jobs, ignored = plan_jobs([str(tmp_path / "a")], tmp_path / "a" / "out", compare=True)
    assert [
        (job.source.relative_to(tmp_path / "a"), job.output.relative_to(tmp_path / "a" / "out"), job.compare.name)
        for job in jobs
    ] == [
        (Path("x.jpg"), Path("x.jpg"), "x.compare.jpg"),
        (Path("sub dir/y, z.png"), Path("sub dir/y, z.png"), "y, z.compare.png"),
    ]
    assert ignored == 0
    with pytest.raises(UserError, match="would both be written to"):
        plan_jobs([str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg")], tmp_path / "out", compare=False)
    with pytest.raises(UserError, match="would replace an input"):
        plan_jobs([str(tmp_path / "b")], tmp_path / "b", compare=False)
    with pytest.raises(UserError, match="no photos or films found"):
        plan_jobs([str(_plant(tmp_path / "empty", {"readme.txt": "no photos here"}))], tmp_path / "out", compare=False)


@pytest.mark.slow
@pytest.mark.parametrize("width, height, render_size", [(240, 120, None), (40, 320, "64")])
def test_the_network_sees_the_photo_at_its_own_shape(project, tmp_path, width, height, render_size):
    """A 2:1 and a 1:8 photo: the network sees its lightness at the same aspect ratio, short side at the
    render size rounded to ResNet18's multiple of 8; the output keeps the input's size and lightness."""
    model = load_model("resnet18", project)
    assert model.network_shape((width, height)) == ((64, 32) if width > height else (32, 256))
    assert model.network_shape((width, height), render_size=50) == ((96, 48) if width > height else (48, 384))
    assert model.network_shape((width, height), square=True) == (32, 32)
    rng = np.random.default_rng(0)
    grey = np.clip(
        np.add.outer(np.linspace(40, 200, height), np.linspace(0, 40, width)) + rng.normal(0, 4, (height, width)),
        0,
        255,
    ).astype(np.uint8)
    grey_lightness = lightness(np.repeat(grey[..., None], 3, -1))
    small = model.network_lightness(grey_lightness, render_size=50)
    assert small.shape == ((48, 96) if width > height else (384, 48))
    assert model.predict(small).shape == (*small.shape, 2)
    photo = tmp_path / "tall or wide.png"
    Image.fromarray(grey).save(photo)
    result = colorize(
        photo, "--output", tmp_path / "out", *(["--render-size", render_size] if render_size else []), cwd=project
    )
    assert result.returncode == 0, result.stderr
    colour = read_rgb(tmp_path / "out" / photo.name)
    assert colour.shape[:2] == (height, width)
    assert np.abs(lightness(colour) - grey_lightness).max() < 0.3
    assert colorfulness(colour) > 5
    if render_size is None:
        refused = colorize(photo, "--output", tmp_path / "none", "--render-size", "4", cwd=project)
        assert_one_line_error(refused, "--render-size 4", "from 8 to")
        assert not (tmp_path / "none").exists()


@pytest.fixture(scope="module")
def film_project(tmp_path_factory) -> Path:
    """A project whose models/unet is a freshly initialised U-Net: its colours jump with the film's exposure
    flicker, as a network's per-frame guesses do, and stay within the sRGB gamut (a test network trained
    for a few steps towards one colour overshoots it, and then the gamut limit, not the network,
    decides how the colours of a flickering frame change)."""
    return colorize_project(tmp_path_factory.mktemp("film project"), ("unet",), steps=0)


def _grey_film(
    path: Path,
    frames: int = 24,
    size: tuple[int, int] = (96, 64),
    fps: int = 12,
    codec: str = "libx264",
    pixel_format: str = "yuv420p",
    audio: bool = True,
    faststart: bool = False,
) -> int:
    """A grey film of two shots (a cut half-way) with old film's exposure flicker, gate weave and grain,
    and a stereo tone."""
    photos = [np.asarray(colour_photo(seed, 160, 120)) for seed in (3, 4)]
    shots = panning_frames(photos, frames // 2, size, grain=2.0, exposure=0.1, speeds=(1,))
    return write_film(
        path, (grey for _, grey in shots), fps, codec, frames / fps if audio else None, pixel_format, faststart
    )


def _film_facts(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        facts = {
            "size": (video.codec_context.width, video.codec_context.height),
            "rate": video.average_rate,
            "frames": sum(1 for _ in container.decode(video=0)),
        }
    with av.open(str(path)) as container:
        facts["audio"] = [
            (stream.codec_context.name, stream.rate, stream.channels) for stream in container.streams.audio
        ]
        facts["audio_packets"] = sum(1 for packet in container.demux(audio=0) if packet.size) if facts["audio"] else 0
    return facts


@pytest.mark.slow
def test_a_film_keeps_its_frames_timing_and_sound_and_smoothing_lowers_flicker(film_project, tmp_path):
    film = tmp_path / "old film.mp4"
    assert _grey_film(film) == 24
    out, steady = tmp_path / "out", tmp_path / "steady"
    single = colorize(film, "--output", out, "--smoothing", "0", "--model", "unet", cwd=film_project)
    assert single.returncode == 0, single.stderr
    assert summary(single)[:2] == (1, 0) and "1 film" in single.stdout
    assert re.search(r"24 frames at [\d.]+ frames/s, 1 scene cuts", single.stderr), single.stderr
    assert "frame/s" in single.stderr  # the progress bar
    smoothed = colorize(film, "--output", steady, "--model", "unet", cwd=film_project)
    assert smoothed.returncode == 0, smoothed.stderr
    source = _film_facts(film)
    for result in (out / film.name, steady / film.name):
        assert _film_facts(result) == source
    lightness_in, _ = read_film_lab(film)
    lightness_out, ab_single = read_film_lab(out / film.name)
    _, ab_smoothed = read_film_lab(steady / film.name)
    # Lossy video: the colours go through H.264's 4:2:0 chroma and back.
    assert np.mean([np.abs(a - b).mean() for a, b in zip(lightness_in, lightness_out)]) < 2.0
    assert np.mean([np.hypot(*ab.reshape(-1, 2).T).mean() for ab in ab_single]) > 5  # it has colour
    flicker_single, pairs = flicker(lightness_in, ab_single, still=6.0)  # exposure flicker is still the same picture
    flicker_smoothed, _ = flicker(lightness_in, ab_smoothed, still=6.0)
    assert pairs >= 10 and flicker_smoothed < flicker_single, (flicker_single, flicker_smoothed)
    # Colour that does not follow the picture, within each of the two shots (a cut is not flicker).
    warped_single, warped_smoothed = (
        np.mean([warping_error(lightness_in[shot], ab[shot]) for shot in (slice(0, 12), slice(12, 24))])
        for ab in (ab_single, ab_smoothed)
    )
    assert warped_smoothed < 0.7 * warped_single, (warped_single, warped_smoothed)


@pytest.mark.slow
def test_common_containers_and_codecs_are_read_and_written_alike(film_project, tmp_path):
    films = {
        "reel.avi": ("mjpeg", "yuvj420p"),
        "reel.mov": ("libx264", "yuv420p"),
        "reel.webm": ("libvpx-vp9", "yuv420p"),
        "odd size.mkv": ("libx264", "yuv444p"),
    }
    (tmp_path / "reels").mkdir()
    for name, (codec, pixel_format) in films.items():
        size = (75, 49) if name.startswith("odd") else (64, 48)
        _grey_film(
            tmp_path / "reels" / name,
            frames=8,
            size=size,
            codec=codec,
            pixel_format=pixel_format,
            audio=name != "reel.avi",
        )
    result = colorize(tmp_path / "reels", "--output", tmp_path / "out", "--model", "unet", cwd=film_project)
    assert result.returncode == 0, result.stderr
    assert summary(result)[:2] == (4, 0)
    for name in films:
        assert _film_facts(tmp_path / "out" / name) == _film_facts(tmp_path / "reels" / name), name


@pytest.mark.slow
def test_a_damaged_or_truncated_film_is_one_line_and_writes_nothing(film_project, tmp_path):
    films = tmp_path / "films"
    films.mkdir()
    for name, faststart in (("index first.mp4", True), ("index last.mp4", False)):
        _grey_film(tmp_path / name, frames=24, faststart=faststart)
        data = (tmp_path / name).read_bytes()
        (films / name).write_bytes(data[: len(data) * 2 // 3])  # a download cut short
    (films / "not a film.mp4").write_text("a text file with a film's name\n")
    out = tmp_path / "out"
    result = colorize(films, "--output", out, "--model", "unet", cwd=film_project)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    skipped = sorted(line for line in result.stderr.splitlines() if line.startswith("skipped"))
    assert len(skipped) == 3, result.stderr
    assert re.fullmatch(
        r"skipped .*index first\.mp4: (truncated film: \d+ of its 24 frames could be decoded|"
        r"damaged film: .* after \d+ frames); nothing written",
        skipped[0],
    ), skipped[0]
    assert re.fullmatch(r"skipped .*index last\.mp4: not a film FFmpeg can read \(.*\)", skipped[1]), skipped[1]
    assert re.fullmatch(r"skipped .*not a film\.mp4: not a film FFmpeg can read \(.*\)", skipped[2]), skipped[2]
    assert not out.exists() or not any(path.is_file() for path in out.rglob("*"))


def _skipped(result) -> list[str]:
    """The one-line reports of skipped files, sorted."""
    return sorted(line for line in result.stderr.splitlines() if line.startswith("skipped"))


@pytest.mark.slow
def test_symlink_loops_dangling_links_and_damaged_photos_are_each_one_line_and_the_rest_is_done(project, tmp_path):
    """A symlink loop or a link to a deleted file cannot be read, which is said with the system's reason,
    apart from a damaged photo; the other files are colorized (a PNG named .bmp too: read by its
    content) and the exit status is 1."""
    folder, out = tmp_path / "album", tmp_path / "out"
    folder.mkdir()
    colour_photo(5, 40, 32).convert("L").save(folder / "ok.jpg")
    colour_photo(6, 40, 32).convert("L").save(folder / "png inside.bmp", format="PNG")
    (folder / "a.jpg").symlink_to("b.jpg")
    (folder / "b.jpg").symlink_to("a.jpg")
    (folder / "gone.jpg").symlink_to("deleted.jpg")
    (folder / "damaged.jpg").write_bytes((folder / "ok.jpg").read_bytes()[:400])
    result = colorize(folder, "--output", out, cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert summary(result) == (2, 4, "4 unreadable")
    skipped = _skipped(result)
    assert skipped[:2] + skipped[3:] == [
        f"skipped {folder / 'a.jpg'}: cannot read it: Too many levels of symbolic links",
        f"skipped {folder / 'b.jpg'}: cannot read it: Too many levels of symbolic links",
        f"skipped {folder / 'gone.jpg'}: cannot read it: No such file or directory",
    ], skipped
    assert skipped[2].startswith(f"skipped {folder / 'damaged.jpg'}: damaged or unsupported image ("), skipped[2]
    assert sorted(path.name for path in out.iterdir()) == ["ok.jpg", "png inside.bmp"]


@pytest.mark.slow
def test_a_photo_without_read_permission_is_one_line_and_the_rest_is_done(project, tmp_path):
    """Mode 000 stops a user reading a file but not root, so as root the command runs under setpriv
    without the two capabilities that let root read any file."""
    import os
    import shutil

    folder, out = tmp_path / "album", tmp_path / "out"
    folder.mkdir()
    colour_photo(5, 40, 32).convert("L").save(folder / "ok.jpg")
    (folder / "locked.jpg").write_bytes((folder / "ok.jpg").read_bytes())
    (folder / "locked.jpg").chmod(0)
    unprivileged = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root reads a file of mode 000, and setpriv (util-linux), which drops that, is missing")
        unprivileged = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    result = run(
        [*unprivileged, sys.executable, "-m", "colorization.colorize", str(folder), "--output", str(out)],
        cwd=project,
        check=False,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert summary(result) == (1, 1, "1 unreadable")
    assert _skipped(result) == [f"skipped {folder / 'locked.jpg'}: cannot read it: Permission denied"]
    assert [path.name for path in out.iterdir()] == ["ok.jpg"]


@pytest.mark.slow
def test_a_photo_named_as_a_film_or_a_film_named_as_a_photo_is_refused_in_one_line(project, tmp_path):
    """Files are judged by their content: a JPEG named .mp4 and an MP4 named .png are each refused with
    what they really are; the real film and photo beside them are colorized."""
    folder, out = tmp_path / "reels", tmp_path / "out"
    folder.mkdir()
    _grey_film(folder / "reel.mp4", frames=8, size=(64, 48), audio=False)
    (folder / "reel in disguise.png").write_bytes((folder / "reel.mp4").read_bytes())
    colour_photo(5, 40, 32).convert("L").save(folder / "photo.jpg")
    (folder / "photo in disguise.mp4").write_bytes((folder / "photo.jpg").read_bytes())
    result = colorize(folder, "--output", out, cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert summary(result) == (2, 2, "2 unreadable") and "1 film" in result.stdout
    assert _skipped(result) == [
        f"skipped {folder / 'photo in disguise.mp4'}: a JPEG photo, not a film: rename it .jpg to colorize it",
        f"skipped {folder / 'reel in disguise.png'}: a film (MP4), not a photo: rename it .mp4 to colorize it",
    ]
    assert sorted(path.name for path in out.iterdir()) == ["photo.jpg", "reel.mp4"]


@pytest.mark.slow
def test_compare_with_a_keras_model_prints_no_tensorflow_start_up_lines(project, tmp_path):
    """--compare loads cnn_v1, a Keras model, which starts TensorFlow: its oneDNN and CUDA lines stay off
    the user's terminal."""
    photo = tmp_path / "photo.png"
    colour_photo(5, 40, 32).convert("L").save(photo)
    result = colorize(photo, "--output", tmp_path / "out", "--compare", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == []
    with Image.open(tmp_path / "out" / "photo.compare.png") as compare:
        assert compare.size == (6 * 40 + 5 * 8, 32)  # input | objects | cnn_v1 | resnet18 | reference, reference_hints
