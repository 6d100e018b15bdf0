"""Colour conversion between sRGB and CIE LAB (D65), with scikit-image's constants.

`rgb_to_lab` and `lab_to_rgb` convert; `lab_to_rgb_keeping_lightness` brings a predicted colour outside
the sRGB gamut back by reducing its chroma, so its lightness stays. How LAB is stored in the shards and
scaled for the networks is `core.encoding`; its compiled kernel takes this module's tables and `cie_f`.
"""

import os
import warnings
from concurrent.futures import ThreadPoolExecutor

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


# The fused full-resolution path: L of a uint8 photo, and upsampled ab recombined with L to uint8 sRGB, one
# pass over the pixels each. Kernels run over strips of rows in `_over_strips`' threads (numba releases
# the GIL), so both cores work and only a row of scratch memory is needed.
_WHITE_Y_FROM_RGB = np.ascontiguousarray(WHITE_XYZ_FROM_RGB_T[:, 1])


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _lightness_rows(rgb, top, out):
    """out[r] = L of rgb[top + r] (uint8 (H, W, 3) -> float32 (rows, W)): Y from the sRGB curve's table,
    then 116 f(Y) - 16, as `rgb_to_lab`'s uint8 path computes it."""
    for r in range(out.shape[0]):
        row = rgb[top + r]
        for x in range(out.shape[1]):
            y = (
                LINEAR_OF_LEVEL[row[x, 0]] * _WHITE_Y_FROM_RGB[0]
                + LINEAR_OF_LEVEL[row[x, 1]] * _WHITE_Y_FROM_RGB[1]
                + LINEAR_OF_LEVEL[row[x, 2]] * _WHITE_Y_FROM_RGB[2]
            )
            out[r, x] = np.float32(116) * cie_f(y) - np.float32(16)


_LEVEL_TABLE_SIZE = 4096  # linear values 0-1 in bins: each spans under one 8-bit sRGB level (at most 0.81)
_levels = np.arange(257, dtype=np.float64)
_encoded = np.clip((_levels - 0.5) / 255.0, 0.0, None)
# The linear value from which each 8-bit sRGB level is the nearest (level 0: from minus infinity; 256:
# never, so that level 255 + 1 can be compared with).
_LEVEL_STARTS = np.where(_encoded <= 0.04045, _encoded / 12.92, ((_encoded + 0.055) / 1.055) ** 2.4)
_LEVEL_STARTS[0], _LEVEL_STARTS[256] = -np.inf, np.inf
_LEVEL_STARTS = _LEVEL_STARTS.astype(np.float32)
# The level at the start of each bin; a bin holds at most one level's start, so one comparison with
# _LEVEL_STARTS finishes the job.
_LEVEL_OF_BIN = (
    np.searchsorted(_LEVEL_STARTS, np.arange(_LEVEL_TABLE_SIZE) / _LEVEL_TABLE_SIZE, side="right") - 1
).astype(np.int32)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _level(linear):
    """The 8-bit sRGB level nearest to a linear value (clipped to 0-255): rint(255 * sRGB curve), without
    branches, so that a row of them runs in SIMD lanes."""
    bin_ = min(max(np.int32(linear * np.float32(_LEVEL_TABLE_SIZE)), np.int32(0)), np.int32(_LEVEL_TABLE_SIZE - 1))
    level = _LEVEL_OF_BIN[bin_]
    return np.uint8(level + np.int32(linear >= _LEVEL_STARTS[level + 1]))


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _f_inverse_one(t):
    return t * t * t if t > np.float32(0.2068966) else (t - _TOE_OFFSET) * np.float32(1 / 7.787)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _linear_channel(x, y, z, channel):
    """One linear sRGB channel of (f^-1(fx), Y, f^-1(fz)), as `_linear_rgb` computes it."""
    return _LINEAR_FROM_F[0, channel] * x + _LINEAR_FROM_F[1, channel] * y + _LINEAR_FROM_F[2, channel] * z


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _fits_one(fy, y, a, b):
    """Whether LAB (fy, y = f^-1(fy), a / 500, b / 200) is inside the sRGB gamut, as `_fits`."""
    x = _f_inverse_one(fy + a)
    z = _f_inverse_one(max(fy - b, np.float32(0)))
    for channel in range(3):
        value = _linear_channel(x, y, z, channel)
        if value < _LINEAR_LOW or value > _LINEAR_HIGH:
            return False
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _resample_columns(ab, column_taps, column_weights, top, out):
    """out[r] = ab's row top + r (h, w, 2) resampled to out's width (`bicubic_taps`), planar (rows, 2, W):
    the horizontal half of the upsampling, done once per row of the small ab rather than per output row."""
    for r in range(out.shape[0]):
        row = ab[top + r]
        for x in range(out.shape[2]):
            a = b = np.float32(0)
            for k in range(column_taps.shape[1]):
                weight, source = column_weights[x, k], column_taps[x, k]
                a += weight * row[source, 0]
                b += weight * row[source, 1]
            out[r, 0, x], out[r, 1, x] = a, b


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _colour_rows(lightness, wide_ab, row_taps, row_weights, top, out):
    """out[r] = uint8 sRGB of lightness[top + r] with the column-resampled ab (h, 2, W) resampled to its
    rows, as `lab_to_rgb_keeping_lightness` of the resampled ab: output row y takes rows row_taps[y]
    with row_weights[y] (`bicubic_taps`). Per row, in planar scratch rows so that each step runs in SIMD
    lanes: the vertical resampling, the conversion to linear RGB and the gamut test; only the colours
    outside the gamut take the bisection; then each value's 8-bit level."""
    width = out.shape[1]
    a_row = np.empty(width, dtype=np.float32)
    b_row = np.empty(width, dtype=np.float32)
    fy_row = np.empty(width, dtype=np.float32)
    y_row = np.empty(width, dtype=np.float32)
    linear = np.empty((3, width), dtype=np.float32)
    outside = np.empty(width, dtype=np.bool_)
    levels = np.empty((3, width), dtype=np.uint8)
    a_scale, b_scale = np.float32(1 / 500), np.float32(1 / 200)
    for r in range(out.shape[0]):
        y_out = top + r
        a_row[:] = 0
        b_row[:] = 0
        for k in range(row_taps.shape[1]):
            weight, source = row_weights[y_out, k], row_taps[y_out, k]
            for x in range(width):
                a_row[x] += weight * wide_ab[source, 0, x]
                b_row[x] += weight * wide_ab[source, 1, x]
        for x in range(width):
            fy = (lightness[y_out, x] + np.float32(16)) * np.float32(1 / 116)
            a, b = a_row[x] * a_scale, b_row[x] * b_scale
            fy_row[x], a_row[x], b_row[x] = fy, a, b
            y_row[x] = _f_inverse_one(fy)
            fx = _f_inverse_one(fy + a)
            fz = _f_inverse_one(max(fy - b, np.float32(0)))
            for channel in range(3):
                linear[channel, x] = _linear_channel(fx, y_row[x], fz, channel)
        any_outside = False
        for x in range(width):
            low_ = min(min(linear[0, x], linear[1, x]), linear[2, x])
            high_ = max(max(linear[0, x], linear[1, x]), linear[2, x])
            outside[x] = (low_ < _LINEAR_LOW) | (high_ > _LINEAR_HIGH)
            any_outside |= outside[x]
        if any_outside:
            for x in range(width):
                if outside[x]:
                    fy, y, a, b = fy_row[x], y_row[x], a_row[x], b_row[x]
                    low, high = np.float32(0), np.float32(1)
                    for _ in range(GAMUT_SEARCH_STEPS):
                        middle = (low + high) * np.float32(0.5)
                        if _fits_one(fy, y, a * middle, b * middle):
                            low = middle
                        else:
                            high = middle
                    fx = _f_inverse_one(fy + a * low)
                    fz = _f_inverse_one(max(fy - b * low, np.float32(0)))
                    for channel in range(3):
                        linear[channel, x] = _linear_channel(fx, y, fz, channel)
        for channel in range(3):
            for x in range(width):
                levels[channel, x] = _level(linear[channel, x])
        for x in range(width):
            for channel in range(3):
                out[r, x, channel] = levels[channel, x]


