"""Metrics of predicted ab against the truth, shared by every architecture, the grey baseline and the
tests of `colorize`. Every metric is streamed batch by batch, so memory does not grow with the data.

RGB images below are the true L recombined with the predicted (or true) ab, converted to sRGB.

- mse:     mean squared error of ab/128 over pixels and both channels (the training loss scale)
- rmse_ab: root mean squared ab distance per pixel, sqrt(mean(da^2 + db^2)), in LAB units
- psnr:    PSNR in dB of the RGB image (true L + predicted ab) against the true RGB image, data range 1,
           averaged over images (an image predicted exactly counts as 100 dB)
- ssim:    structural similarity of the same two RGB images (skimage.metrics.structural_similarity, RGB
           in [0, 1], data_range=1, channel_axis=-1, a uniform 7x7 window and sample covariance, the
           mean of the three channels), averaged over images. An image whose shorter side is under 7
           pixels uses the largest odd window that fits; a 1-pixel window has no sample covariance, so
           it uses the population covariance (SSIM then compares the pixel means only).
- colorfulness, colorfulness_truth: Hasler and Süsstrunk (2003) on RGB scaled to 0-255, as in their
           paper: rg = R - G, yb = (R + G) / 2 - B,
           CF = sqrt(sd(rg)^2 + sd(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)
           (population standard deviations over the image's pixels), per image, averaged over images;
           of the predictions and of the ground truth.
- colorfulness_ratio: colorfulness / colorfulness_truth; 1.0 is ideal, a desaturated model scores far
           below 1 (null when the truth has no colour at all).
- auc:     Zhang et al. (2016): the ab error of a pixel is its Euclidean distance to the truth in the ab
           plane, in LAB units; share(t) is the fraction of all pixels (pooled over images) whose error
           is <= t. auc is the trapezoid-rule integral of share over t = 0, 1, ..., 150, divided by 150,
           so it lies in [0, 1] and a perfect prediction scores 1.
- auc_rebalanced: Zhang et al.'s class-rebalanced AuC: each pixel weighted by the inverse frequency of
           its true ab class (the 10x10 ab cells of `core.ab_classes`, which for colours in sRGB are
           the classification loss's classes) among the evaluated pixels, so that every colour class
           present in the truth weighs the same: share(t) is the mean over those classes of the share
           of the class's pixels within t, integrated as auc. Common near-grey pixels dominate the raw
           auc, which the grey image scores well on; here rare, saturated colours count as much.
"""

import numpy as np
from skimage.metrics import structural_similarity

from ..core import flow
from ..core.ab_classes import CELL_SPAN, cell
from ..core.color import lab_to_rgb
from ..core.encoding import AB_SCALE, encode_lab, lab_from_model
from ..lab.shards import LabShards

PSNR_CAP_DB = 100.0
SSIM_WINDOW = 7
AUC_MAX_ERROR = 150
CELLS_PER_SIDE = 2 * CELL_SPAN + 1  # the ab cells of the rebalanced AuC's classes, in-gamut or not


def ssim(rgb_true: np.ndarray, rgb_predicted: np.ndarray) -> float:
    """SSIM of one predicted RGB image (H, W, 3) in [0, 1] against the truth; window as documented above."""
    shorter = min(rgb_true.shape[:2])
    window = min(SSIM_WINDOW, shorter if shorter % 2 else shorter - 1)
    return float(
        structural_similarity(
            rgb_true, rgb_predicted, channel_axis=-1, data_range=1.0, win_size=window, use_sample_covariance=window > 1
        )
    )


