"""Colour hints (Zhang et al. 2017): simulated in training as the paper does, seeded and inside the image;
revealed from the truth for evaluation; a person's points from a file, checked entry by entry; a network
trained with hints pulls the colour near a hint towards it; `colorize --hints` and NAME.hints.json."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.workloads import panning_frames, write_film
from colorization.colorize import hint_files
from colorization.colorize.untrusted import shown
from colorization.core import hints
from colorization.core.color import rgb_to_lab
from colorization.core.errors import UserError
from colorization.engines import create
from colorization.models import ModelSpec, saved
from conftest import colorize_project, hint_model, run
from photo_files import colour_photo

BLUE, ORANGE = "#2050d0", "#d07020"


def ramps(batch: int, height: int, width: int) -> np.ndarray:
    """ab/128 whose a is the row and b the column (/128): a square's mean is its centre's value."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32) / 128
    return np.broadcast_to(np.stack([rows, columns], -1), (batch, height, width, 2)).copy()


def test_simulated_hints_are_seeded_inside_the_image_and_the_truths_means():
    ab = ramps(4000, 16, 24)
    first, again = hints.simulate(ab, np.random.default_rng(5)), hints.simulate(ab, np.random.default_rng(5))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, hints.simulate(ab, np.random.default_rng(6)))
    mask = first[..., 2]
    assert set(np.unique(mask)) == {0.0, 1.0} and np.all(first[..., :2][mask == 0] == 0)
    # every hinted pixel holds the mean of a square of side <= 9 around it: within 4 steps of its own truth
    assert np.abs(first[..., :2] - ab)[mask == 1].max() <= 4 / 128 + 1e-6
    without = np.mean(mask.sum(axis=(1, 2)) == 0)
    assert 0.10 < without < 0.15, f"{without:.3f} of images without hints; the geometric distribution gives 1/8"
    rows, columns = np.nonzero(mask.sum(axis=0))
    weights = mask.sum(axis=0)[rows, columns]
    # placed around the centre
    assert abs(np.average(rows, weights=weights) - 7.5) < 0.5 and abs(np.average(columns, weights=weights) - 11.5) < 0.5


def test_evaluation_points_are_seeded_nested_and_inside():
    corners = hints.positions(np.random.default_rng(1), 3, 20, 16, 24)
    assert np.array_equal(corners, hints.positions(np.random.default_rng(1), 3, 20, 16, 24))
    assert corners[..., 0].max() <= 16 - hints.POINT_SIDE and corners[..., 1].max() <= 24 - hints.POINT_SIDE
    assert corners.min() >= 0
    ab = ramps(3, 16, 24)
    five, twenty = hints.reveal(ab, corners[:, :5]), hints.reveal(ab, corners[:, :20])
    assert np.all(twenty[..., 2][five[..., 2] == 1] == 1)
    assert (five[..., 2].sum(axis=(1, 2)) <= 5 * hints.POINT_SIDE**2).all()
    assert np.abs(twenty[..., :2] - ab)[twenty[..., 2] == 1].max() <= 1 / 128 + 1e-6


def test_a_persons_points_land_where_they_were_placed():
    """Photo pixels map to the network's input at its own scale, corners to corners."""
    placed = hints.from_points([(0, 0, 40.0, -20.0), (1199.9, 799, -30.0, 50.0)], (1200, 800), (48, 32))
    assert placed.shape == (1, 32, 48, 3)
    assert np.allclose(placed[0, :3, :3, :2], (40 / 128, -20 / 128)) and placed[0, :3, :3, 2].all()
    assert np.allclose(placed[0, -3:, -3:, :2], (-30 / 128, 50 / 128)) and placed[0, -3:, -3:, 2].all()
    assert placed[..., 2].sum() == 2 * 9


def good_hints(width: int = 120, height: int = 80) -> dict:
    return {
        "width": width,
        "height": height,
        "points": [{"x": 60, "y": 40.5, "color": BLUE}, {"x": 0, "y": 79, "color": "#FFAA00"}],
    }


