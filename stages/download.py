"""Stage download: gather the raw colour photos of `data.source` into data/raw with a manifest."""

from pathlib import Path

from colorization.errors import run_stage
from colorization.params import load_params
from colorization.sources import download


def main(argv: list[str]) -> None:
    params = load_params()
    rows = download(params.data, params.seed, Path("data/raw"))
    groups = len({row.group for row in rows})
    print(f"download: {len(rows)} images from {groups} source photos ({params.data.source}) in data/raw")


if __name__ == "__main__":
    run_stage(main)