def colorfulness(rgb: np.ndarray) -> np.ndarray:
    """Hasler-Süsstrunk colourfulness of each image in `rgb` (..., H, W, 3) on the 0-255 scale.

    Returns an array of the leading shape (a 0-d array for one image).
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = red - green
    yb = (red + green) / 2.0 - blue
    spread = np.sqrt(rg.var(axis=(-2, -1)) + yb.var(axis=(-2, -1)))
    offset = np.sqrt(np.square(rg.mean(axis=(-2, -1))) + np.square(yb.mean(axis=(-2, -1))))
    return spread + 0.3 * offset


def class_error_counts(ab_predicted: np.ndarray, ab_true: np.ndarray) -> np.ndarray:
    """Pixel counts by ab error and true ab class for the AUCs: (CELLS_PER_SIDE^2, AUC_MAX_ERROR + 2),
    row c for the pixels whose true ab (LAB units) falls in cell c of `core.ab_classes`; entry t
    (0..150) counts pixels whose error e has ceil(e) == t, i.e. that are first within threshold t;
    entry 151 counts errors above 150."""
    ab_true = np.asarray(ab_true, dtype=np.float64)
    error = np.sqrt(np.square(np.asarray(ab_predicted, dtype=np.float64) - ab_true).sum(axis=-1))
    bins = np.minimum(np.ceil(error), AUC_MAX_ERROR + 1).astype(np.int64)
    cells = cell(ab_true)
    classes = cells[..., 0] * CELLS_PER_SIDE + cells[..., 1]
    width = AUC_MAX_ERROR + 2
    counts = np.bincount((classes * width + bins).ravel(), minlength=CELLS_PER_SIDE**2 * width)
    return counts.reshape(-1, width)


def _integral(share: np.ndarray) -> float:
    """The trapezoid rule over t = 0..AUC_MAX_ERROR, divided by AUC_MAX_ERROR."""
    return float((share.sum() - (share[0] + share[-1]) / 2.0) / AUC_MAX_ERROR)


def auc_from_counts(counts: np.ndarray) -> float:
    """The AUC (see the module docstring) from pixel counts by error (`class_error_counts` summed over
    the classes)."""
    return _integral(np.cumsum(counts)[: AUC_MAX_ERROR + 1] / counts.sum())


def rebalanced_auc_from_counts(class_counts: np.ndarray) -> float:
    """The class-rebalanced AUC from the per-class counts of `class_error_counts`: the classes present
    in the truth weigh the same."""
    present = class_counts[class_counts.sum(axis=1) > 0]
    shares = np.cumsum(present, axis=1)[:, : AUC_MAX_ERROR + 1] / present.sum(axis=1, keepdims=True)
    return _integral(shares.mean(axis=0))


class MetricAccumulator:
    """Streams batches of (L, predicted ab, true ab) in model scaling and reports the metrics; with a
    `judge` (`judge.Judge`), also what it sees in the colorized, true and grey photos."""

    def __init__(self, judge=None):
        self.judge = judge
        self.verdicts = judge.verdicts() if judge is not None else None
        self.squared_error = 0.0
        self.values = 0
        self.psnr_sum = 0.0
        self.ssim_sum = 0.0
        self.colorfulness_sum = 0.0
        self.colorfulness_truth_sum = 0.0
        self.error_counts = np.zeros((CELLS_PER_SIDE**2, AUC_MAX_ERROR + 2), dtype=np.int64)
        self.images = 0

    def add(self, l_input: np.ndarray, ab_predicted: np.ndarray, ab_true: np.ndarray) -> None:
        error = ab_predicted.astype(np.float64) - ab_true
        self.squared_error += float(np.square(error).sum())
        self.values += error.size
        self.error_counts += class_error_counts(ab_predicted * AB_SCALE, ab_true * AB_SCALE)
        rgb_predicted = lab_to_rgb(lab_from_model(l_input, ab_predicted))
        rgb_true = lab_to_rgb(lab_from_model(l_input, ab_true))
        per_image_mse = np.square(rgb_predicted - rgb_true, dtype=np.float64).mean(axis=(1, 2, 3))
        psnr = 10.0 * np.log10(1.0 / np.maximum(per_image_mse, 10 ** (-PSNR_CAP_DB / 10)))
        self.psnr_sum += float(psnr.sum())
        self.ssim_sum += sum(ssim(truth, predicted) for truth, predicted in zip(rgb_true, rgb_predicted))
        self.colorfulness_sum += float(colorfulness(rgb_predicted * 255.0).sum())
        self.colorfulness_truth_sum += float(colorfulness(rgb_true * 255.0).sum())
        self.images += len(l_input)
        if self.judge is not None:
            rgb_grey = lab_to_rgb(lab_from_model(l_input, np.zeros_like(ab_true)))
            self.verdicts.add(self.judge, rgb_predicted, rgb_true, rgb_grey)

    def merged(self, other: "MetricAccumulator") -> "MetricAccumulator":
        """One accumulator holding both's images: the metrics of two disjoint sets and of their union
        from one pass."""
        union = MetricAccumulator(self.judge)
        for name, value in vars(self).items():
            if name != "judge" and value is not None:
                setattr(union, name, value + getattr(other, name))
        return union

    def result(self) -> dict:
        mse = self.squared_error / self.values
        predicted = self.colorfulness_sum / self.images
        truth = self.colorfulness_truth_sum / self.images
        return {
            "mse": mse,
            "rmse_ab": float(np.sqrt(2.0 * mse) * AB_SCALE),
            "psnr": self.psnr_sum / self.images,
            "ssim": self.ssim_sum / self.images,
            "colorfulness": predicted,
            "colorfulness_truth": truth,
            "colorfulness_ratio": predicted / truth if truth > 0 else None,
            "auc": auc_from_counts(self.error_counts.sum(axis=0)),
            "auc_rebalanced": rebalanced_auc_from_counts(self.error_counts),
            "n_images": self.images,
        } | (self.verdicts.result() if self.verdicts is not None else {})


def example_indices(n_images: int, n_examples: int) -> np.ndarray:
    """The fixed validation images shown in the plots: evenly spaced over the validation split."""
    return np.unique(np.linspace(0, n_images - 1, min(n_examples, n_images)).round().astype(np.int64))


def evaluate(predict, val: LabShards, batch_size: int, judge=None) -> dict:
    """Metrics of `predict` (L/100 batch -> ab/128 batch) over every validation image (with a `judge`,
    its verdicts too)."""
    accumulator = MetricAccumulator(judge)
    for l_input, ab_true in val.batches(batch_size):
        accumulator.add(l_input, predict(l_input), ab_true)
    return accumulator.result()


def predict_gray(l_input: np.ndarray) -> np.ndarray:
    """The do-nothing baseline: ab = 0 everywhere, i.e. the grey image itself."""
    return np.zeros((*l_input.shape[:-1], 2), dtype=np.float32)


def predict_examples(predict, val: LabShards, n_examples: int) -> np.ndarray:
    """Encoded LAB (true L, predicted ab) of the fixed example images, uint8 (n, H, W, 3)."""
    l_input, _ = val.batch(example_indices(len(val), n_examples))
    return encode_lab(lab_from_model(l_input, predict(l_input)))


def format_metrics(metrics: dict) -> str:
    """One summary line of a metrics dict, for the stages' output."""
    return ", ".join(
        f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}" for key, value in metrics.items()
    )