def test_a_hints_file_is_read_and_every_mistake_names_its_entry(tmp_path):
    path = tmp_path / "photo.hints.json"
    path.write_text(json.dumps(good_hints()))
    read = hint_files.read(path, (120, 80))
    assert [(hint.x, hint.y, hint.color) for hint in read] == [(60.0, 40.5, BLUE), (0.0, 79.0, "#ffaa00")]
    a, b = read[0].ab
    assert b < -40 and abs(a) < 40  # blue
    written = tmp_path / "again.hints.json"
    hint_files.write(written, read, (120, 80))
    assert hint_files.read(written, (120, 80)) == read
    cases = {
        "outside": (
            {"points": [{"x": 120, "y": 3, "color": BLUE}]},
            "points[0].x = 120: outside the photo, whose width is 120",
        ),
        "negative": ({"points": [{"x": 3, "y": -1, "color": BLUE}]}, "points[0].y = -1: outside the photo"),
        "colour name": ({"points": [{"x": 3, "y": 3, "color": "red"}]}, "points[0].color = 'red': must be #rrggbb"),
        "short colour": (
            {"points": [{"x": 1, "y": 1, "color": BLUE}, {"x": 3, "y": 3, "color": "#abc"}]},
            "points[1].color",
        ),
        "text position": ({"points": [{"x": "3", "y": 3, "color": BLUE}]}, "points[0].x = '3': must be a number"),
        "missing colour": (
            {"points": [{"x": 3, "y": 3}]},
            "points[0] = {'x': 3, 'y': 3}: must be an object with x, y and color",
        ),
        "another photo": ({"width": 640, "points": []}, "width = 640: the hints were placed on another photo"),
        "unknown key": ({"points": [], "colour": 1}, "colour: unknown key"),
        "no points": ({"hints": []}, "must be an object with a list of points"),
    }
    for case, (document, message) in cases.items():
        path.write_text(json.dumps(document))
        with pytest.raises(UserError) as error:
            hint_files.read(path, (120, 80))
        assert message in str(error.value) and str(path) in str(error.value), case
        assert "\n" not in str(error.value)
    path.write_text('{"points": [')
    with pytest.raises(UserError, match="not JSON"):
        hint_files.read(path, (120, 80))


def test_hints_are_an_option_of_the_architectures_that_read_them():
    with pytest.raises(
        UserError, match="architecture cnn_v1 has no hint input; architectures that do: resnet18, lite0_unet, unet"
    ):
        ModelSpec.parse("m", {"arch": "cnn_v1", "hints": True}, "params.yaml", "models.m")
    shipped = "objects, reference, reference_hints"
    with pytest.raises(UserError, match=f"init = 'nothing': no such shipped model; shipped: {shipped}"):
        ModelSpec.parse("m", {"arch": "resnet18", "init": "nothing"}, "params.yaml", "models.m")
    spec = ModelSpec.parse("m", {"arch": "resnet18", "hints": True, "init": "reference"}, "params.yaml", "models.m")
    assert spec.build_options == {"hints": True} and spec.init_directory.name == "reference"


def test_a_training_starts_from_a_saved_model_and_its_hint_channels_start_at_zero(tmp_path):
    plain = create("resnet18", lr=0.01, l_mean=0.5, l_std=0.29, seed=3)
    saved.save(plain, tmp_path / "plain", ModelSpec(name="plain", arch="resnet18", image_size=16))
    started = create("resnet18", 0.01, 0.5, 0.29, seed=4, options={"hints": True}, init=tmp_path / "plain")
    l_input = np.random.default_rng(0).uniform(0, 1, (2, 16, 24, 1)).astype(np.float32)
    assert np.allclose(started.predict(l_input), plain.predict(l_input), atol=1e-5)
    other = create("unet", lr=0.01, l_mean=0.5, l_std=0.29, seed=3)
    saved.save(other, tmp_path / "unet", ModelSpec(name="unet", arch="unet", image_size=16))
    with pytest.raises(UserError, match=r"init: .*unet is no starting point for this model"):
        create("resnet18", 0.01, 0.5, 0.29, seed=4, init=tmp_path / "unet")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = colorize_project(tmp_path_factory.mktemp("hints project"), ("resnet18",))
    hint_model(root / "models" / "hinted")
    return root


