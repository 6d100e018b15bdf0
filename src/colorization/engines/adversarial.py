"""A learned loss's adversary, trained beside the colorizer by the PyTorch engine: the discriminator the
loss names (`LossInfo.adversary`, an architecture), its Adam optimizer, and the two optimizer steps'
mechanics. What each network minimises is the loss's (`discriminator_loss`, `generator_objective`)."""

import torch

from ..architectures import ARCHITECTURES


class Adversary:
    """The discriminator with its optimizer, trained on the same batches as the generator."""

    def __init__(self, loss, lr: float, device: torch.device):
        self.loss = loss
        self.module = ARCHITECTURES[loss.info.adversary].build(l_mean=0.0, l_std=1.0, outputs=1).to(device)
        self.forward = self.module  # what the discriminator's steps call: the module, or its DDP wrapper
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=lr, betas=loss.info.betas)

    def discriminator_step(self, l_input: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor) -> float:
        """One optimizer step of the discriminator on the true and the (detached) generated colours.
        Returns its loss."""
        self.module.train()
        self.optimizer.zero_grad(set_to_none=True)
        real = self.forward(torch.cat([l_input, real_ab], dim=1))
        fake = self.forward(torch.cat([l_input, fake_ab.detach()], dim=1))
        loss = self.loss.discriminator_loss(real, fake)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def generator_objective(
        self, l_input: torch.Tensor, fake_ab: torch.Tensor, reconstruction: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        """The generator's loss given its `reconstruction` term, and the adversarial part. Its gradient
        flows to the generator only (so it calls the module itself: its DDP wrapper would wait for its
        gradients)."""
        self.module.requires_grad_(False)
        try:
            logits = self.module(torch.cat([l_input, fake_ab], dim=1))
        finally:
            self.module.requires_grad_(True)
        objective, adversarial = self.loss.generator_objective(logits, reconstruction)
        return objective, float(adversarial.detach())

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])

    def set_learning_rate(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
