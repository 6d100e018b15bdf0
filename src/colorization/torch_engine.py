"""Training and inference of PyTorch architectures, taking and returning NHWC numpy batches."""

import os
import random
from pathlib import Path

import numpy as np
import torch

from .files import atomic_path
from .models import build

MODEL_FILE = "model.pt"


def seed(value: int) -> None:
    """Seed Python, NumPy and PyTorch, and make PyTorch's kernels deterministic."""
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(os.cpu_count() or 1)


def _to_tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))


class TorchNetwork:
    """A PyTorch module with an Adam optimizer and MSE loss on ab/128."""

    def __init__(self, module: torch.nn.Module, lr: float | None = None):
        self.module = module
        self.optimizer = torch.optim.Adam(module.parameters(), lr=lr) if lr is not None else None

    def train_step(self, l_input: np.ndarray, ab_target: np.ndarray) -> float:
        self.module.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(self.module(_to_tensor(l_input)), _to_tensor(ab_target))
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def predict(self, l_input: np.ndarray) -> np.ndarray:
        self.module.eval()
        with torch.inference_mode():
            output = self.module(_to_tensor(l_input))
        return output.numpy().transpose(0, 2, 3, 1).astype(np.float32)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.module.parameters() if p.requires_grad)

    def save(self, directory: Path) -> None:
        with atomic_path(directory / MODEL_FILE) as temporary:
            torch.save(self.module.state_dict(), temporary)


def load(directory: Path, arch: str) -> TorchNetwork:
    """Rebuild `arch` and load its state dict with weights_only=True, so a crafted pickle cannot run code."""
    module = build(arch, l_mean=0.0, l_std=1.0)
    module.load_state_dict(torch.load(directory / MODEL_FILE, map_location="cpu", weights_only=True))
    return TorchNetwork(module)
