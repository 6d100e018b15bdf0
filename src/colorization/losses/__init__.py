"""What a network is trained to minimise, and how its raw output becomes ab: one module per loss, each
registered where it is defined (`@register`) with what it needs in one small dataclass (`LossInfo`).

A loss class has `Args`, a dataclass of its settings (a model entry's `loss_args`, each field checked
where it is declared; `decode_only` marks those that change only how the output is decoded, so changing
them re-saves a trained model without retraining it), and is made for a training by
`for_training(args, prior_path)` (prior_path: the training images' ab prior, data/prior.json) or, for
inference, from the `decoding()` a saved model's config.json keeps (`from_decoding`).

A loss object has `channels` (the network's output channels per pixel), `targets(ab)` (what the
framework loss is fed, from an ab/128 batch (B, H, W, 2)) and `torch_targets(ab)` (the same from an NCHW
tensor of shard data, where it is, a GPU included), `decode(output)` (ab/128 from the network's raw NHWC
output), `distribution(output)` and `decode_distribution(mean)` (what an ensemble averages over its
members -- a classification's class distributions, a regression's ab itself -- and the ab of that
mean), `suggestions(distribution, count)` (the most likely ab of one pixel's distribution, for the
page's palette), and the framework losses `torch_loss(output, target)` (NCHW tensors) and `keras_loss()`. The
engines call them, so the training loop, the checkpoints, evaluation and `colorize` never see which
loss a network was trained with. A loss with an adversary also says when it trains
(`adversarial_from(epoch)`) and what the two networks minimise (`discriminator_loss`,
`generator_objective`); the PyTorch engine trains it (`engines/adversarial.py`).
"""

from dataclasses import dataclass

from ..core.errors import UserError


@dataclass(frozen=True)
class LossInfo:
    """What a loss needs from the engines."""

    frameworks: tuple[str, ...] = ("keras", "torch")  # the engines whose architectures it can train
    adversary: str | None = None  # the architecture of a discriminator trained beside the network
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's (its defaults; the GAN's are pix2pix's)
    # a decode-only setting and the values evaluation also decodes a trained model at, without
    # retraining it: the curve of what that setting trades (`evaluation.metrics.decoding_curve`)
    sweep: tuple[str, tuple[float, ...]] | None = None
    # can train on the output of an architecture's head before its final nearest upsampling
    # (`Architecture.upsample`), with `torch_targets(ab, block)` summed over each block: the same loss
    # and gradient for a block's fraction of the work
    blocks: bool = False


LOSSES: dict[str, type] = {}


def register(name: str, info: LossInfo = LossInfo()):
    """Class decorator: registers a loss under `name`, with its `info`."""

    def decorator(cls: type) -> type:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is registered twice")
        cls.name, cls.info = name, info
        LOSSES[name] = cls
        return cls

    return decorator


def get(name: str, where: str = "loss") -> type:
    """The class of loss `name`, or a UserError naming `where` the name came from and what is allowed."""
    if name not in LOSSES:
        raise UserError(f"{where} = {name!r}: unknown loss; allowed: {', '.join(LOSSES)}")
    return LOSSES[name]


from . import mse, classification, gan  # noqa: E402, F401, I001  the built-in ones register themselves, in this order
