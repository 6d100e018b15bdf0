"""Stage train@<arch>: train one architecture on the shards; writes models/, dvclive/ and checkpoints/<arch>."""

from pathlib import Path

from colorization.errors import UserError, run_stage
from colorization.params import load_params
from colorization.training import train


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError("usage: python stages/train.py ARCH")
    arch = argv[0]
    params = load_params()
    params.model(arch)
    losses = train(arch, params, Path("data/lab"), Path("models") / arch, Path("dvclive") / arch,
                   Path("checkpoints") / arch)
    print(f"train@{arch}: final train loss {losses['train_loss']:.5f}, val loss {losses['val_loss']:.5f}")


if __name__ == "__main__":
    run_stage(main)
