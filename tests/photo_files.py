"""Real image files for the data tests: colour photos, the odd and broken files real collections hold,
and tar archives in the Places365 layout. Everything is generated, so the tests need no download."""

import io
import struct
import tarfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ORIENTATION = 0x0112


def colour_photo(seed: int, width: int = 48, height: int = 48) -> Image.Image:
    """A smooth, saturated random colour image; different seeds give unrelated pictures."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (5, 5, 3), dtype=np.uint8))
    return coarse.resize((width, height), Image.BICUBIC)


def encode(image: Image.Image, format: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, pixels: np.ndarray | None = None) -> bytes:
    """A PNG written by hand: Pillow cannot write 16-bit colour, nor a header that lies about the size.

    With `pixels` None the IDAT holds one tiny compressed row, whatever the header declares.
    """

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    if pixels is None:
        raw = b"\x00" * 16
    else:
        dtype = ">u2" if bit_depth == 16 else "u1"
        raw = b"".join(b"\x00" + row.astype(dtype).tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def exif_rotated_jpeg() -> bytes:
    """Stored 80 wide x 40 high, red left and blue right, tagged orientation 6 (turn 90 degrees clockwise
    to view): seen upright it is 40 wide x 80 high, red on top."""
    stored = Image.new("RGB", (80, 40), (220, 20, 20))
    stored.paste((20, 20, 220), (40, 0, 80, 40))
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    return encode(stored, exif=exif.tobytes(), quality=95)


def sixteen_bit_colour_png() -> bytes:
    pixels = np.zeros((40, 40, 3), dtype=np.uint16)
    pixels[..., 0] = 65535
    pixels[..., 1] = 32896  # 128 * 257
    pixels[20:, :, 2] = 65535
    return png_bytes(40, 40, 16, 2, pixels)


def rgba_png() -> bytes:
    """A green square on a fully transparent background (whose hidden RGB is black)."""
    image = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    image.paste((30, 200, 30, 255), (10, 10, 30, 30))
    return encode(image, "PNG")


# What the folder test expects for each odd file: None if it is used, else the skip reason.
def odd_files(small_side: int) -> dict[str, tuple[bytes, str | None]]:
    good = encode(colour_photo(1, 64, 64), quality=95)
    jpeg = encode(colour_photo(2, 64, 64), quality=95)
    return {
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated or corrupt"),
        "empty.jpg": (b"", "empty file"),
        "notes.jpg": (b"shopping list: milk, eggs\n" * 20, "not an image"),
        "cmyk.jpg": (encode(colour_photo(3, 64, 64).convert("CMYK"), quality=95), None),
        "deep/sixteen_bit.png": (sixteen_bit_colour_png(), None),
        "deep/sixteen_bit_grey.png": (png_bytes(40, 40, 16, 0, np.full((40, 40), 40000, np.uint16)), "greyscale"),
        "grey.jpg": (encode(colour_photo(4, 64, 64).convert("L")), "greyscale"),
        "grey_as_rgb.jpg": (encode(colour_photo(5, 64, 64).convert("L").convert("RGB")), "greyscale"),
        "rgba.png": (rgba_png(), None),
        "rotated.jpg": (exif_rotated_jpeg(), None),
        "small.jpg": (encode(colour_photo(6, small_side, small_side)), None),
        "bomb_81mp.png": (png_bytes(9000, 9000, 8, 2), "decompression bomb"),
        "bomb_10gp.png": (png_bytes(100_000, 100_000, 8, 2), "decompression bomb"),
        "photo.jpg": (good, None),
        "photo_resized.jpg": (encode(colour_photo(1, 64, 64).resize((48, 48), Image.BILINEAR), quality=80), None),
        "nested/copy_of_photo.jpg": (good, "duplicate"),
        "UPPER.JPG": (encode(colour_photo(7, 64, 64)), None),
        "bitmap.bmp": (encode(colour_photo(8, 64, 64), "BMP"), None),
        "web.webp": (encode(colour_photo(9, 64, 64), "WEBP", quality=90), None),
        "scan.tiff": (encode(colour_photo(10, 64, 64), "TIFF"), None),
    }


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def add_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def places_tar(path: Path, categories: int, per_category: int, side: int = 16, seed: int = 0) -> dict[str, bytes]:
    """A tar in the layout of train_256_places365standard.tar (data_256/<letter>/<category>/NNNNNNNN.jpg)
    of distinct small colour JPEGs; returns member name -> bytes."""
    members = {}
    with tarfile.open(path, "w") as archive:
        for category in range(categories):
            name = f"category{category:02d}"
            for index in range(per_category):
                member = f"data_256/{name[0]}/{name}/{index + 1:08d}.jpg"
                data = encode(colour_photo(seed * 1_000_000 + category * 10_000 + index, side, side), quality=90)
                add_member(archive, member, data)
                members[member] = data
    return members