def bicubic_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Which `source` samples, with which weights, make each of `target` samples of a bicubic resampling
    (a = -0.5, widened when shrinking, edges renormalised): Pillow's resize coefficients, so the fused
    path gives `resize_plane`'s values. Returns (target, taps) int64 indices and float32 weights."""
    scale = source / target
    support = 2.0 * max(scale, 1.0)
    centres = (np.arange(target) + 0.5) * scale
    first = np.maximum((centres - support + 0.5).astype(np.int64), 0)
    last = np.minimum((centres + support + 0.5).astype(np.int64), source)
    taps = first[:, None] + np.arange(int(np.ceil(support)) * 2 + 1)[None, :]
    distance = np.abs((taps - centres[:, None] + 0.5) / max(scale, 1.0))
    cubic = np.where(
        distance < 1,
        (1.5 * distance - 2.5) * distance * distance + 1,
        ((distance - 5) * distance + 8) * distance * -0.5 + 2,
    )
    weights = np.where((distance < 2) & (taps < last[:, None]), cubic, 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    return np.minimum(taps, source - 1), weights.astype(np.float32)


_pools: dict[int, ThreadPoolExecutor] = {}


def _over_strips(kernel, out: np.ndarray, *inputs) -> np.ndarray:
    """Run kernel(*inputs, top, out[top:bottom]) over strips of `out`'s rows in a thread per core (one pool
    per process, so a forked worker makes its own)."""
    threads = len(os.sched_getaffinity(0))
    pool = _pools.get(os.getpid())
    if pool is None:
        pool = _pools[os.getpid()] = ThreadPoolExecutor(threads, thread_name_prefix="colour")
    bounds = np.linspace(0, len(out), min(4 * threads, len(out)) + 1).astype(int)
    for done in [pool.submit(kernel, *inputs, top, out[top:bottom]) for top, bottom in zip(bounds, bounds[1:])]:
        done.result()
    return out


def lightness_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """L (float32 (H, W), 0-100) of uint8 sRGB (H, W, 3); within 1e-3 of `rgb_to_lab`'s."""
    rgb = np.ascontiguousarray(rgb)
    return _over_strips(_lightness_rows, np.empty(rgb.shape[:2], dtype=np.float32), rgb)


def colour_at_lightness(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """uint8 sRGB (H, W, 3) of a full-resolution L (H, W) and ab (h, w, 2) of any size, resampled to L's
    size: in one pass, the values of resizing ab with `bicubic_taps` and converting with
    `lab_to_rgb_keeping_lightness`, within one 8-bit level."""
    height, width = lightness.shape
    rows, row_weights = bicubic_taps(ab.shape[0], height)
    columns, column_weights = bicubic_taps(ab.shape[1], width)
    wide = _over_strips(
        _resample_columns,
        np.empty((ab.shape[0], 2, width), dtype=np.float32),
        np.ascontiguousarray(ab, dtype=np.float32),
        columns,
        column_weights,
    )
    return _over_strips(
        _colour_rows,
        np.empty((height, width, 3), dtype=np.uint8),
        np.ascontiguousarray(lightness, dtype=np.float32),
        wide,
        rows,
        row_weights,
    )
