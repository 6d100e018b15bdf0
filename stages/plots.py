"""Stage plots: loss curves, metric bars, MSE against colourfulness and the example grid, into plots/."""

import numpy as np

from colorization.core.errors import UserError, run_main
from colorization.core.params import load_params
from colorization.core.paths import PROJECT
from colorization.evaluation import plots
from colorization.evaluation.metrics import example_indices
from colorization.lab.meta import open_prepared


def main(argv: list[str]) -> None:
    params = load_params()
    names = list(params.models) + list(params.ensembles)
    for name in names:
        if not PROJECT.model_metrics(name).is_file():
            stage = "ensemble" if name in params.ensembles else "evaluate"
            raise UserError(f"metrics/{name}.json not found: run dvc repro {stage}@{name}")
    out = PROJECT.plots
    plots.loss_curves({name: PROJECT.live(name) for name in params.models}, out / "loss.png")
    metric_files = {name: PROJECT.model_metrics(name) for name in names} | {"grey": PROJECT.gray_metrics}
    plots.metric_bars(metric_files, out / "metrics.png")
    plots.mse_vs_colorfulness(metric_files, out / "mse_vs_colorfulness.png")
    val = open_prepared(PROJECT.lab).val
    truth = val.read(example_indices(len(val), params.evaluate.n_examples))
    predictions = {name: np.load(PROJECT.predictions(name)) for name in names}
    plots.example_grid(truth, predictions, out / "examples.png")
    print(f"plots: loss.png, metrics.png, mse_vs_colorfulness.png, examples.png in {out}/ for {', '.join(names)}")


if __name__ == "__main__":
    run_main(main)
