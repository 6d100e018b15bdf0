"""What counts as a usable training photo.

Real collections hold files that are not what their names say. `inspect_image` looks at one file's
bytes and either accepts it (with its upright size and a perceptual hash for near-duplicate grouping)
or names why it is skipped. It decodes with `core.photo.to_rgb`, the conversion prepare uses too, so
what was inspected is what gets trained on.
"""

import hashlib
import io
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.color import rgb_to_lab
from ..core.photo import DECODERS, open_image, to_rgb

# Width * height above which a file is refused from its header alone, before any pixel is decoded.
MAX_PIXELS = 64_000_000
# Files larger than this are not read at all (a 64-megapixel photo is far smaller in any real format).
MAX_FILE_BYTES = 256 * 1024 * 1024
# Mean chroma (LAB units) below which an image has no colour to learn: under a just-noticeable difference.
GREYSCALE_MAX_CHROMA = 2.0
# Near-duplicates (the same picture resized, recompressed or slightly edited) must agree on both:
# a 16x16-bit difference hash (copies differ in a few bits, distinct photos in 56 or more, measured on
# 520 Places photos; a 3 % crop already differs in about 36) and an 8x8 colour thumbnail (mean absolute
# difference in 0-255 levels; the hash alone cannot tell apart pictures without horizontal detail).
HASH_SIDE = 16
NEAR_DUPLICATE_MAX_BITS = 20
THUMBNAIL_SIDE = 8
NEAR_DUPLICATE_MAX_LEVELS = 12

_GREYSCALE_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_ORIENTATION_TAG = 0x0112
_INSPECT_SIDE = 64


@dataclass(frozen=True)
class Inspection:
    """The verdict on one file: `reason` is empty for a usable image, else a short category."""

    reason: str = ""
    detail: str = ""
    width: int = 0
    height: int = 0
    sha256: str = ""
    dhash: int = 0
    thumbnail: bytes = b""

    @property
    def usable(self) -> bool:
        return not self.reason


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) as the photo is meant to be seen: EXIF orientations 5-8 swap the two."""
    width, height = image.size
    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def difference_hash(rgb: Image.Image) -> int:
    """A 256-bit perceptual hash: which of each pair of horizontal neighbours is brighter on a 17x16 grid."""
    grey = np.asarray(rgb.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.BOX), dtype=np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def mean_chroma(rgb: Image.Image) -> float:
    """Mean distance from grey in the ab plane (LAB units) over a 64x64 thumbnail."""
    lab = rgb_to_lab(np.asarray(rgb.resize((_INSPECT_SIDE, _INSPECT_SIDE), Image.BILINEAR)))
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def inspect_image(data: bytes) -> Inspection:
    """Decide whether a file's bytes are a usable colour photo, decoding at most a reduced-size copy."""
    if not data:
        return Inspection("empty file", "0 bytes")
    try:
        image = open_image(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        declared = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(declared.group(1)) / 1e6:.0f} MP" if declared else "more pixels than Pillow allows"
        return Inspection("decompression bomb", f"header declares {size}, over the {MAX_PIXELS / 1e6:.0f} MP limit")
    except UnidentifiedImageError:
        return Inspection("not an image", f"no {'/'.join(DECODERS)} header")
    except (OSError, SyntaxError, ValueError) as error:
        return Inspection("truncated or corrupt", str(error))
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            return Inspection(
                "decompression bomb",
                f"header declares {width}x{height} = "
                f"{width * height / 1e6:.0f} MP, over the {MAX_PIXELS / 1e6:.0f} MP limit",
            )
        mode = image.mode
        try:
            width, height = upright_size(image)
            image.draft("RGB", (_INSPECT_SIDE, _INSPECT_SIDE))
            image.load()
            rgb = to_rgb(image)
        except Exception as error:  # noqa: BLE001 - decoders raise many types on malformed input
            return Inspection("truncated or corrupt", str(error) or type(error).__name__)
    if mode in _GREYSCALE_MODES:
        return Inspection("greyscale", f"mode {mode}: no colour to learn from", width, height)
    chroma = mean_chroma(rgb)
    if chroma < GREYSCALE_MAX_CHROMA:
        return Inspection(
            "greyscale", f"mean chroma {chroma:.2f} < {GREYSCALE_MAX_CHROMA}: no colour to learn from", width, height
        )
    thumbnail = rgb.resize((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.BOX).tobytes()
    return Inspection(
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
        dhash=difference_hash(rgb),
        thumbnail=thumbnail,
    )


def near_duplicate_representatives(inspections: list[Inspection], block: int = 64) -> list[int]:
    """For each image, the index of the first image of its near-duplicate cluster (itself if none).

    Clusters are closed under the near-duplicate relation (see NEAR_DUPLICATE_MAX_BITS and
    NEAR_DUPLICATE_MAX_LEVELS). Hashes are compared blockwise with numpy, so memory stays at a few MB;
    time is quadratic (about 10 s for 40,000 images).
    """
    n = len(inspections)
    if n == 0:
        return []
    words = HASH_SIDE * HASH_SIDE // 64
    packed = np.array(
        [[(item.dhash >> (64 * (words - 1 - w))) & 0xFFFFFFFFFFFFFFFF for w in range(words)] for item in inspections],
        dtype=np.uint64,
    )
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def similar_colours(i: int, j: int) -> bool:
        first, second = (np.frombuffer(inspections[k].thumbnail, np.uint8).astype(np.int16) for k in (i, j))
        return float(np.abs(first - second).mean()) <= NEAR_DUPLICATE_MAX_LEVELS

    for start in range(0, n, block):
        stop = min(n, start + block)
        distance = np.zeros((stop - start, n - start), dtype=np.uint16)
        for w in range(words):
            distance += np.bitwise_count(packed[start:stop, w, None] ^ packed[None, start:, w])
        rows, columns = np.nonzero(distance <= NEAR_DUPLICATE_MAX_BITS)
        for row, column in zip((rows + start).tolist(), (columns + start).tolist()):
            if column > row and similar_colours(row, column):
                first, second = root(row), root(column)
                if first != second:
                    parent[max(first, second)] = min(first, second)
    return [root(i) for i in range(n)]
