"""Stage train@<name>: train one model of params.yaml's `models:` on the shards; writes models/<name>,
dvclive/<name> and checkpoints/<name>."""

from pathlib import Path

from colorization.core.errors import UserError, run_main
from colorization.core.params import load_params
from colorization.models import resolve, use_keras_backend
from colorization.training import distributed
from colorization.training.loop import train


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError("usage: python stages/train.py NAME")
    params = load_params()
    spec = resolve(params, argv[0])
    if spec.framework == "keras":
        use_keras_backend(params.train.keras_backend)
    workers = distributed.processes(params.train.devices)
    if workers > 1 and not distributed.under_torchrun():
        if spec.framework == "torch":
            return distributed.launch(__file__, spec.name, workers)
        print(f"{spec.name}: a Keras model trains in one process; train.devices = {params.train.devices} "
              "applies to the PyTorch models")
    losses = train(spec, params, Path("data/lab"), Path("data/prior.json"), Path("models") / spec.name,
                   Path("dvclive") / spec.name, Path("checkpoints") / spec.name)
    if losses:  # rank 0 (the only worker without torchrun)
        print(f"train@{spec.name}: final train loss {losses['train_loss']:.5f}, val loss {losses['val_loss']:.5f}")


if __name__ == "__main__":
    run_main(main)
