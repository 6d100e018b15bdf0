"""Stage baseline: the metrics of predicting ab = 0 (the grey image), the bar every model must beat."""

from colorization.core.errors import run_main
from colorization.core.files import write_json
from colorization.core.params import load_params
from colorization.core.paths import PROJECT
from colorization.evaluation.judge import Judge
from colorization.evaluation.metrics import evaluate, format_metrics, predict_gray
from colorization.lab.meta import open_prepared


def main(argv: list[str]) -> None:
    params = load_params()
    metrics = evaluate(predict_gray, open_prepared(PROJECT.lab).val, params.evaluate.batch_size, Judge())
    write_json(PROJECT.gray_metrics, metrics)
    print("baseline (grey): " + format_metrics(metrics))


if __name__ == "__main__":
    run_main(main)
