"""Colour conversion between sRGB and CIE LAB (D65), with scikit-image's constants.

`rgb_to_lab` and `lab_to_rgb` convert; `lab_to_rgb_keeping_lightness` brings a predicted colour outside
the sRGB gamut back by reducing its chroma, so its lightness stays. How LAB is stored in the shards and
scaled for the networks is `core.encoding`; its compiled kernel takes this module's tables and `cie_f`.
"""

import warnings

import numba
import numpy as np
from skimage import color as skcolor
from skimage.color.colorconv import rgb_from_xyz

# sRGB -> XYZ (D65) -> LAB with scikit-image's constants, so both paths give the same numbers.
_LEVELS = np.arange(256) / 255.0
LINEAR_OF_LEVEL = np.where(_LEVELS > 0.04045, ((_LEVELS + 0.055) / 1.055) ** 2.4, _LEVELS / 12.92).astype(np.float32)
_XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
WHITE_XYZ_FROM_RGB_T = np.ascontiguousarray((_XYZ_FROM_RGB / _D65_WHITE[:, None]).T, dtype=np.float32)
# LAB from the companded (fx, fy, fz): L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz).
LAB_FROM_F = np.array([[0, 500, 0], [116, -500, 200], [0, 0, -200]], dtype=np.float32)
LAB_OFFSET = np.array([-16, 0, 0], dtype=np.float32)
# CIE f(t) is the cube root above TOE_END and the line TOE_SLOPE * t + TOE_OFFSET below it.
_TOE_END, _TOE_SLOPE, _TOE_OFFSET = np.float32(0.008856), np.float32(7.787), np.float32(16 / 116)


def _companded_xyz(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) to the cube-root-companded, white-normalised XYZ (fx, fy, fz), flat (N, 3)."""
    xyz = LINEAR_OF_LEVEL.take(rgb.reshape(-1, 3)) @ WHITE_XYZ_FROM_RGB_T
    f = np.cbrt(xyz)
    near_black = xyz <= _TOE_END
    f[near_black] = xyz[near_black] * _TOE_SLOPE + _TOE_OFFSET
    return f


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8, or float in [0, 1]) of shape (..., 3) to float32 LAB (D65).

    uint8 input, the common case in prepare, takes a float32 path several times faster than
    skimage.color.rgb2lab (a 256-entry table for the sRGB curve, two 3x3 products, one cube root);
    it agrees with it within 1e-3.
    """
    if rgb.dtype != np.uint8:
        return skcolor.rgb2lab(rgb).astype(np.float32)
    lab = _companded_xyz(rgb) @ LAB_FROM_F
    lab += LAB_OFFSET
    return lab.reshape(rgb.shape)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def cie_f(t):
    """CIE LAB's f: the cube root (range reduction to [1/8, 1], then two Halley steps; within 2.3e-7 of
    the exact root, 3 float32 steps), or its linear toe near black; branch-free, so the compiler
    vectorizes it."""
    low = t < np.float32(1 / 64)
    reduced = t * np.float32(64) if low else t
    scale = np.float32(0.25) if low else np.float32(1)
    middle = reduced < np.float32(0.125)
    reduced = reduced * np.float32(8) if middle else reduced
    scale = scale * np.float32(0.5) if middle else scale
    root = np.float32(0.4873) + reduced * (np.float32(0.7337) - reduced * np.float32(0.2222))
    for _ in range(2):
        cube = root * root * root
        root = root * (cube + np.float32(2) * reduced) / (np.float32(2) * cube + reduced)
    toe = t * _TOE_SLOPE + _TOE_OFFSET
    return root * scale if t > _TOE_END else toe


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """LAB of shape (..., 3) to float32 sRGB in [0, 1], clipping colours outside the gamut.

    Predicted ab can leave the sRGB gamut; clipping is the intended handling, so skimage's warning
    about it is silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*negative Z values", category=UserWarning)
        rgb = skcolor.lab2rgb(lab.astype(np.float64))
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


GAMUT_TOLERANCE = 0.5 / 255.0  # half an 8-bit step: clipping this much changes L by under 0.2
GAMUT_SEARCH_STEPS = 8  # bisection steps on the chroma factor: within 1/256 (under 0.5 in chroma) of the edge
# The gamut [-tolerance, 1 + tolerance] of sRGB values, in linear RGB (the sRGB curve is monotonic), so
# the search needs no gamma curve.
_LINEAR_LOW = -GAMUT_TOLERANCE / 12.92
_LINEAR_HIGH = ((1.0 + GAMUT_TOLERANCE + 0.055) / 1.055) ** 2.4
# skimage's XYZ -> linear sRGB matrix with its D65 white folded in: linear RGB = M @ (f^-1(fx), Y, f^-1(fz)).
_LINEAR_FROM_F = (rgb_from_xyz * skcolor.xyz_tristimulus_values(illuminant="D65", observer="2")).T.astype(np.float32)


def _f_inverse(t: np.ndarray) -> np.ndarray:
    """Inverse of CIE LAB's f, with skimage's constants."""
    return np.where(t > 0.2068966, t * t * t, (t - _TOE_OFFSET) / _TOE_SLOPE)


def _linear_rgb(fy: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Linear RGB (n, 3) as skimage's lab2rgb computes it before its gamma curve and its clip to [0, 1],
    from fy = (L + 16) / 116, y = f^-1(fy), a / 500 and b / 200 (skimage also clips fz at 0)."""
    x = _f_inverse(fy + a)
    z = _f_inverse(np.maximum(fy - b, 0.0))
    linear = np.empty((len(fy), 3), dtype=np.float32)
    for channel, (from_x, from_y, from_z) in enumerate(_LINEAR_FROM_F.T):  # faster than a (n, 3) @ (3, 3) matmul
        linear[:, channel] = from_x * x + from_y * y + from_z * z
    return linear


