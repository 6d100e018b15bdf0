"""Stage download: gather the raw colour photos of `data.source` into data/raw with a manifest."""

from colorization.core.errors import run_main
from colorization.core.params import load_params
from colorization.core.paths import PROJECT
from colorization.sources import download, summary


def main(argv: list[str]) -> None:
    params = load_params()
    print(summary(download(params.data, params.seed, PROJECT.raw), params.data, PROJECT.raw))


if __name__ == "__main__":
    run_main(main)
