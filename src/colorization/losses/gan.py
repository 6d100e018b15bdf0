"""A conditional GAN, as in pix2pix (Isola, Zhu, Zhou and Efros, "Image-to-Image Translation with
Conditional Adversarial Networks", CVPR 2017): the colorizer is the generator; a PatchGAN discriminator
sees the lightness with either the true or the generated ab, (L, ab), and says for each overlapping
patch whether it is real. The generator minimises the adversarial loss plus L1_WEIGHT x L1 to the truth;
both networks use Adam with BETAS, at the model's learning rate (pix2pix: 2e-4).

The discriminator is a learned loss, so it lives here; the PyTorch engine trains it beside the
colorizer (`adversary`) and keeps both networks and both optimizers in its checkpoints. With
`warmup_epochs`, the generator first trains on L1 alone and the adversary joins afterwards (the "NoGAN"
idea of DeOldify: a pretrained generator gives the discriminator something sensible to learn from).
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

L1_WEIGHT = 100.0
BETAS = (0.5, 0.999)
DISCRIMINATOR_WIDTHS = (32, 64, 128, 256)  # pix2pix's 64..512 halved, as for the U-Net


MINIMUM_SIDE = 32  # the smallest input the three stride-2 layers and two 4x4 heads can score


class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN ("basic", three stride-2 layers): 4x4 convolutions from (L/100, ab/128), 3
    channels, to one logit per 70x70-pixel patch; BatchNorm on all but the first layer and the head.
    Images smaller than MINIMUM_SIDE are edge-padded to it."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for index, width in enumerate(DISCRIMINATOR_WIDTHS):
            stride = 2 if index < len(DISCRIMINATOR_WIDTHS) - 1 else 1
            layers.append(nn.Conv2d(in_channels, width, 4, stride=stride, padding=1, bias=index == 0))
            if index:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2))
            in_channels = width
        layers.append(nn.Conv2d(in_channels, 1, 4, stride=1, padding=1))
        self.layers = nn.Sequential(*layers)

    def forward(self, l_ab: torch.Tensor) -> torch.Tensor:
        height, width = l_ab.shape[-2:]
        pad_h, pad_w = max(0, MINIMUM_SIDE - height), max(0, MINIMUM_SIDE - width)
        if pad_h or pad_w:
            l_ab = functional.pad(l_ab, (0, pad_w, 0, pad_h), mode="replicate")
        return self.layers(l_ab)


def _adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """pix2pix's "vanilla" GAN loss: binary cross-entropy of every patch's logit against real or fake."""
    labels = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return functional.binary_cross_entropy_with_logits(logits, labels)


class Adversary:
    """The discriminator with its Adam optimizer, trained on the same batches as the generator, and the
    generator's objective it defines: adversarial + `l1_weight` x the loss's own L1."""

    def __init__(self, lr: float, device: torch.device, l1_weight: float):
        self.module = PatchDiscriminator().to(device)
        self.forward = self.module   # what the discriminator's steps call: the module, or its DDP wrapper
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=lr, betas=BETAS)
        self.l1_weight = l1_weight

    def discriminator_step(self, l_input: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor) -> float:
        """One optimizer step of the discriminator on the true and the (detached) generated colours;
        halved as in pix2pix, so it learns at half the generator's pace. Returns its loss."""
        self.module.train()
        self.optimizer.zero_grad(set_to_none=True)
        real = self.forward(torch.cat([l_input, real_ab], dim=1))
        fake = self.forward(torch.cat([l_input, fake_ab.detach()], dim=1))
        loss = 0.5 * (_adversarial(real, True) + _adversarial(fake, False))
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def generator_objective(self, l_input: torch.Tensor, fake_ab: torch.Tensor,
                            reconstruction: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The generator's loss, adversarial + l1_weight x `reconstruction`, and its adversarial part:
        how far the discriminator is from taking the generated colours for real. Its gradient flows to
        the generator only (so it calls the module itself: its DDP wrapper would wait for its gradients)."""
        self.module.requires_grad_(False)
        try:
            adversarial = _adversarial(self.module(torch.cat([l_input, fake_ab], dim=1)), True)
        finally:
            self.module.requires_grad_(True)
        return adversarial + self.l1_weight * reconstruction, float(adversarial.detach())

    def distribute(self, device_ids: list[int] | None) -> None:
        """Average the discriminator's gradients over the process group's workers, as the generator's."""
        if self.module.layers[0].weight.is_cuda:
            self.module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.module)
        self.forward = torch.nn.parallel.DistributedDataParallel(self.module, device_ids=device_ids)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr


class GAN:
    """The loss object (see `colorization.losses`): ab/128 regressed by the generator, scored per pixel
    by L1 (its validation loss); the adversary adds the rest of the objective while training."""

    name = "gan"
    channels = 2
    frameworks = ("torch",)
    betas = BETAS

    def __init__(self, l1_weight: float = L1_WEIGHT, warmup_epochs: int = 0):
        self.l1_weight = l1_weight
        self.warmup_epochs = warmup_epochs

    @classmethod
    def from_params(cls, params, prior_path: Path) -> "GAN":
        return cls(params.gan.l1_weight, params.gan.warmup_epochs)

    @classmethod
    def from_settings(cls, settings: dict) -> "GAN":
        return cls()

    @staticmethod
    def training_settings(params) -> dict:
        return {"l1_weight": params.gan.l1_weight, "warmup_epochs": params.gan.warmup_epochs}

    def settings(self) -> dict:
        return {}

    def adversarial_from(self, epoch: int) -> bool:
        """Whether the adversary trains in `epoch` (0-based): after the L1-only warm-up."""
        return epoch >= self.warmup_epochs

    def adversary(self, lr: float, device: torch.device) -> Adversary:
        return Adversary(lr, device, self.l1_weight)

    def targets(self, ab: np.ndarray) -> np.ndarray:
        return ab

    def torch_targets(self, ab: torch.Tensor) -> torch.Tensor:
        return ab

    def decode(self, output: np.ndarray) -> np.ndarray:
        return output

    def torch_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean absolute error of ab/128: the part of the objective that compares with the truth."""
        return functional.l1_loss(output, target)

    def keras_loss(self):
        raise NotImplementedError("the GAN trains PyTorch architectures only")
