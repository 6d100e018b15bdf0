"""The `colorize` command, run for real: a subprocess of the CLI on real files, with networks trained for a
few steps in the test and saved by models.saved.save into a project's models/<arch> folders."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from colorization.colorize.cli import plan_jobs
from colorization.core.color import rgb_to_lab
from colorization.core.errors import UserError
from colorization.evaluation.metrics import colorfulness
from colorization.models import create, saved
from colorization.models.saved import ModelConfig
from conftest import ONE_COLOUR, SHARED_DATA, encoded_batch, run

BW_PHOTOS = SHARED_DATA / "bw_photos"
IMAGE_SIZE = 32
SUMMARY = re.compile(r"^colorize: (\d+) done, (\d+) skipped(?: \(([^)]*)\))?(?:, ([\d.]+) s per image)?", re.M)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project folder whose models/resnet18 and models/cnn_v1 were trained for a few steps, towards a
    clearly visible colour so that the outputs have chroma."""
    root = tmp_path_factory.mktemp("project")
    batch = encoded_batch(4, IMAGE_SIZE, ONE_COLOUR)
    for arch, steps in (("resnet18", 10), ("cnn_v1", 2)):  # cnn_v1 only has to exist, for --compare
        network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0)
        for _ in range(steps):
            network.train_step(batch)
        saved.save(network, root / "models" / arch, ModelConfig(arch=arch, image_size=IMAGE_SIZE))
    return root


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
        assert compare.size == (3 * panel_width + 2 * 8, min(height, 768))  # input | resnet18 | cnn_v1


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
        np.testing.assert_array_equal(np.asarray(image)[..., 3], np.linspace(0, 255, 80).astype(np.uint8)[None].repeat(48, 0))

    stamps = {path: path.stat().st_mtime_ns for path in out.rglob("*.*")}
    kept = colorize(folder, "--output", out, "--model", model_file, cwd=tmp_path)
    assert summary(kept) == (0, len(expected) + 1, f"{len(expected)} already had an output, kept without --overwrite; "
                                                   "1 unreadable")
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*.*")} == stamps
    replaced = colorize(folder / "grey, scanned 1931.png", "--output", out, "--overwrite", "--model", model_file,
                        cwd=tmp_path)
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
@pytest.mark.parametrize("case", ["missing path", "not a model file", "no config", "planted model file",
                                  "architecture not trained"])
def test_a_model_that_is_not_ours_is_refused_with_one_line(case, project, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((16, 16), 90, dtype=np.uint8)).save(photo)
    planted_config = '{"arch": "resnet18", "image_size": 32}'
    model, expected = {
        "missing path": lambda: (tmp_path / "nowhere", "no such model directory or file"),
        "not a model file": lambda: (_plant(tmp_path / "m", {"weights.bin": "x"}) / "weights.bin",
                                     "not a model written by this project"),
        "no config": lambda: (_plant(tmp_path / "m", {"model.pt": "x"}), "no config.json"),
        "planted model file": lambda: (_plant(tmp_path / "m", {"config.json": planted_config, "model.pt": "not a tensor"}),
                                       "could not be loaded safely"),
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
    assert [(job.source.relative_to(tmp_path / "a"), job.output.relative_to(tmp_path / "a" / "out"),
             job.compare.name) for job in jobs] == [(Path("x.jpg"), Path("x.jpg"), "x.compare.jpg"),
                                                    (Path("sub dir/y, z.png"), Path("sub dir/y, z.png"), "y, z.compare.png")]
    assert ignored == 0
    with pytest.raises(UserError, match="would both be written to"):
        plan_jobs([str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg")], tmp_path / "out", compare=False)
    with pytest.raises(UserError, match="would replace an input"):
        plan_jobs([str(tmp_path / "b")], tmp_path / "b", compare=False)
    with pytest.raises(UserError, match="no images found"):
        plan_jobs([str(_plant(tmp_path / "empty", {"readme.txt": "no photos here"}))], tmp_path / "out", compare=False)
