"""Users' photographs for `colorize`: read one upright as its CIE L at full resolution, write the result.

Reading decodes with `core.photo.decode`, as training does, so it accepts what old-photo scans come as:
greyscale (8 or 16 bits), RGB whose channels are equal, tinted (sepia) RGB, palette images, alpha
channels, EXIF orientation. Only the lightness L is kept (D65, pixel values taken as sRGB; an embedded
colour profile is not applied), computed with the same rgb2lab as the training data: greyscale through
a lookup table of every grey level, RGB in strips of rows, in float32. 16-bit colour files are decoded
at 8 bits by Pillow; 16-bit greyscale keeps all 16.

Writing uses the input's format, chosen by its extension, always 8 bits per channel (a 16-bit input
gives an 8-bit output): JPEG at quality 100 without chroma subsampling, PNG, TIFF (LZW), BMP and
lossless WebP, so the lightness survives the file format. Alpha, EXIF data (the orientation reset,
since the pixels are upright) and DPI are carried over where the format stores them.
"""

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..core.color import lightness_of_rgb, rgb_to_lab
from ..core.files import atomic_path
from ..core.photo import decode, open_image, output_format

SAVE_OPTIONS = {
    "JPEG": {"quality": 100, "subsampling": 0},
    "PNG": {},
    "TIFF": {"compression": "tiff_lzw"},
    "BMP": {},
    "WEBP": {"lossless": True, "quality": 100},
}
KEEPS_EXIF = {"JPEG", "PNG", "WEBP"}
ORIENTATION_TAG = 0x0112


class UnreadableImage(Exception):
    """A file that cannot be used as a photo or film; its message is the reason, one line."""

    @classmethod
    def cannot_read(cls, error: OSError) -> "UnreadableImage":
        """The file itself cannot be read (no permission, a symlink loop or a missing target, a folder),
        whatever it holds."""
        return cls(f"cannot read it: {error.strerror or error}")


@dataclass
class Photo:
    """A photo's lightness L (float32 (H, W), 0-100), its alpha (uint8 (H, W)) if any, and metadata."""

    lightness: np.ndarray
    alpha: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    bits: int = 8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow counts."""
        return self.lightness.shape[1], self.lightness.shape[0]


@cache
def _grey_lightness_table(levels: int) -> np.ndarray:
    """L of every grey level 0..levels-1 (R = G = B), float32."""
    grey = np.arange(levels, dtype=np.float64) / (levels - 1)
    return rgb_to_lab(np.repeat(grey[:, None], 3, axis=1)[None])[0, :, 0]


def _photo(image: Image.Image) -> Photo:
    """The lightness, alpha and metadata of an opened image, decoded by `core.photo.decode`."""
    decoded = decode(image)
    info = {key: image.info[key] for key in ("dpi",) if key in image.info}
    exif = image.getexif()
    exif.pop(ORIENTATION_TAG, None)  # the pixels came out upright
    if len(exif):
        info["exif"] = exif
    pixels = np.asarray(decoded.image)
    alpha = None if decoded.alpha is None else np.asarray(decoded.alpha)
    if decoded.image.mode == "I;16":
        return Photo(_grey_lightness_table(65536)[pixels], alpha, info, bits=16)
    if decoded.image.mode == "L":
        return Photo(_grey_lightness_table(256)[pixels], alpha, info)
    return Photo(lightness_of_rgb(pixels), alpha, info)


def _reason(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def open_file(path: Path):
    """`path` opened for reading bytes, or UnreadableImage saying why the file itself cannot be read."""
    try:
        return open(path, "rb")
    except OSError as error:
        raise UnreadableImage.cannot_read(error) from None


def read_photo(path: Path) -> Photo:
    """Read an image file upright (EXIF orientation applied) as a Photo; UnreadableImage says why not: the
    file cannot be opened, holds a film, is not a photo, or is a damaged one."""
    from .films import misnamed  # films imports this module

    with open_file(path) as file:
        try:
            with open_image(file) as image:
                return _photo(image)
        except Image.UnidentifiedImageError:
            raise UnreadableImage(misnamed(path) or "not an image file Pillow can read") from None
        except Exception as error:  # a damaged file can fail inside any decoder: report it, never crash the batch
            raise UnreadableImage(f"damaged or unsupported image ({_reason(error)})") from None


def write_image(
    path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None, info: dict | None = None, quality: int | None = None
) -> None:
    """Write uint8 RGB (H, W, 3), plus alpha where the format has one, in the format of `path`'s
    extension, via a temporary file renamed into place."""
    fmt = output_format(path)
    if fmt is None:
        raise ValueError(f"no output format for {path.suffix!r}")
    image = Image.fromarray(rgb)
    if alpha is not None and fmt != "JPEG":
        image.putalpha(Image.fromarray(alpha))
    options = dict(SAVE_OPTIONS[fmt])
    if quality is not None and fmt == "JPEG":
        options["quality"] = quality
    info = info or {}
    if "dpi" in info:
        options["dpi"] = info["dpi"]
    if "exif" in info and fmt in KEEPS_EXIF:
        options["exif"] = info["exif"]
    with atomic_path(path) as temporary:
        image.save(temporary, format=fmt, **options)
