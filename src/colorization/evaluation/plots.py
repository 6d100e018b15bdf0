"""Comparison plots: loss curves, metric bars and MSE against colourfulness (with the grey baseline), and a
grid of example images."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..core.color import lab_to_rgb  # noqa: E402
from ..core.encoding import decode_lab  # noqa: E402
from ..core.files import atomic_path  # noqa: E402

BAR_METRICS = {
    "mse": "MSE (ab/128), lower is better",
    "rmse_ab": "RMSE ab (LAB units), lower is better",
    "psnr": "PSNR RGB (dB), higher is better",
    "ssim": "SSIM RGB, higher is better",
    "auc": "AUC of ab error (0-150), higher is better",
    "auc_rebalanced": "class-rebalanced AUC, higher is better",
    "colorfulness_ratio": "colourfulness / truth's, 1 is ideal",
}


def _save(figure, path: Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)


LOSS_PANELS = {
    "train/loss": "training loss (each model's own)",
    "val/loss": "validation loss (each model's own)",
    "val/mse": "validation MSE (ab/128, every model)",
}


def loss_curves(live_dirs: dict[str, Path], path: Path) -> None:
    """Training and validation losses per epoch, every model overlaid, the kept epoch ringed."""
    figure, axes = plt.subplots(1, len(LOSS_PANELS), figsize=(15, 4))  # own losses have their own scales
    for axis, (metric, title) in zip(axes, LOSS_PANELS.items()):
        for index, (name, live_dir) in enumerate(live_dirs.items()):
            table = pd.read_csv(Path(live_dir) / "plots" / "metrics" / f"{metric}.tsv", sep="\t")
            values = table[metric.split("/")[1]]
            axis.plot(table["step"] + 1, values, marker="o", color=f"C{index}", label=name)
            kept = json.loads((Path(live_dir) / "metrics.json").read_text()).get("best_epoch")
            if kept and metric != "train/loss":
                axis.plot(kept, values.iloc[kept - 1], "o", markersize=12, markerfacecolor="none", color=f"C{index}")
        axis.set(title=title, xlabel="epoch (ring: the kept one)", yscale="log")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def metric_bars(metric_files: dict[str, Path], path: Path) -> None:
    """One bar chart per metric, one bar per architecture and the grey baseline."""
    metrics = {name: json.loads(Path(file).read_text()) for name, file in metric_files.items()}
    names = list(metrics)
    columns = -(-len(BAR_METRICS) // 2)
    figure, axes = plt.subplots(2, columns, figsize=(4 * columns, 7.6))
    colors = [f"C{i}" for i in range(len(names))]
    for axis in axes.flat[len(BAR_METRICS) :]:
        axis.set_visible(False)
    for axis, (key, title) in zip(axes.flat, BAR_METRICS.items()):
        values = [metrics[name][key] or 0.0 for name in names]
        bars = axis.bar(names, values, color=colors)
        axis.bar_label(bars, fmt="%.4g", fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.tick_params(axis="x", rotation=30)
    figure.tight_layout()
    _save(figure, path)


def mse_vs_colorfulness(metric_files: dict[str, Path], path: Path) -> None:
    """Scatter of MSE against colourfulness ratio, one point per architecture and the grey baseline.

    MSE rewards desaturated guesses, so a low-MSE network can sit far below the ideal ratio of 1 that a
    realistic colorization reaches; the dashed line marks that ideal.
    """
    metrics = {name: json.loads(Path(file).read_text()) for name, file in metric_files.items()}
    figure, axis = plt.subplots(figsize=(6, 4.5))
    axis.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="colourfulness of the truth")
    for index, (name, values) in enumerate(metrics.items()):
        ratio = values["colorfulness_ratio"] or 0.0
        axis.scatter(values["mse"], ratio, s=60, color=f"C{index}", zorder=3)
        axis.annotate(name, (values["mse"], ratio), textcoords="offset points", xytext=(6, 6), fontsize=9)
    axis.set(
        title="MSE against colourfulness (validation images)",
        xlabel="MSE of ab/128 (lower is better)",
        ylabel="colourfulness / colourfulness of the truth",
    )
    axis.set_ylim(bottom=0, top=max(1.2, *((v["colorfulness_ratio"] or 0.0) * 1.1 for v in metrics.values())))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def example_grid(gray_encoded: np.ndarray, predictions: dict[str, np.ndarray], path: Path) -> None:
    """Rows of fixed validation images: B&W input | each architecture | ground truth.

    `gray_encoded` holds the true encoded LAB images; `predictions` the encoded (true L, predicted ab).
    """
    columns = {
        "input (B&W)": gray_encoded * np.array([1, 0, 0], dtype=np.uint8) + np.array([0, 128, 128], dtype=np.uint8)
    }
    columns.update(predictions)
    columns["ground truth"] = gray_encoded
    rows = len(gray_encoded)
    figure, axes = plt.subplots(rows, len(columns), figsize=(2 * len(columns), 2 * rows), squeeze=False)
    for column, (title, images) in enumerate(columns.items()):
        for row in range(rows):
            axis = axes[row, column]
            axis.imshow(lab_to_rgb(decode_lab(images[row])))
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=10)
    figure.tight_layout()
    _save(figure, path)
