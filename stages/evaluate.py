"""Stage evaluate@<arch>: metrics over every validation image and predictions for the example grid."""

from pathlib import Path

from colorization import networks
from colorization.dataset import open_prepared
from colorization.errors import UserError, run_stage
from colorization.evaluation import evaluate, predict_examples
from colorization.files import save_array, write_json
from colorization.params import load_params


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError("usage: python stages/evaluate.py ARCH")
    arch = argv[0]
    params = load_params()
    params.model(arch)
    network, _ = networks.load(Path("models") / arch)
    val = open_prepared(Path("data/lab")).val
    metrics = evaluate(network.predict, val, params.evaluate.batch_size)
    write_json(Path("metrics") / f"{arch}.json", metrics)
    save_array(Path("data/predictions") / f"{arch}.npy", predict_examples(network.predict, val, params.evaluate.n_examples))
    print(f"evaluate@{arch}: " + ", ".join(f"{key} {value:.4f}" for key, value in metrics.items()))


if __name__ == "__main__":
    run_stage(main)
