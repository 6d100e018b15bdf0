"""Stage prepare: data/raw -> LAB shards in data/lab/{train,val}, split by source photo."""

from pathlib import Path

from colorization.errors import run_stage
from colorization.params import load_params
from colorization.prepare import prepare


def main(argv: list[str]) -> None:
    params = load_params()
    data = params.data
    meta = prepare(Path("data/raw"), Path("data/lab"), data.image_size, data.val_fraction, data.shard_size, params.seed)
    counts = meta["counts"]
    print(f"prepare: {counts['train']} training and {counts['val']} validation images at "
          f"{data.image_size}x{data.image_size} in data/lab (validation photos: {', '.join(meta['val_groups'])})")


if __name__ == "__main__":
    run_stage(main)
