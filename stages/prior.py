"""Stage prior: how often each ab colour class occurs in the training images (data/prior.json), the
prior that the classification loss's rebalancing weights come from."""

import numpy as np

from colorization.core.errors import run_main
from colorization.core.params import load_params
from colorization.core.paths import PROJECT
from colorization.lab.meta import open_prepared
from colorization.losses.classification import bin_centres, class_counts, write_prior

CHUNK = 256  # images read from the shards at a time


def main(argv: list[str]) -> None:
    load_params()  # the same validation as every stage, though no param changes the prior
    train = open_prepared(PROJECT.lab).train
    chunks = (train.read(np.arange(start, min(start + CHUNK, len(train)))) for start in range(0, len(train), CHUNK))
    counts = class_counts(chunks)
    write_prior(PROJECT.prior, counts)
    common = bin_centres()[np.argsort(counts)[::-1][:3]].astype(int).tolist()
    print(
        f"prior: {int(counts.sum()):,} pixels of {len(train)} training images in {int(np.count_nonzero(counts))} "
        f"of {len(counts)} colour classes; the commonest ab: {common}"
    )


if __name__ == "__main__":
    run_main(main)
