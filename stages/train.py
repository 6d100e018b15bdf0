"""Stage train@<name>: train one model of params.yaml's `models:` on the shards; writes models/<name>,
dvclive/<name> and checkpoints/<name>."""

from colorization import engines
from colorization.core.errors import UserError, run_main
from colorization.core.params import load_params
from colorization.models import resolve
from colorization.training import distributed
from colorization.training.loop import train


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError("usage: python stages/train.py NAME")
    params = load_params()
    spec = resolve(params, argv[0])
    engines.prepare(spec.framework, params.train)
    workers = distributed.processes(params.train.devices)
    if workers > 1 and not distributed.under_torchrun():
        if spec.engine.data_parallel:
            return distributed.launch(__file__, spec.name, workers)
        print(
            f"{spec.name}: a {spec.framework} model trains in one process; train.devices = "
            f"{params.train.devices} applies to the models whose engine trains data-parallel"
        )
    losses = train(spec, params)
    if losses:  # rank 0 (the only worker without torchrun)
        print(f"train@{spec.name}: final train loss {losses['train_loss']:.5f}, val loss {losses['val_loss']:.5f}")


if __name__ == "__main__":
    run_main(main)
