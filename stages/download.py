"""Stage download: gather the raw colour photos of `data.source` into data/raw with a manifest."""

from pathlib import Path

from colorization.core.errors import run_main
from colorization.core.params import load_params
from colorization.sources import download, summary


def main(argv: list[str]) -> None:
    params = load_params()
    raw_dir = Path("data/raw")
    print(summary(download(params.data, params.seed, raw_dir), params.data, raw_dir))


if __name__ == "__main__":
    run_main(main)