def ab_near(rgb: np.ndarray, x: int, y: int, radius: int = 4) -> np.ndarray:
    return rgb_to_lab(rgb[y - radius : y + radius + 1, x - radius : x + radius + 1])[..., 1:].reshape(-1, 2).mean(0)


def test_a_hint_pulls_the_colour_near_it_towards_the_hint(project):
    """The tiny trained model, told blue and then orange at one point: near it the colour moves towards
    each, from where it was without hints."""
    network, _ = saved.load(project / "models" / "hinted")
    l_input = np.asarray(colour_photo(3, 32, 32).convert("L"), dtype=np.float32)[None, :, :, None] / 255
    plain = network.predict(l_input)[0]
    near = (slice(12, 20), slice(12, 20))
    for colour in (BLUE, ORANGE):
        a, b = hint_files.Hint(16, 16, colour).ab
        told = network.predict(l_input, hints.from_points([(16, 16, a, b)], (32, 32), (32, 32)))[0]
        target = np.array([a, b]) / 128
        before = np.linalg.norm(plain[near] - target, axis=-1).mean()
        after = np.linalg.norm(told[near] - target, axis=-1).mean()
        assert after < before - 5 / 128, f"{colour}: {before * 128:.1f} -> {after * 128:.1f} ab units from the hint"


def colorize(*args, cwd: Path):
    return run([sys.executable, "-m", "colorization.colorize", *map(str, args)], cwd=cwd, check=False)


def one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:") or "Traceback" in line]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_colorize_takes_hints_from_a_file_or_beside_each_photo(project, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    colour_photo(8, 120, 80).convert("L").save(photos / "street.png")
    colour_photo(9, 120, 80).convert("L").save(photos / "other.png")
    hints_file = tmp_path / "blue.json"
    hints_file.write_text(json.dumps({"points": [{"x": 60, "y": 40, "color": BLUE}]}))
    plain = colorize(photos / "street.png", "-o", tmp_path / "plain", "--model", "hinted", cwd=project)
    assert plain.returncode == 0, plain.stderr
    told = colorize(
        photos / "street.png", "--hints", hints_file, "-o", tmp_path / "told", "--model", "hinted", cwd=project
    )
    assert told.returncode == 0, told.stderr
    target = np.array(hint_files.Hint(60, 40, BLUE).ab)
    before = np.linalg.norm(ab_near(read_rgb(tmp_path / "plain" / "street.png"), 60, 40) - target)
    after = np.linalg.norm(ab_near(read_rgb(tmp_path / "told" / "street.png"), 60, 40) - target)
    assert after < before - 5, (before, after)

    (photos / "street.hints.json").write_text(hints_file.read_text())
    folder = colorize(photos, "-o", tmp_path / "folder", "--model", "hinted", cwd=project)
    assert folder.returncode == 0 and "2 done, 0 skipped" in folder.stdout and "ignored" not in folder.stdout
    assert np.array_equal(read_rgb(tmp_path / "folder" / "street.png"), read_rgb(tmp_path / "told" / "street.png"))
    assert (tmp_path / "folder" / "other.png").is_file() and not (tmp_path / "folder" / "street.hints.json").exists()


