"""The one way any photo file is opened and decoded, by training (download, prepare) and by `colorize`.

`open_image` reads only the header, with the photo decoders alone. `decode` turns any opened photo into
upright pixels in one of three modes: 8-bit grey ("L"), 16-bit grey ("I;16": 16-bit and 32-bit integer
or float greyscale, scaled, never clipped) or 8-bit RGB (palette, CMYK and the rest converted), with the
alpha channel apart. Training composites alpha over white and needs 8-bit RGB (`to_rgb`); `colorize`
keeps alpha and every bit of a 16-bit scan's lightness. `walk_files` is the one folder walker.
"""

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# The photo file types read and written everywhere: suffix (any case) -> Pillow format.
FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
IMAGE_SUFFIXES = tuple(FORMATS)
# The decoders a photo may reach; anything else (a text file that looks like PPM, say) is not an image.
DECODERS = tuple(dict.fromkeys(FORMATS.values()))  # JPEG includes multi-picture (MPO) files

_GREY_MODES = {"1", "L", "LA", "La"}


def has_image_suffix(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def output_format(path: Path) -> str | None:
    """Pillow's format name for a supported suffix (any case), else None."""
    return FORMATS.get(Path(path).suffix.lower())


def open_image(source) -> Image.Image:
    """Open a path or file object with the photo decoders only; reads the header, decodes nothing."""
    with warnings.catch_warnings():
        # Callers that care refuse large headers themselves, with a clearer reason than Pillow's warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(source, formats=DECODERS)


@dataclass
class Decoded:
    """Upright pixels in mode "L", "I;16" or "RGB", and the alpha channel ("L") or None."""

    image: Image.Image
    alpha: Image.Image | None = None


def _sixteen_bit_grey(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit (integer or float) greyscale as 16-bit grey, scaled rather than clipped.

    16-bit modes span 0-65535; 32-bit images carry no range, so theirs is guessed from the largest
    value (0-1 for floats, 8-bit, 16-bit, else the maximum).
    """
    if image.mode.startswith("I;16"):
        return image if image.mode == "I;16" else Image.fromarray(np.asarray(image).astype(np.uint16))
    values = np.asarray(image, dtype=np.float64)
    largest = values.max(initial=0)
    limits = ((1.0,) if image.mode == "F" else ()) + (255.0, 65535.0)
    top = next((limit for limit in limits if largest <= limit), largest)
    return Image.fromarray(np.clip(np.round(values * (65535.0 / top)), 0, 65535).astype(np.uint16))


def decode(image: Image.Image) -> Decoded:
    """Any opened photo, upright (EXIF orientation applied), as described in the module docstring."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return Decoded(_sixteen_bit_grey(image))
    alpha = None
    if image.has_transparency_data:
        image = image.convert("LA" if image.mode in _GREY_MODES else "RGBA")
        alpha = image.getchannel("A")
    if image.mode in _GREY_MODES:
        return Decoded(image if image.mode == "L" else image.convert("L"), alpha)
    return Decoded(image if image.mode == "RGB" else image.convert("RGB"), alpha)


def to_rgb(image: Image.Image) -> Image.Image:
    """Any opened photo as upright 8-bit RGB, as training sees it: transparent pixels become white."""
    decoded = decode(image)
    pixels = decoded.image
    if pixels.mode == "I;16":
        pixels = Image.fromarray(np.round(np.asarray(pixels) * (255.0 / 65535.0)).astype(np.uint8))
    if decoded.alpha is None:
        return pixels if pixels.mode == "RGB" else pixels.convert("RGB")
    rgba = pixels.convert("RGBA")
    rgba.putalpha(decoded.alpha)
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def walk_files(root: Path, skip: Path | None = None) -> Iterator[Path]:
    """Every file under `root`, recursively and in sorted order: hidden files and folders (".name"),
    symlinked folders and the folder `skip` are left out."""
    skip = skip.resolve() if skip is not None else None
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(
            name
            for name in folders
            if not name.startswith(".") and (skip is None or Path(directory, name).resolve() != skip)
        )
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(directory, name)
