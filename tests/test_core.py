"""The shared core: the one photo decoder that training and `colorize` both use, the one folder walker,
the build-in-a-temporary-folder helper and the one error-to-exit-status path."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from colorization.colorize.photos import read_photo
from colorization.core.color import rgb_to_lab
from colorization.core.errors import UserError, run_main
from colorization.core.files import atomic_directory
from colorization.core.photo import IMAGE_SUFFIXES, decode, open_image, to_rgb, walk_files
from colorization.sources.inspection import inspect_image


def _decoded(image: Image.Image):
    decoded = decode(image)
    return decoded.image.mode, np.asarray(decoded.image), decoded.alpha


def test_sixteen_bit_grey_keeps_sixteen_bits_and_scales_to_eight_for_training():
    values = np.array([[0, 257, 65535, 1000]], dtype=np.uint16)
    image = Image.fromarray(values)
    mode, pixels, alpha = _decoded(image)
    assert mode == "I;16" and alpha is None and pixels.tolist() == values.tolist()
    assert np.asarray(to_rgb(image))[0, :, 0].tolist() == [0, 1, 255, 4]


@pytest.mark.parametrize(
    "mode,values,expected",
    [
        ("I", [0, 128, 255], [0, 128 * 257, 65535]),  # 32-bit integers in 8-bit range
        ("I", [0, 1000, 65535], [0, 1000, 65535]),  # ... in 16-bit range
        ("I", [0, 70000, 140000], [0, 32768, 65535]),  # ... beyond: scaled by the largest value
        ("F", [0.0, 0.5, 1.0], [0, 32768, 65535]),  # floats in 0-1
    ],
)
def test_wide_greyscale_is_scaled_never_clipped(mode, values, expected):
    image = Image.fromarray(np.array([values], dtype=np.int32 if mode == "I" else np.float32), mode)
    assert _decoded(image)[1][0].tolist() == expected


def test_alpha_is_kept_apart_and_training_sees_it_over_white():
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 1] = 200
    rgba[0, 0, 3] = 255
    image = Image.fromarray(rgba, "RGBA")
    mode, pixels, alpha = _decoded(image)
    assert mode == "RGB" and np.asarray(alpha).tolist() == [[255, 0], [0, 0]]
    assert np.asarray(to_rgb(image)).tolist() == [[[0, 200, 0], [255, 255, 255]], [[255, 255, 255], [255, 255, 255]]]


def test_grey_with_transparency_and_palettes_decode_like_their_colours():
    grey = Image.fromarray(np.array([[10, 20]], dtype=np.uint8), "L")
    grey.info["transparency"] = 20
    mode, pixels, alpha = _decoded(grey)
    assert mode == "L" and pixels.tolist() == [[10, 20]] and np.asarray(alpha).tolist() == [[255, 0]]
    palette = Image.new("P", (1, 1))
    palette.putpalette([30, 60, 90] * 256)
    assert _decoded(palette)[:2][0] == "RGB" and _decoded(palette)[1].tolist() == [[[30, 60, 90]]]


def test_training_and_colorize_read_the_same_lightness(tmp_path):
    """The same 16-bit scan: inspection (training) and colorize decode it with one decoder."""
    path = tmp_path / "scan.png"
    Image.fromarray(np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)).save(path)
    with open_image(path) as image:
        training_grey = np.asarray(to_rgb(image))[..., 0]
    photo = read_photo(path)
    assert photo.bits == 16 and photo.size == (8, 8)
    training_lightness = rgb_to_lab(np.repeat(training_grey[..., None], 3, axis=-1))[..., 0]
    # the same pixels: training's are rounded to 8 bits, half a level is under 0.3 L
    assert np.abs(training_lightness - photo.lightness).max() < 0.3
    assert inspect_image(path.read_bytes()).reason == "greyscale"


def test_the_walker_is_sorted_and_leaves_out_hidden_files_and_the_skipped_folder(tmp_path):
    for name in ("b/2.jpg", "a/1.png", ".hidden/x.jpg", "a/.y.jpg", "out/z.jpg", "notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [path.relative_to(tmp_path).as_posix() for path in walk_files(tmp_path, skip=tmp_path / "out")]
    assert found == ["notes.txt", "a/1.png", "b/2.jpg"]
    assert set(IMAGE_SUFFIXES) == {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def test_a_folder_is_replaced_only_when_built_whole(tmp_path):
    target = tmp_path / "data"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as building:
        (building / "new.txt").write_text("half")
        raise RuntimeError("killed")
    assert [path.name for path in tmp_path.iterdir()] == ["data"] and (target / "old.txt").exists()
    with atomic_directory(target) as building:
        (building / "new.txt").write_text("whole")
    assert [path.name for path in target.iterdir()] == ["new.txt"]
    assert not (tmp_path / "data.tmp").exists()


@pytest.mark.parametrize(
    "error,expected",
    [
        ("UserError('params.yaml: lr is missing')", "error: params.yaml: lr is missing"),
        ("PermissionError(13, 'Permission denied', '/out/x.jpg')", "error: Permission denied: /out/x.jpg"),
    ],
)
def test_stages_and_the_command_end_with_one_line_and_status_2(error, expected):
    code = (
        f"from colorization.core.errors import UserError, run_main\ndef main(argv):\n    raise {error}\nrun_main(main)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.strip() == expected


def test_the_status_main_returns_is_the_exit_status():
    with pytest.raises(SystemExit) as exited:
        run_main(lambda argv: 1)
    assert exited.value.code == 1
    with pytest.raises(SystemExit) as exited:
        run_main(lambda argv: None)
    assert exited.value.code == 0
    assert issubclass(UserError, Exception)
