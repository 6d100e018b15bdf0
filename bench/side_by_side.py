"""Photos coloured by several models side by side: `python -m bench.side_by_side OUT.jpg (PHOTOS | --skimage)
--models NAME ...`.

One row per photo: the grey input, then each model's colours (as `colorize` makes them: the network at
the model's render size and the photo's aspect, the ab upsampled to the photo and recombined with its
own L), then the true colour photo (a colour photo turned grey), unless `--historic` says the
photos are black-and-white originals (some scanned with a tint), which have none. Every photo is
shown at HEIGHT pixels high. NAMEs are what `colorize --model` takes.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from colorization.colorize.render import load_model, upsample_ab
from colorization.core.color import lab_to_rgb_keeping_lightness, rgb_to_lab
from colorization.core.photo import open_image, to_rgb

from .unseen import skimage_photos

HEIGHT = 200
LABEL = 18


def colour(model, lab: np.ndarray) -> np.ndarray:
    small = model.network_lightness(lab[..., 0])
    ab = upsample_ab(model.predict(small), (lab.shape[1], lab.shape[0]))
    return lab_to_rgb_keeping_lightness(np.concatenate([lab[..., :1], ab], axis=-1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("photos", type=Path, nargs="?", help="a folder of photos (colour or black-and-white)")
    parser.add_argument("--skimage", action="store_true", help="scikit-image's colour photos instead")
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--historic", action="store_true", help="black-and-white originals: no truth column")
    args = parser.parse_args()
    if args.skimage == (args.photos is not None):
        parser.error("give a folder of photos or --skimage")
    if args.skimage:
        photos = [(photo, True) for photo in skimage_photos()]
    else:
        photos = []
        for path in sorted(args.photos.iterdir()):
            with open_image(path) as image:
                photos.append((np.asarray(to_rgb(image)), not args.historic))
    models = [load_model(name, Path(".")) for name in args.models]
    rows = []
    for rgb, in_colour in photos:
        lab = rgb_to_lab(rgb.astype(np.float32) / 255.0)
        grey = lab_to_rgb_keeping_lightness(np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], axis=-1))
        cells = [grey] + [colour(model, lab) for model in models] + ([rgb / 255.0] if in_colour else [])
        width = round(rgb.shape[1] * HEIGHT / rgb.shape[0])
        rows.append(
            [
                Image.fromarray((np.clip(cell, 0, 1) * 255).round().astype(np.uint8)).resize(
                    (width, HEIGHT), Image.LANCZOS
                )
                for cell in cells
            ]
        )
    labels = ["grey input"] + args.models + (["truth"] if any(in_colour for _, in_colour in photos) else [])
    columns = max(len(row) for row in rows)
    widths = [max(row[index].width for row in rows if index < len(row)) for index in range(columns)]
    sheet = Image.new("RGB", (sum(widths) + 4 * (columns - 1), LABEL + len(rows) * (HEIGHT + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for index, width in enumerate(widths):
        draw.text((x + 4, 2), labels[index], fill="black")
        for row_index, row in enumerate(rows):
            if index < len(row):
                sheet.paste(row[index], (x, LABEL + row_index * (HEIGHT + 4)))
        x += width + 4
    sheet.save(args.output, quality=88)
    print(f"wrote {args.output}: {len(rows)} photos x {', '.join(labels)}")


if __name__ == "__main__":
    main()