def _fits(linear: np.ndarray) -> np.ndarray:
    return ((linear >= _LINEAR_LOW) & (linear <= _LINEAR_HIGH)).all(axis=-1)


def lab_to_rgb_keeping_lightness(lab: np.ndarray) -> np.ndarray:
    """LAB (..., 3) to float32 sRGB in [0, 1] whose L is the given L.

    Clipping each RGB channel of a colour outside the sRGB gamut changes its lightness. Instead, each
    such colour keeps its L and hue and has its chroma scaled down (bisection on the factor applied to
    a and b) to the largest that fits; the grey of the same L always fits. Inside the gamut the result
    is skimage's lab2rgb; computed in float32.
    """
    lab = np.asarray(lab, dtype=np.float32)
    flat = lab.reshape(-1, 3)
    fy = (flat[:, 0] + np.float32(16.0)) / np.float32(116.0)
    y = _f_inverse(fy)
    a, b = flat[:, 1] / np.float32(500.0), flat[:, 2] / np.float32(200.0)
    linear = _linear_rgb(fy, y, a, b)
    outside = ~_fits(linear)
    if outside.any():
        fy, y, a, b = fy[outside], y[outside], a[outside], b[outside]
        low = np.zeros(len(fy), dtype=np.float32)
        high = np.ones(len(fy), dtype=np.float32)
        for _ in range(GAMUT_SEARCH_STEPS):
            middle = (low + high) / 2
            fits = _fits(_linear_rgb(fy, y, a * middle, b * middle))
            low = np.where(fits, middle, low)
            high = np.where(fits, high, middle)
        linear[outside] = _linear_rgb(fy, y, a * low, b * low)
    gamma = 1.055 * np.power(np.maximum(linear, 0.0031308), 1 / 2.4) - 0.055
    rgb = np.where(linear > 0.0031308, gamma, 12.92 * linear)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32).reshape(lab.shape)
