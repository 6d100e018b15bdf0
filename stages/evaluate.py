"""Stage evaluate@<name>: metrics over every validation image and predictions for the example grid."""

from pathlib import Path

from colorization.core.errors import UserError, run_main
from colorization.core.files import save_array, write_json
from colorization.core.params import load_params
from colorization.evaluation.metrics import evaluate, format_metrics, predict_examples
from colorization.lab.meta import open_prepared
from colorization.models import resolve, saved


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise UserError("usage: python stages/evaluate.py NAME")
    params = load_params()
    name = resolve(params, argv[0]).name
    model_dir = Path("models") / name
    if not model_dir.is_dir():
        raise UserError(f"{model_dir} not found: run the training stage first (dvc repro train@{name})")
    network, config = saved.load(model_dir)
    val = open_prepared(Path("data/lab")).val
    metrics = evaluate(network.predict, val, params.evaluate.batch_size) | {"epoch": config.epoch}
    write_json(Path("metrics") / f"{name}.json", metrics)
    save_array(Path("data/predictions") / f"{name}.npy", predict_examples(network.predict, val, params.evaluate.n_examples))
    print(f"evaluate@{name}: " + format_metrics(metrics))


if __name__ == "__main__":
    run_main(main)
