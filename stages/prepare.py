"""Stage prepare: data/raw -> LAB shards in data/lab/{train,val}, split by source photo."""

from colorization.core.errors import run_main
from colorization.core.params import load_params
from colorization.core.paths import PROJECT
from colorization.lab.prepare import SKIPPED_FILE, prepare

LISTED_GROUPS = 8


def main(argv: list[str]) -> None:
    params = load_params()
    data = params.data
    lab_dir = PROJECT.lab
    meta = prepare(PROJECT.raw, lab_dir, data.image_size, data.val_fraction, data.shard_size, params.seed)
    groups = meta.val_groups
    shown = ", ".join(groups[:LISTED_GROUPS]) + (
        f" and {len(groups) - LISTED_GROUPS} more" if len(groups) > LISTED_GROUPS else ""
    )
    line = (
        f"prepare: {meta.counts['train']} training and {meta.counts['val']} validation images at "
        f"{data.image_size}x{data.image_size} in {lab_dir} (validation photos: {shown})"
    )
    if meta.skipped_smaller_than_image_size:
        line += (
            f"; skipped {meta.skipped_smaller_than_image_size} smaller than {data.image_size}x{data.image_size} "
            f"(listed in {lab_dir / SKIPPED_FILE})"
        )
    print(line)


if __name__ == "__main__":
    run_main(main)
