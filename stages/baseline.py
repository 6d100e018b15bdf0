"""Stage baseline: the metrics of predicting ab = 0 (the grey image), the bar every model must beat."""

from pathlib import Path

from colorization.dataset import open_prepared
from colorization.errors import run_stage
from colorization.evaluation import format_metrics, evaluate, predict_gray
from colorization.files import write_json
from colorization.params import load_params


def main(argv: list[str]) -> None:
    params = load_params()
    metrics = evaluate(predict_gray, open_prepared(Path("data/lab")).val, params.evaluate.batch_size)
    write_json(Path("metrics/gray.json"), metrics)
    print("baseline (grey): " + format_metrics(metrics))


if __name__ == "__main__":
    run_stage(main)