def test_bad_hints_are_one_line_and_nothing_is_written(project, tmp_path):
    photo = tmp_path / "street.png"
    colour_photo(8, 120, 80).convert("L").save(photo)
    cases = {
        "outside": (
            {"points": [{"x": 500, "y": 40, "color": BLUE}]},
            "points[0].x = 500: outside the photo, whose width is 120",
        ),
        "colour": ({"points": [{"x": 5, "y": 4, "color": "blue"}]}, "points[0].color = 'blue': must be #rrggbb"),
        "malformed": ("{'points': ", "not JSON"),
    }
    for case, (document, message) in cases.items():
        path = tmp_path / f"{case}.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        result = colorize(photo, "--hints", path, "-o", tmp_path / case, "--model", "hinted", cwd=project)
        one_line_error(result, str(path), message)
        assert not (tmp_path / case).exists() or not any((tmp_path / case).iterdir()), case
    # a sidecar is checked before any photo of the folder is written
    folder = tmp_path / "folder"
    folder.mkdir()
    colour_photo(1, 64, 48).convert("L").save(folder / "a.png")
    colour_photo(2, 64, 48).convert("L").save(folder / "b.png")
    (folder / "b.hints.json").write_text(json.dumps({"points": [{"x": 64, "y": 1, "color": BLUE}]}))
    result = colorize(folder, "-o", tmp_path / "folder out", "--model", "hinted", cwd=project)
    one_line_error(result, "b.hints.json: points[0].x = 64: outside the photo")
    assert not (tmp_path / "folder out").exists()
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"points": [{"x": 5, "y": 4, "color": BLUE}]}))
    one_line_error(
        colorize(photo, "--hints", good, "-o", tmp_path / "m", "--model", "resnet18", cwd=project),
        "--model resnet18 takes no colour hints",
    )
    one_line_error(
        colorize(folder, "--hints", good, "-o", tmp_path / "f", "--model", "hinted", cwd=project),
        "hints belong to one photo",
    )
    film = tmp_path / "film.mp4"
    write_film(film, (grey for _, grey in panning_frames([np.asarray(colour_photo(4, 96, 64))], 4, (64, 48))), fps=8)
    one_line_error(
        colorize(film, "--hints", good, "-o", tmp_path / "film out", "--model", "hinted", cwd=project),
        "films take no colour hints for now",
    )
    assert not (tmp_path / "film out").exists()


@pytest.fixture(scope="module")
def val_shards(tmp_path_factory):
    from colorization.core.params import DataParams
    from colorization.lab.meta import open_prepared
    from colorization.lab.prepare import prepare
    from colorization.sources import download

    root = tmp_path_factory.mktemp("hint evaluation")
    download(DataParams("sample", 24, 32, 0.5, 16), 0, root / "raw")
    prepare(root / "raw", root / "lab", image_size=32, val_fraction=0.5, shard_size=16, seed=0, workers=1)
    return open_prepared(root / "lab").val


def test_quality_against_points_is_measured_for_every_count_and_a_hint_blind_model_scores_the_same(
    val_shards, project, tmp_path
):
    from colorization.evaluation.hints import POINTS, hint_metrics
    from colorization.evaluation.metrics import evaluate

    plain = create("resnet18", lr=0.01, l_mean=0.5, l_std=0.29, seed=3)
    saved.save(plain, tmp_path / "plain", ModelSpec(name="plain", arch="resnet18", image_size=32))
    blind = create("resnet18", 0.01, 0.5, 0.29, seed=4, options={"hints": True}, init=tmp_path / "plain")
    no_hints = evaluate(blind.predict, val_shards, 8)
    rows, locality = hint_metrics(blind.predict, val_shards, 8, no_hints)
    assert [row["points"] for row in rows] == list(POINTS)
    for row in rows:
        assert row["psnr"] == pytest.approx(rows[0]["psnr"], abs=1e-3)
    assert locality["near_change"] == pytest.approx(0, abs=1e-3) and locality["far_change"] == pytest.approx(
        0, abs=1e-3
    )

    told, _ = saved.load(project / "models" / "hinted")
    no_hints = evaluate(told.predict, val_shards, 8)
    rows, locality = hint_metrics(told.predict, val_shards, 8, no_hints)
    assert rows[-1]["psnr"] > rows[0]["psnr"]
    assert locality["near_change"] > 2 * locality["far_change"]
    assert locality["near_distance_to_hint_after"] < locality["near_distance_to_hint_before"]


def test_shown_text_can_neither_forge_a_line_nor_move_the_cursor_and_always_encodes():
    hostile = "x\x1b[31mRED\x1b[0m\nfake line\u202egpj\u2028\x7f\x9b\ud800 é"
    text = shown(hostile, 200)
    assert text == "x\\x1b[31mRED\\x1b[0m\\nfake line\\u202egpj\\u2028\\x7f\\x9b\\ud800 é"
    assert text.isprintable() and text.encode("utf-8")
    assert shown("a" * 100, 10) == "a" * 10 + "..." and shown(10**30) == str(10**30)
