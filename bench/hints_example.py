"""The README's hints picture: a historic photo grey, with the hints placed on it, coloured by the shipped
reference model, and coloured by the shipped hint model told those colours.

    python -m bench.hints_example PHOTO HINTS.json OUTPUT.jpg
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorization.colorize import hint_files
from colorization.colorize.photos import read_photo
from colorization.colorize.render import colour, load_model

PANEL_HEIGHT = 360
GAP = 8


def panels(photo: Path, hints: Path) -> list[tuple[str, np.ndarray]]:
    picture = read_photo(photo)
    told = hint_files.read(hints, picture.size)
    grey = colour(picture.lightness, np.zeros((*picture.lightness.shape, 2), dtype=np.float32))
    marked = Image.fromarray(grey)
    draw = ImageDraw.Draw(marked)
    radius = max(6, picture.size[0] // 90)
    for hint in told:
        box = (hint.x - radius, hint.y - radius, hint.x + radius, hint.y + radius)
        draw.ellipse(box, fill=hint.color, outline="white", width=max(2, radius // 3))
    automatic = load_model("reference", Path.cwd())
    hinted = load_model("reference_hints", Path.cwd())
    return [
        ("grey", grey),
        ("hints", np.asarray(marked)),
        ("reference", colour(picture.lightness, automatic.predict_ab(picture.lightness))),
        (
            "reference_hints, told",
            colour(picture.lightness, hinted.predict_ab(picture.lightness, points=hint_files.network_points(told))),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("hints", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    shown = panels(args.photo, args.hints)
    height, width = shown[0][1].shape[:2]
    panel = (round(width * PANEL_HEIGHT / height), PANEL_HEIGHT)
    canvas = Image.new("RGB", (2 * panel[0] + GAP, 2 * panel[1] + GAP), "white")
    font = ImageFont.load_default(size=18)
    draw = ImageDraw.Draw(canvas)
    for index, (label, rgb) in enumerate(shown):
        left, top = (index % 2) * (panel[0] + GAP), (index // 2) * (panel[1] + GAP)
        canvas.paste(Image.fromarray(rgb).resize(panel, Image.Resampling.LANCZOS), (left, top))
        draw.text((left + 8, top + 6), label, font=font, fill="white", stroke_width=2, stroke_fill="black")
    canvas.save(args.output, quality=88)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
