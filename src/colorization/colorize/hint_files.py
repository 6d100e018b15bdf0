"""A photo's colour hints as a file (`colorize PHOTO --hints HINTS.json`, NAME.hints.json beside a photo,
and what the page saves and loads back):

    {"width": 1200, "height": 800,
     "points": [{"x": 310, "y": 95, "color": "#2f5fb0"}, {"x": 12.5, "y": 700, "color": "#b03020"}]}

`x`, `y`: a point in the photo's own pixel coordinates (upright, as the photo is shown; 0, 0 is the
top-left corner of the top-left pixel), `color`: `#rrggbb`. `width` and `height`, the size of the photo
the points were placed on, are optional; given, they must be the photo's. The network takes each
colour's a and b (CIE LAB); the lightness stays the photo's own. Every mistake is one line naming the
file and the entry, whatever the file holds (JSON nested past Python's recursion limit, numbers of
thousands of digits, lone surrogates: the values are shown escaped and shortened, `untrusted.shown`);
only a regular file is read, and no more of it than MAX_BYTES.
"""

import json
import math
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.color import rgb_to_lab
from ..core.errors import UserError
from ..core.files import atomic_path
from ..core.photo import open_image
from .untrusted import shown

SUFFIX = ".hints.json"
MAX_POINTS = 1000  # more is a mistake, not a photo's hints
MAX_BYTES = 1 << 20
ORIENTATION_TAG = 0x0112
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Hint:
    x: float
    y: float
    color: str  # "#rrggbb", lower case

    @property
    def ab(self) -> tuple[float, float]:
        """The colour's a and b, LAB units."""
        rgb = np.array([[[int(self.color[i : i + 2], 16) for i in (1, 3, 5)]]], dtype=np.uint8)
        lab = rgb_to_lab(rgb)[0, 0]
        return float(lab[1]), float(lab[2])

    def to_json(self) -> dict:
        return {"x": self.x, "y": self.y, "color": self.color}


def sidecar(photo: Path) -> Path:
    """Where a photo's hints are looked for in a folder run: NAME.hints.json beside it."""
    return photo.with_name(photo.stem + SUFFIX)


def _quoted(value) -> str:
    """A value from a hints file for a one-line message: as Python writes it, escaped and shortened."""
    return shown(repr(value))


def _is_pixel_number(value) -> bool:
    """Whether a JSON value is a number of pixels: an int or float, not a bool, finite as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int beyond a float's range
        return False


def parse(values, source: str, size: tuple[int, int] | None = None) -> list[Hint]:
    """The hints of a parsed hints file, checked (`size` = (width, height): the photo's); a UserError
    naming `source` and the entry otherwise."""
    if isinstance(values, list):
        values = {"points": values}
    if not isinstance(values, dict) or not isinstance(values.get("points"), list):
        raise UserError(
            f"{source}: must be an object with a list of points, as "
            '{"points": [{"x": 10, "y": 20, "color": "#2f5fb0"}]}'
        )
    unknown = sorted(set(values) - {"points", "width", "height"})
    if unknown:
        raise UserError(f"{source}: {shown(unknown[0])}: unknown key; allowed: points, width, height")
    points = values["points"]
    if len(points) > MAX_POINTS:
        raise UserError(f"{source}: points: {len(points)} points, more than the {MAX_POINTS} allowed")
    if size is not None:
        for key, length in zip(("width", "height"), size):
            given = values.get(key)
            if given is not None and given != length:
                raise UserError(
                    f"{source}: {key} = {_quoted(given)}: the hints were placed on another photo "
                    f"(this one's {key} is {length})"
                )
    hints = []
    for index, point in enumerate(points):
        where = f"{source}: points[{index}]"
        if not isinstance(point, dict) or set(point) != {"x", "y", "color"}:
            raise UserError(f"{where} = {_quoted(point)}: must be an object with x, y and color, nothing else")
        for key in ("x", "y"):
            value = point[key]
            if not _is_pixel_number(value):
                raise UserError(f"{where}.{key} = {_quoted(value)}: must be a number of pixels")
        colour = point["color"]
        if not isinstance(colour, str) or not _COLOUR.fullmatch(colour):
            raise UserError(f"{where}.color = {_quoted(colour)}: must be #rrggbb, as #2f5fb0")
        if size is not None:
            for key, length in zip(("x", "y"), size):
                if not 0 <= point[key] < length:
                    raise UserError(
                        f"{where}.{key} = {_quoted(point[key])}: outside the photo, whose "
                        f"{'width' if key == 'x' else 'height'} is {length} pixels"
                    )
        hints.append(Hint(float(point["x"]), float(point["y"]), colour.lower()))
    return hints


def loads(text: str, source: str, size: tuple[int, int] | None = None) -> list[Hint]:
    """The checked hints of a hints file's text (see `parse`); text that is not JSON, or JSON that Python
    will not read (nested past its recursion limit, an integer of more digits than it converts), is a
    UserError naming `source`."""
    try:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise UserError(f"{source}: not JSON ({error})") from None
        except ValueError:  # the only other one json raises: an integer past sys.get_int_max_str_digits()
            raise UserError(
                f"{source}: a number of more than {sys.get_int_max_str_digits()} digits: not a hints file"
            ) from None
        return parse(values, source, size)
    except RecursionError:  # in json, or in showing a deeply nested value
        raise UserError(f"{source}: nested too deeply to be a hints file") from None


def read(path: Path, size: tuple[int, int] | None = None) -> list[Hint]:
    """The checked hints of the file at `path` (see `parse`). Only a regular file is read (opened without
    blocking, so that a named pipe cannot hang it), and at most MAX_BYTES + 1 bytes of it, so that a
    device such as /dev/zero cannot fill the memory."""
    path = Path(path)
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY), "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise UserError(f"{path}: not a regular file")
            data = file.read(MAX_BYTES + 1)
    except OSError as error:
        raise UserError(f"{path}: cannot read it ({error.strerror or error})") from None
    if len(data) > MAX_BYTES:
        raise UserError(f"{path}: larger than {MAX_BYTES >> 20} MB: not a hints file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: cannot read it ({error})") from None
    return loads(text, str(path), size)


def write(path: Path, hints: list[Hint], size: tuple[int, int]) -> None:
    """Write hints for a photo of `size` = (width, height), via a temporary name."""
    document = {"width": size[0], "height": size[1], "points": [hint.to_json() for hint in hints]}
    with atomic_path(Path(path)) as temporary:
        Path(temporary).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def upright_size(photo: Path) -> tuple[int, int]:
    """(width, height) of a photo as shown, its EXIF orientation applied, from its header alone."""
    with open_image(photo) as image:
        width, height = image.size
        turned = image.getexif().get(ORIENTATION_TAG) in (5, 6, 7, 8)
    return (height, width) if turned else (width, height)


def network_points(hints: list[Hint]) -> list[tuple[float, float, float, float]]:
    """(x, y, a, b) of each hint, for `core.hints.from_points`."""
    return [(hint.x, hint.y, *hint.ab) for hint in hints]
