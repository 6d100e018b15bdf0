"""Colour as classification: Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016).

The classes are `core.ab_classes`': the ab plane is cut into square cells of GRID units centred on
multiples of GRID; the Q cells that some
sRGB colour falls into, exactly or after the shards' rounding of a and b to integers, are the classes
(computed here from every one of the 2^24 sRGB colours, never downloaded). A target pixel is
soft-encoded over its NEIGHBOURS nearest class centres with a Gaussian of SIGMA; each pixel's loss is
weighted by class rebalancing, w ~ ((1 - lambda) p + lambda / Q)^-1 with p the Gaussian-smoothed ab
prior of the training images, scaled so that E_p[w] = 1; and a predicted distribution is decoded with
the annealed mean, softmax(logits / T) . centres.

Rebalancing can also be moved after training (`decode_rebalance`). A network trained with weights w
learns about q(c) ~ w(c) p(c | L), so adding log(w'(c) / w(c)) to its logits gives what weights w' would
have taught it: post-hoc logit adjustment (Menon et al., "Long-tail learning via logit adjustment",
ICLR 2021). One training then serves every trade between the colour that rebalancing brings and the
accuracy it costs, chosen on the validation images.

The arrays here are plain numpy in LAB units (a, b roughly -128..127), so the Keras and the PyTorch
training share them; a network's head predicts Q logits per pixel.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..core.ab_classes import CELL_SPAN, GRID, bin_centres, cell, class_of_cell, nearest_class
from ..core.encoding import AB_OFFSET, AB_SCALE
from ..core.errors import UserError
from ..core.files import write_json
from ..core.params import number, setting
from . import LossInfo, register

SIGMA = 5.0  # ab units: the soft-encoding and prior-smoothing Gaussian
NEIGHBOURS = 5  # class centres each target pixel is spread over
REBALANCE = 0.5  # lambda: the share of the uniform distribution mixed into the prior
TEMPERATURE = 0.38  # the annealed mean's T: 1 is the mean, towards 0 the mode
DECODE_SWEEP = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0)  # the decode_rebalance values evaluation also scores

_SEARCH = np.array([(da, db) for da in range(-2, 3) for db in range(-2, 3)])  # the 5x5 cells around a pixel


def soft_encode(ab: np.ndarray, sigma: float = SIGMA, neighbours: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Each ab (..., 2) spread over its `neighbours` nearest class centres with a Gaussian of `sigma`.

    Returns (classes, weights), both (..., neighbours): int64 class indices and float32 weights that sum
    to 1 per pixel. Sparse, so a batch's targets cost 5 numbers a pixel instead of Q.
    """
    ab = np.asarray(ab, dtype=np.float32)
    flat = ab.reshape(-1, 2)
    candidates = np.clip(cell(flat)[:, None, :] + _SEARCH[None], 0, 2 * CELL_SPAN)
    classes = class_of_cell()[candidates[..., 0], candidates[..., 1]]
    centres = (candidates - CELL_SPAN) * GRID
    distance = np.sum((centres - flat[:, None, :]) ** 2, axis=-1, dtype=np.float32)
    distance[classes < 0] = np.inf
    order = np.argsort(distance, axis=1, kind="stable")[:, :neighbours]
    nearest = np.take_along_axis(distance, order, axis=1)
    classes = np.take_along_axis(classes, order, axis=1)
    far = ~np.isfinite(nearest[:, -1])  # outside sRGB (no photo pixel is): search every class instead
    if far.any():
        everywhere = np.sum((bin_centres()[None] - flat[far, None, :]) ** 2, axis=-1, dtype=np.float32)
        classes[far] = np.argsort(everywhere, axis=1, kind="stable")[:, :neighbours]
        nearest[far] = np.take_along_axis(everywhere, classes[far], axis=1)
    weights = np.exp(-(nearest - nearest[:, :1]) / (2 * sigma**2))  # relative to the nearest: no underflow
    weights /= weights.sum(axis=1, keepdims=True)
    shape = ab.shape[:-1] + (neighbours,)
    return classes.reshape(shape), weights.astype(np.float32).reshape(shape)


@lru_cache(maxsize=1)
def _integer_encodings() -> tuple[np.ndarray, np.ndarray]:
    """`soft_encode` of every integer (a, b) in [-128, 127]^2, indexed by (a + 128) * 256 + (b + 128)."""
    a_value, b_value = np.divmod(np.arange(256 * 256), 256)
    return soft_encode(np.stack([a_value, b_value], axis=-1).astype(np.float32) - AB_OFFSET)


