"""What a network is trained to minimise, and how its raw output becomes ab: one module per loss.

A loss is an object with `channels` (the network's output channels per pixel), `targets(ab)` (what the
framework loss is fed, from the ab/128 batch (B, H, W, 2)) and `torch_targets(ab)` (the same from an
NCHW tensor of shard data, where it is, a GPU included), `decode(output)` (ab/128 from the network's
raw NHWC output) and the framework losses `torch_loss(output, target)` (NCHW tensors) and
`keras_loss()`. Its class makes it for a training (`from_params(params, prior_path)`) or from the
`settings()` a saved model's config.json keeps (`from_settings`), and names what in params changes the
trained weights (`training_settings(params)`, part of the checkpoint fingerprint). The engines call them, so the training loop, the checkpoints, evaluation and `colorize`
never see which loss a network was trained with. A loss may also name `frameworks` (those whose
architectures it can train; default all), Adam's `betas`, and an `adversary(lr, device)`: a learned
loss the PyTorch engine trains beside the network, from the epochs `adversarial_from(epoch)` says (the
GAN's discriminator). Adding a loss is one module plus one line in LOSSES.
"""

import importlib

LOSSES: dict[str, str] = {  # loss name -> the class in losses/<name>.py
    "mse": "MSE",
    "classification": "Classification",
    "gan": "GAN",
}


def loss_class(name: str):
    """The class of loss `name` (a key of LOSSES)."""
    return getattr(importlib.import_module(f"{__name__}.{name}"), LOSSES[name])
