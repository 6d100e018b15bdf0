"""Colour conversion between RGB and CIE LAB, and the compact encoding the shards store.

Shard encoding (the single place it is defined): an image is a uint8 array (H, W, 3), channels last,
    channel 0: round(L * 255 / 100)     L in [0, 100]        step 0.39, worst error 0.2 L units
    channel 1: round(a) + 128           a in [-128, 127]     step 1,    worst error 0.5 LAB units
    channel 2: round(b) + 128           b in [-128, 127]     step 1,    worst error 0.5 LAB units
3 bytes a pixel instead of 12 for float32 LAB. Every sRGB colour has a, b within [-128, 127].

Model scaling (the same for every architecture, so their losses are comparable):
    input  = L / 100     in [0, 1],   shape (..., H, W, 1)
    target = ab / 128    in [-1, 1),  shape (..., H, W, 2)
"""

import warnings

import numpy as np
from skimage import color as skcolor

L_STEPS = 255.0 / 100.0
AB_OFFSET = 128.0
AB_SCALE = 128.0


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8, or float in [0, 1]) of shape (..., 3) to float32 LAB (D65)."""
    return skcolor.rgb2lab(rgb).astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """LAB of shape (..., 3) to float32 sRGB in [0, 1], clipping colours outside the gamut.

    Predicted ab can leave the sRGB gamut; clipping is the intended handling, so skimage's warning
    about it is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*negative Z values", category=UserWarning)
        rgb = skcolor.lab2rgb(lab.astype(np.float64))
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def encode_lab(lab: np.ndarray) -> np.ndarray:
    """Float LAB (..., 3) to the uint8 shard encoding described in this module's docstring."""
    encoded = np.empty(lab.shape, dtype=np.uint8)
    encoded[..., 0] = np.clip(np.rint(lab[..., 0] * L_STEPS), 0, 255)
    encoded[..., 1:] = np.clip(np.rint(lab[..., 1:] + AB_OFFSET), 0, 255)
    return encoded


def decode_lab(encoded: np.ndarray) -> np.ndarray:
    """uint8 shard encoding (..., 3) back to float32 LAB."""
    lab = encoded.astype(np.float32)
    lab[..., 0] /= L_STEPS
    lab[..., 1:] -= AB_OFFSET
    return lab


def model_input(encoded: np.ndarray) -> np.ndarray:
    """Encoded images (..., H, W, 3) to the network input L / 100, shape (..., H, W, 1), float32."""
    return encoded[..., :1].astype(np.float32) / (L_STEPS * 100.0)


def model_target(encoded: np.ndarray) -> np.ndarray:
    """Encoded images (..., H, W, 3) to the network target ab / 128, shape (..., H, W, 2), float32."""
    return (encoded[..., 1:].astype(np.float32) - AB_OFFSET) / AB_SCALE


def lab_from_model(l_input: np.ndarray, ab_output: np.ndarray) -> np.ndarray:
    """Recombine network-scaled L (..., 1) and ab (..., 2) into LAB (..., 3) in LAB units."""
    return np.concatenate([l_input * 100.0, ab_output * AB_SCALE], axis=-1).astype(np.float32)