def dense(classes: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """The (..., Q) distribution that `soft_encode`'s sparse (classes, weights) stand for."""
    out = np.zeros(classes.shape[:-1] + (n_classes,), dtype=np.float32)
    np.put_along_axis(out, classes, weights, axis=-1)
    return out


def class_counts(encoded_batches: Iterable[np.ndarray]) -> np.ndarray:
    """Pixels per class over batches of shard-encoded images (..., 3): the counts of the empirical ab prior.

    Counts the 65,536 possible encoded (a, b) byte pairs first, then maps each pair to its class, so the
    shards are read once, in any batch size, at the speed of a histogram.
    """
    pairs = np.zeros(256 * 256, dtype=np.int64)
    for encoded in encoded_batches:
        pair = encoded[..., 1].astype(np.int64) * 256 + encoded[..., 2]
        pairs += np.bincount(pair.ravel(), minlength=pairs.size)
    a_byte, b_byte = np.divmod(np.arange(pairs.size), 256)
    classes = nearest_class(np.stack([a_byte, b_byte], axis=-1) - AB_OFFSET)
    seen = pairs > 0
    if np.any(classes[seen] < 0):
        raise ValueError("encoded ab values outside the sRGB gamut's classes: not shard data")
    return np.bincount(classes[seen], weights=pairs[seen], minlength=len(bin_centres())).astype(np.int64)


def write_prior(path: Path, counts: np.ndarray) -> None:
    """data/prior.json: the class centres and the training images' pixel count per class (atomically)."""
    write_json(
        Path(path),
        {
            "grid": GRID,
            "centres": bin_centres().astype(int).tolist(),
            "counts": np.asarray(counts).astype(int).tolist(),
        },
    )


def read_prior(path: Path) -> np.ndarray:
    """The per-class counts of a prior file, checked against this code's classes."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found: run the prior stage (dvc repro prior)")
    prior = json.loads(path.read_text())
    if prior.get("grid") != GRID or prior.get("centres") != bin_centres().astype(int).tolist():
        raise UserError(f"{path} was made for other ab classes: rerun the prior stage (dvc repro prior)")
    return np.asarray(prior["counts"], dtype=np.int64)


def smoothed_prior(counts: np.ndarray, sigma: float = SIGMA) -> np.ndarray:
    """The empirical class distribution of `counts` (Q,), smoothed with a Gaussian of `sigma` ab units
    over the class centres; sums to 1."""
    centres = bin_centres().astype(np.float64)
    squared = np.sum((centres[:, None, :] - centres[None, :, :]) ** 2, axis=-1)
    kernel = np.exp(-squared / (2 * sigma**2))
    empirical = np.asarray(counts, dtype=np.float64) / max(float(np.sum(counts)), 1.0)
    prior = kernel @ empirical
    return prior / prior.sum()


def rebalancing_weights(prior: np.ndarray, rebalance: float = REBALANCE) -> np.ndarray:
    """Per-class loss weights ((1 - lambda) p + lambda / Q)^-1, scaled so that their mean under `prior` is 1:
    rare, saturated colours weigh more, so the loss stops paying for the common desaturated ones."""
    prior = np.asarray(prior, dtype=np.float64)
    weights = 1.0 / ((1.0 - rebalance) * prior + rebalance / prior.size)
    return (weights / np.sum(prior * weights)).astype(np.float32)


def decode_bias(prior: np.ndarray, rebalance: float, decode_rebalance: float | None) -> np.ndarray | None:
    """Per-class logit offsets log(w_decode / w_trained) that re-weight a network trained with
    rebalancing `rebalance` to `decode_rebalance` (see the module docstring); None when they are equal
    or `decode_rebalance` is None."""
    if decode_rebalance is None or decode_rebalance == rebalance:
        return None
    return np.log(rebalancing_weights(prior, decode_rebalance) / rebalancing_weights(prior, rebalance))


def annealed_mean(logits: np.ndarray, temperature: float = TEMPERATURE, bias: np.ndarray | None = None) -> np.ndarray:
    """ab (..., 2) decoded from per-pixel class logits (..., Q), each class's `bias` added first: the mean
    of the centres under softmax(logits / T), which is the predicted distribution re-normalised after
    raising it to 1/T."""
    return softmax(logits, temperature, bias) @ bin_centres()


def softmax(logits: np.ndarray, temperature: float = 1.0, bias: np.ndarray | None = None) -> np.ndarray:
    """softmax((logits + bias) / T) over the last axis, in float32 and in place: a batch of logits is Q
    numbers a pixel."""
    probabilities = np.array(logits, dtype=np.float32)
    if bias is not None:
        probabilities += np.asarray(bias, dtype=np.float32)
    probabilities /= np.float32(temperature)
    probabilities -= probabilities.max(axis=-1, keepdims=True)
    np.exp(probabilities, out=probabilities)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return probabilities


@register("classification", LossInfo(sweep=("decode_rebalance", DECODE_SWEEP), blocks=True))
class Classification:
    """Q logits per pixel, soft-encoded targets weighted by `class_weights` (uniform when None, e.g. for
    inference), decoded with the annealed mean at `temperature` after adding `class_bias` (None: no
    offsets) to the logits."""

    @dataclass(frozen=True)
    class Args:
        # the annealed mean's T: 1 decodes the mean colour, towards 0 the most likely one
        temperature: float = setting(number(0.0, 10.0), TEMPERATURE, decode_only=True)
        # lambda: weights ((1 - lambda) prior + lambda / Q)^-1 favour rare colours; 1: no rebalancing
        rebalance: float = setting(number(0.0, 1.0, high_included=True), REBALANCE)
        # re-weight the trained network's colours to this lambda when decoding; None: as trained
        decode_rebalance: float | None = setting(
            number(0.0, 1.0, optional=True, high_included=True), None, decode_only=True
        )

    def __init__(
        self,
        class_weights: np.ndarray | None = None,
        temperature: float = TEMPERATURE,
        class_bias: np.ndarray | None = None,
    ):
        self.channels = len(bin_centres())
        self.class_weights = (
            np.ones(self.channels, dtype=np.float32)
            if class_weights is None
            else np.asarray(class_weights, dtype=np.float32)
        )
        self.temperature = temperature
        self.class_bias = None if class_bias is None else np.asarray(class_bias, dtype=np.float32)
        if self.class_bias is not None and self.class_bias.shape != (self.channels,):
            raise ValueError(f"decoding.class_bias has {self.class_bias.size} values for {self.channels} ab classes")
        self._device_tables = None  # torch_targets' lookup tables, on the device of the last batch

    @classmethod
    def for_training(cls, args: "Classification.Args", prior_path: Path) -> "Classification":
        """Weighted by the training images' prior (data/prior.json), decoded at the args' temperature and
        re-weighted to their decode_rebalance."""
        prior = smoothed_prior(read_prior(prior_path))
        return cls(
            rebalancing_weights(prior, args.rebalance),
            args.temperature,
            decode_bias(prior, args.rebalance, args.decode_rebalance),
        )

    @classmethod
    def from_decoding(cls, decoding: dict) -> "Classification":
        bias = decoding.get("class_bias")
        return cls(
            temperature=float(decoding.get("temperature", TEMPERATURE)),
            class_bias=None if bias is None else np.asarray(bias, dtype=np.float32),
        )

    def decoding(self) -> dict:
        """What decoding needs: the temperature, and the logit offsets when there are any (6 decimals)."""
        if self.class_bias is None:
            return {"temperature": self.temperature}
        return {"temperature": self.temperature, "class_bias": [round(float(v), 6) for v in self.class_bias]}

    def targets(self, ab: np.ndarray) -> np.ndarray:
        """(B, H, W, 2 NEIGHBOURS + 1) float32: the soft-encoding's classes, their weights, and the pixel's
        rebalancing weight (that of its nearest class), packed so both frameworks take one array.

        Shard targets hold integer a and b, so their encodings are looked up in a table of all 65,536
        integer pairs; other values are encoded directly."""
        ab = np.asarray(ab, dtype=np.float32) * AB_SCALE
        integral = np.rint(ab)
        if ab.size and np.array_equal(integral, ab) and ab.min() >= -AB_OFFSET and ab.max() < AB_OFFSET:
            pair = (integral[..., 0].astype(np.int64) + 128) * 256 + (integral[..., 1].astype(np.int64) + 128)
            classes, weights = (table[pair] for table in _integer_encodings())
        else:
            classes, weights = soft_encode(ab)
        pixel = self.class_weights[classes[..., 0]]
        return np.concatenate([classes.astype(np.float32), weights, pixel[..., None]], axis=-1)

    def torch_targets(self, ab, block: int = 1):
        """`targets` of shard data (integer a and b) as an NCHW tensor, looked up where `ab` is (a GPU's
        batch never returns to the host): the same table, the same numbers. With `block` > 1, for
        logits repeated over block x block pixels (`LossInfo.blocks`): each block's pixels' targets as
        one soft target of block^2 x NEIGHBOURS classes, weighted by their rebalancing weights, and the
        block's mean weight, so the loss on the block's one logit vector is the loss on its pixels'."""
        import torch

        if self._device_tables is None or self._device_tables[0] != ab.device:
            classes, weights = _integer_encodings()
            self._device_tables = (
                ab.device,
                torch.from_numpy(classes.astype(np.int64)).to(ab.device),
                torch.from_numpy(weights).float().to(ab.device),
                torch.from_numpy(self.class_weights).to(ab.device),
            )
        _, class_table, weight_table, class_weights = self._device_tables
        integral = torch.round(ab * AB_SCALE).long() + int(AB_OFFSET)
        pair = integral[:, 0] * 256 + integral[:, 1]
        classes, weights = class_table[pair], weight_table[pair]
        pixel = class_weights[classes[..., 0]]
        if block > 1:
            batch, height, width, _ = classes.shape
            rows, columns = height // block, width // block

            def blocks(values):  # (B, H, W, C) -> (B, H / block, W / block, block^2 C)
                values = values.reshape(batch, rows, block, columns, block, -1).permute(0, 1, 3, 2, 4, 5)
                return values.reshape(batch, rows, columns, -1)

            total = pixel.reshape(batch, rows, block, columns, block).sum(dim=(2, 4))
            spread = total.repeat_interleave(block, dim=1).repeat_interleave(block, dim=2)
            classes, weights = blocks(classes), blocks(weights * (pixel / spread)[..., None])
            pixel = total / (block * block)
        return torch.cat([classes.float(), weights, pixel[..., None]], dim=-1).permute(0, 3, 1, 2).contiguous()

    def decode(self, output: np.ndarray) -> np.ndarray:
        return annealed_mean(output, self.temperature, self.class_bias) / AB_SCALE

    def distribution(self, output: np.ndarray) -> np.ndarray:
        """What an ensemble averages: each pixel's predicted class distribution (Q,), decode's offsets
        applied, before annealing."""
        return softmax(output, 1.0, self.class_bias)

    def decode_distribution(self, mean: np.ndarray) -> np.ndarray:
        """ab/128 from a mean of `distribution`s: their annealed mean at this loss's temperature."""
        return annealed_mean(np.log(np.maximum(mean, 1e-30)), self.temperature) / AB_SCALE

    def suggestions(self, distribution: np.ndarray, count: int) -> np.ndarray:
        """The centres (LAB units, (n <= count, 2)) of the most likely classes of one pixel's
        `distribution` (Q,), most likely first, each more than one class away from those before it, so
        that the palette offers different colours rather than neighbours of one."""
        centres = bin_centres()
        chosen: list[int] = []
        for index in np.argsort(-np.asarray(distribution), kind="stable"):
            if all(np.abs(centres[index] - centres[other]).max() > GRID for other in chosen):
                chosen.append(int(index))
                if len(chosen) == count:
                    break
        return centres[chosen].astype(np.float32)

    def torch_loss(self, output, target):
        """Rebalanced soft cross-entropy, averaged over pixels; `output` (B, Q, H, W) logits, `target` from
        `torch_targets` (its classes and weights for NEIGHBOURS classes a pixel, or more a block)."""
        neighbours = (target.shape[1] - 1) // 2
        classes, weights, pixel = target[:, :neighbours].long(), target[:, neighbours:-1], target[:, -1]
        return _torch_soft_cross_entropy().apply(output.float(), classes, weights, pixel)

    def keras_loss(self):
        return _keras_soft_cross_entropy()


@lru_cache(maxsize=1)
def _torch_soft_cross_entropy():
    """The rebalanced soft cross-entropy as one autograd function whose gradient is written in its forward
    pass: per pixel, loss = logsumexp(z) - sum_k w_k z_k and d loss / dz = pixel weight x (softmax(z) -
    the soft target) / pixels. Autograd through log_softmax and gather computes the same with several
    more passes over the (B, Q, H, W) logits, the largest tensor of the step (BENCHMARKS.md)."""
    import torch

    class SoftCrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, classes, weights, pixel):
            with torch.no_grad():
                shifted = logits - logits.amax(dim=1, keepdim=True)
                picked = (shifted.gather(1, classes) * weights).sum(dim=1)
                gradient = shifted.exp_()
                total = gradient.sum(dim=1, keepdim=True)
                loss = ((total.squeeze(1).log() - picked) * pixel).mean()
                gradient /= total
                gradient.scatter_add_(1, classes, -weights)
                gradient *= (pixel / pixel.numel()).unsqueeze(1)
            ctx.save_for_backward(gradient)
            return loss

        @staticmethod
        def backward(ctx, grad_output):
            (gradient,) = ctx.saved_tensors
            return gradient * grad_output, None, None, None

    return SoftCrossEntropy


def _keras_soft_cross_entropy():
    """The Keras form of `Classification.torch_loss`, registered so that compiled checkpoints load safely."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="colorization", name="soft_cross_entropy")
    def soft_cross_entropy(target, logits):
        log_probabilities = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        classes = ops.cast(target[..., :NEIGHBOURS], "int32")
        picked = ops.take_along_axis(log_probabilities, classes, axis=-1)
        return -ops.sum(picked * target[..., NEIGHBOURS:-1], axis=-1) * target[..., -1]

    return soft_cross_entropy
