"""A judge that sees objects: EfficientNet-Lite2's ImageNet classifier asked what is in the colorized
photo and in the true photo (and in the grey one, for the baseline beside it).

- semantic_agreement: the share of photos whose top-1 ImageNet class on the colorized photo equals the
  top-1 class on the true photo (`semantic_agreement_grey`: on the grey photo);
- semantic_kl: the mean KL divergence (nats) from the true photo's class distribution to the
  colorized photo's (`semantic_kl_grey`: to the grey photo's);
- fd_lite2: the Fréchet distance between Gaussians fitted to Lite2's 1280 pooled features of the
  colorized and of the true photos (`fd_lite2_grey`: of the grey ones). The form of FID, but not FID:
  another network (Lite2, not Inception v3), other features, small photos; its numbers compare with
  each other only.

Every photo is centre-cropped to a square and resized to SIDE x SIDE (bilinear, antialiased) before
the judge sees it. The judge is a
different network from any colorizer's encoder (Lite2, not Lite0) and only ever measures: no loss, no
choice of epoch and no decoding setting reads it (tests/test_judge.py checks that nothing in training
or the losses imports it), so a model cannot learn to please it.
"""

import hashlib

import numpy as np
import torch

from ..architectures.efficientnet_lite import LITE2, NORMALISE, pretrained

SIDE = 128  # the photos' side as the judge sees them: MiniPlaces' own
FEATURES = 1280


class Judge:
    """Lite2 in inference mode, with the judgments of photos it has seen before kept by their bytes: a
    decoding curve shows it the same true and grey photos once per row."""

    def __init__(self, side: int = SIDE):
        self.side = side
        self.network = pretrained(LITE2).to(memory_format=torch.channels_last)
        self.seen: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def verdicts(self) -> "Verdicts":
        """An empty tally of this judge's verdicts (what a metric accumulator keeps)."""
        return Verdicts()

    def look(self, rgb: np.ndarray, remember: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Log class probabilities (B, 1000) and pooled features (B, 1280), float64, of RGB photos
        (B, H, W, 3) in [0, 1]; `remember`: keep them for the same photos' next look."""
        key = hashlib.sha1(np.ascontiguousarray(rgb, dtype=np.float32).tobytes(), usedforsecurity=False).digest()
        if key in self.seen:
            return self.seen[key]
        tensor = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(0, 3, 1, 2) * 255.0
        height, width = tensor.shape[-2:]
        short = min(height, width)
        tensor = tensor[
            ...,
            (height - short) // 2 : (height - short) // 2 + short,
            (width - short) // 2 : (width - short) // 2 + short,
        ]
        if tensor.shape[-2:] != (self.side, self.side):
            tensor = torch.nn.functional.interpolate(
                tensor, size=(self.side, self.side), mode="bilinear", antialias=True, align_corners=False
            )
        tensor = ((tensor - NORMALISE[0]) / NORMALISE[1]).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            pooled = self.network.pooled(tensor)
            log_probs = torch.log_softmax(self.network._fc(pooled), dim=1)
        judged = (log_probs.double().numpy(), pooled.double().numpy())
        if remember:
            self.seen[key] = judged
        return judged


class Moments:
    """Running sums of features for a Gaussian's mean and covariance."""

    def __init__(self):
        self.count = 0
        self.total = np.zeros(FEATURES)
        self.outer = np.zeros((FEATURES, FEATURES))

    def add(self, features: np.ndarray) -> None:
        self.count += len(features)
        self.total += features.sum(axis=0)
        self.outer += features.T @ features

    def __add__(self, other: "Moments") -> "Moments":
        union = Moments()
        union.count, union.total, union.outer = (
            self.count + other.count,
            self.total + other.total,
            self.outer + other.outer,
        )
        return union

    def gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        mean = self.total / self.count
        covariance = (self.outer - self.count * np.outer(mean, mean)) / max(self.count - 1, 1)
        return mean, covariance


def frechet_distance(reference: Moments, other: Moments) -> float:
    """||m1 - m2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)) between the two Gaussians. The trace of the root is
    the sum of the roots of the eigenvalues of C1^(1/2) C2 C1^(1/2), which is symmetric and has the
    eigenvalues of C1 C2: symmetric eigen-decompositions instead of a general matrix root. The
    `reference`'s root and the distance are kept for the next calls with the same sums (every row of a
    decoding curve is measured against the same true photos, and the grey image's distance repeats)."""
    key = _digest(reference) + _digest(other)
    if key not in _DISTANCES:
        mean1, cov1, root1 = _rooted(reference)
        mean2, cov2 = other.gaussian()
        trace_root = np.sqrt(np.linalg.eigvalsh(root1 @ cov2 @ root1).clip(min=0)).sum()
        if len(_DISTANCES) > 64:
            _DISTANCES.clear()
        _DISTANCES[key] = float(np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_root)
    return _DISTANCES[key]


_DISTANCES: dict[bytes, float] = {}
_ROOTS: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # the newest reference's only


def _digest(moments: Moments) -> bytes:
    return hashlib.sha1(moments.outer.tobytes() + moments.total.tobytes(), usedforsecurity=False).digest()


def _rooted(moments: Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, covariance and covariance root of `moments`, the root computed once per distinct sums."""
    key = _digest(moments)
    if key not in _ROOTS:
        mean, covariance = moments.gaussian()
        values, vectors = np.linalg.eigh(covariance)
        _ROOTS.clear()
        _ROOTS[key] = (mean, covariance, (vectors * np.sqrt(values.clip(min=0))) @ vectors.T)
    return _ROOTS[key]


class Verdicts:
    """What the judge said of a set of photos, summed so that two disjoint sets merge by addition."""

    def __init__(self):
        self.images = 0
        self.agree = 0
        self.agree_grey = 0
        self.kl = 0.0
        self.kl_grey = 0.0
        self.predicted = Moments()
        self.truth = Moments()
        self.grey = Moments()

    def add(self, judge: Judge, rgb_predicted: np.ndarray, rgb_true: np.ndarray, rgb_grey: np.ndarray) -> None:
        truth, truth_features = judge.look(rgb_true, remember=True)
        grey, grey_features = judge.look(rgb_grey, remember=True)
        predicted, predicted_features = judge.look(rgb_predicted)
        top = truth.argmax(axis=1)
        self.images += len(top)
        self.agree += int((predicted.argmax(axis=1) == top).sum())
        self.agree_grey += int((grey.argmax(axis=1) == top).sum())
        probabilities = np.exp(truth)
        self.kl += float((probabilities * (truth - predicted)).sum())
        self.kl_grey += float((probabilities * (truth - grey)).sum())
        self.predicted.add(predicted_features)
        self.truth.add(truth_features)
        self.grey.add(grey_features)

    def __add__(self, other: "Verdicts") -> "Verdicts":
        union = Verdicts()
        for name, value in vars(self).items():
            setattr(union, name, value + getattr(other, name))
        return union

    def result(self) -> dict:
        return {
            "semantic_agreement": self.agree / self.images,
            "semantic_agreement_grey": self.agree_grey / self.images,
            "semantic_kl": self.kl / self.images,
            "semantic_kl_grey": self.kl_grey / self.images,
            "fd_lite2": frechet_distance(self.truth, self.predicted),
            "fd_lite2_grey": frechet_distance(self.truth, self.grey),
        }