STILL_LIGHTNESS = 4.0  # mean |delta L| (L units) under which two consecutive film frames show the same picture
FLICKER_BLOCK = 16  # pixels: flicker compares colour averaged over blocks of this side, not film grain


def _block_means(plane: np.ndarray, block: int) -> np.ndarray:
    """The means of the whole `block` x `block` blocks of an (H, W, C) plane (a side shorter than `block`
    is one block); the partial blocks at the right and bottom edges are left out."""
    tall, wide = min(block, plane.shape[0]), min(block, plane.shape[1])
    rows, columns = plane.shape[0] // tall, plane.shape[1] // wide
    return plane[: rows * tall, : columns * wide].reshape(rows, tall, columns, wide, -1).mean(axis=(1, 3))


def flicker(
    lightness: list[np.ndarray], ab: list[np.ndarray], still: float = STILL_LIGHTNESS, block: int = FLICKER_BLOCK
) -> tuple[float, int]:
    """Colour that changes where the picture does not: the mean |delta ab| (LAB units, both channels)
    between consecutive frames of a film, of the colour averaged over `block` x `block` pixels (grain-sized
    changes are not flicker), over the pairs of frames whose input lightness (H, W) barely changes (mean
    |delta L| <= `still`). Returns it and the number of such pairs (nan, 0 if none)."""
    changes = [
        float(np.mean(np.abs(_block_means(ab[index], block) - _block_means(ab[index - 1], block))))
        for index in range(1, len(ab))
        if float(np.mean(np.abs(lightness[index] - lightness[index - 1]))) <= still
    ]
    return (float(np.mean(changes)), len(changes)) if changes else (float("nan"), 0)


CDC_STEPS = (1, 2, 4)  # frames apart compared by the colour distribution consistency, as TCVC does


def _channel_histograms(frame: np.ndarray) -> np.ndarray:
    """(C, 256) share of a uint8 (H, W, C) frame's pixels at each level, per channel."""
    counts = np.stack([np.bincount(frame[..., channel].ravel(), minlength=256) for channel in range(frame.shape[-1])])
    return counts / counts.sum(axis=1, keepdims=True)


def _jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The Jensen-Shannon divergence (natural log) between rows of two (n, bins) distributions."""
    middle = (p + q) / 2

    def kullback_leibler(a):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(a > 0, a * np.log(a / middle), 0.0).sum(axis=-1)

    return (kullback_leibler(p) + kullback_leibler(q)) / 2


def colour_distribution_consistency(frames: list[np.ndarray], steps: tuple[int, ...] = CDC_STEPS) -> float:
    """TCVC's CDC (Liu et al., 2021): the Jensen-Shannon divergence between the 256-level histograms of
    each RGB channel of frames t and t + step (uint8 (H, W, 3)), averaged over channels and frames, then
    over `steps`. 0: every frame has the same colours; a shot's colours that jump raise it. Global, so
    blind to where a colour is: read it beside the warping error. nan for a film shorter than the steps."""
    histograms = [_channel_histograms(frame) for frame in frames]
    means = [
        float(np.mean([_jensen_shannon(histograms[t], histograms[t + step]) for t in range(len(frames) - step)]))
        for step in steps
        if len(frames) > step
    ]
    return float(np.mean(means)) if len(means) == len(steps) else float("nan")


def warping_error(lightness: list[np.ndarray], ab: list[np.ndarray]) -> float:
    """Colour that does not follow the picture (Lai et al., 2018, on the colour alone): the mean over
    consecutive frames of the mean squared ab/128 difference between frame t's ab (H, W, 2) and frame
    t+1's warped onto it along the optical flow of their lightness (`core.flow`), over the pixels where
    that flow is reliable (forward-backward consistent). Every output keeps the input's L, so L is left
    out: its grain would weigh the same for every method. nan for fewer than two frames."""
    errors = []
    for t in range(len(ab) - 1):
        forward = flow.optical_flow(lightness[t], lightness[t + 1])
        kept = flow.reliable(forward, flow.optical_flow(lightness[t + 1], lightness[t]))
        if kept.any():
            difference = (ab[t] - flow.warp(ab[t + 1], forward)) / AB_SCALE
            errors.append(float(np.mean(np.sum(difference**2, axis=-1)[kept]) / 2))
    return float(np.mean(errors)) if errors else float("nan")
