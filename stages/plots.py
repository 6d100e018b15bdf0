"""Stage plots: loss curves, metric bars, MSE against colourfulness and the example grid, into plots/."""

from pathlib import Path

import numpy as np

from colorization.core.errors import UserError, run_main
from colorization.core.params import load_params
from colorization.evaluation import plots
from colorization.evaluation.metrics import example_indices
from colorization.lab.meta import open_prepared


def main(argv: list[str]) -> None:
    params = load_params()
    names = list(params.models)
    for name in names:
        if not (Path("metrics") / f"{name}.json").is_file():
            raise UserError(f"metrics/{name}.json not found: run dvc repro evaluate@{name}")
    out = Path("plots")
    plots.loss_curves({name: Path("dvclive") / name for name in names}, out / "loss.png")
    metric_files = {name: Path("metrics") / f"{name}.json" for name in names} | {"grey": Path("metrics/gray.json")}
    plots.metric_bars(metric_files, out / "metrics.png")
    plots.mse_vs_colorfulness(metric_files, out / "mse_vs_colorfulness.png")
    val = open_prepared(Path("data/lab")).val
    truth = val.read(example_indices(len(val), params.evaluate.n_examples))
    predictions = {name: np.load(Path("data/predictions") / f"{name}.npy") for name in names}
    plots.example_grid(truth, predictions, out / "examples.png")
    print(f"plots: loss.png, metrics.png, mse_vs_colorfulness.png, examples.png in {out}/ for {', '.join(names)}")


if __name__ == "__main__":
    run_main(main)
