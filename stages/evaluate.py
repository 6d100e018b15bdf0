"""Stage evaluate@<arch>: metrics over every validation image and predictions for the example grid."""

from pathlib import Path

from colorization import networks
from colorization.dataset import open_prepared
from colorization.errors import UserError, run_stage
from colorization.evaluation import format_metrics, evaluate, predict_examples
from colorization.files import save_array, write_json
from colorization.params import load_params


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError("usage: python stages/evaluate.py ARCH")
    arch = argv[0]
    params = load_params()
    params.model(arch)
    model_dir = Path("models") / arch
    if not model_dir.is_dir():
        raise UserError(f"{model_dir} not found: run the training stage first (dvc repro train@{arch})")
    network, _ = networks.load(model_dir)
    val = open_prepared(Path("data/lab")).val
    metrics = evaluate(network.predict, val, params.evaluate.batch_size)
    write_json(Path("metrics") / f"{arch}.json", metrics)
    save_array(Path("data/predictions") / f"{arch}.npy", predict_examples(network.predict, val, params.evaluate.n_examples))
    print(f"evaluate@{arch}: " + format_metrics(metrics))


if __name__ == "__main__":
    run_stage(main)
