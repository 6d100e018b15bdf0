"""Registry of architectures: one module per architecture, one entry here.

Each module defines `build(l_mean, l_std)` returning an untrained network that maps the model input
L/100 of shape (B, H, W, 1) (NCHW (B, 1, H, W) for PyTorch) to ab/128 of the same height and width.
`l_mean` and `l_std` are the training set's statistics of that input, for networks that standardize it.
To add an architecture: write `models/<name>.py`, add `<name>: <framework>` here and an entry under
`models:` in params.yaml.
"""

import importlib

ARCHITECTURES: dict[str, str] = {
    "cnn_v1": "keras",
    "cnn_v2": "keras",
    "resnet18": "torch",
}


def build(arch: str, l_mean: float, l_std: float):
    """A fresh network of architecture `arch`."""
    module = importlib.import_module(f"{__name__}.{arch}")
    return module.build(l_mean=l_mean, l_std=l_std)
