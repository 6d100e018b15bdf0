"""Stage plots: loss curves, metric bars, MSE against colourfulness and the example grid, into plots/."""

from pathlib import Path

import numpy as np

from colorization import plotting
from colorization.dataset import open_prepared
from colorization.errors import UserError, run_stage
from colorization.evaluation import example_indices
from colorization.params import load_params


def main(argv: list[str]) -> None:
    params = load_params()
    archs = list(params.models)
    for arch in archs:
        if not (Path("metrics") / f"{arch}.json").is_file():
            raise UserError(f"metrics/{arch}.json not found: run dvc repro evaluate@{arch}")
    out = Path("plots")
    plotting.loss_curves({arch: Path("dvclive") / arch for arch in archs}, out / "loss.png")
    metric_files = {arch: Path("metrics") / f"{arch}.json" for arch in archs} | {"grey": Path("metrics/gray.json")}
    plotting.metric_bars(metric_files, out / "metrics.png")
    plotting.mse_vs_colorfulness(metric_files, out / "mse_vs_colorfulness.png")
    val = open_prepared(Path("data/lab")).val
    truth = val.read(example_indices(len(val), params.evaluate.n_examples))
    predictions = {arch: np.load(Path("data/predictions") / f"{arch}.npy") for arch in archs}
    plotting.example_grid(truth, predictions, out / "examples.png")
    print(f"plots: loss.png, metrics.png, mse_vs_colorfulness.png, examples.png in {out}/ for {', '.join(archs)}")


if __name__ == "__main__":
    run_stage(main)
