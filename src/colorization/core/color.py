"""Colour conversion between RGB and CIE LAB, and the compact encoding the shards store.

Shard encoding (the single place it is defined): an image is a uint8 array (H, W, 3), channels last,
    channel 0: round(L * 255 / 100)     L in [0, 100]        step 0.39, worst error 0.2 L units
    channel 1: round(a + 128)           a in [-128, 127]     step 1,    worst error 0.5 LAB units
    channel 2: round(b + 128)           b in [-128, 127]     step 1,    worst error 0.5 LAB units
(round = floor(x + 0.5), values clipped to 0..255).
3 bytes a pixel instead of 12 for float32 LAB. Every sRGB colour has a, b within [-128, 127].

Model scaling (the same for every architecture, so their losses are comparable):
    input  = L / 100     in [0, 1],   shape (..., H, W, 1)
    target = ab / 128    in [-1, 1),  shape (..., H, W, 2)
"""

import warnings

import numba
import numpy as np
from skimage import color as skcolor
from skimage.color.colorconv import rgb_from_xyz

L_STEPS = 255.0 / 100.0
AB_OFFSET = 128.0
AB_SCALE = 128.0
_ENCODE_SCALE = np.array([L_STEPS, 1, 1], dtype=np.float32)
_ENCODE_OFFSET = np.array([0, AB_OFFSET, AB_OFFSET], dtype=np.float32)  # rounding: floor(x + 0.5)

# sRGB -> XYZ (D65) -> LAB with scikit-image's constants, so both paths give the same numbers.
_LEVELS = np.arange(256) / 255.0
_LINEAR_OF_LEVEL = np.where(_LEVELS > 0.04045, ((_LEVELS + 0.055) / 1.055) ** 2.4, _LEVELS / 12.92).astype(np.float32)
_XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],
                          [0.212671, 0.715160, 0.072169],
                          [0.019334, 0.119193, 0.950227]])
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
_WHITE_XYZ_FROM_RGB_T = np.ascontiguousarray((_XYZ_FROM_RGB / _D65_WHITE[:, None]).T, dtype=np.float32)
# LAB from the companded (fx, fy, fz): L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz).
_LAB_FROM_F = np.array([[0, 500, 0], [116, -500, 200], [0, 0, -200]], dtype=np.float32)
_LAB_OFFSET = np.array([-16, 0, 0], dtype=np.float32)
# CIE f(t) is the cube root above TOE_END and the line TOE_SLOPE * t + TOE_OFFSET below it.
_TOE_END, _TOE_SLOPE, _TOE_OFFSET = np.float32(0.008856), np.float32(7.787), np.float32(16 / 116)
_ENCODED_FROM_F = _LAB_FROM_F * _ENCODE_SCALE
_ENCODED_OFFSET = _LAB_OFFSET * _ENCODE_SCALE + _ENCODE_OFFSET + np.float32(0.5)


def _companded_xyz(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) to the cube-root-companded, white-normalised XYZ (fx, fy, fz), flat (N, 3)."""
    xyz = _LINEAR_OF_LEVEL.take(rgb.reshape(-1, 3)) @ _WHITE_XYZ_FROM_RGB_T
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
    lab = _companded_xyz(rgb) @ _LAB_FROM_F
    lab += _LAB_OFFSET
    return lab.reshape(rgb.shape)


def encode_rgb(pixels: np.ndarray) -> np.ndarray:
    """uint8 sRGB (..., 3) straight to the uint8 shard encoding.

    Also takes (..., 4) pixels whose fourth byte is ignored (Pillow's RGBX layout, which it hands over
    without repacking). sRGB colours always fall inside the encoded range. Matches
    encode_lab(rgb_to_lab(rgb)) but for float rounding at exact ties (a step of 1 in one value in a
    thousand or fewer).
    """
    return encode_rgb_and_sum_lightness(pixels)[0]


def encode_rgb_and_sum_lightness(pixels: np.ndarray) -> tuple[np.ndarray, int, int]:
    """`encode_rgb`, plus the sum and the sum of squares of the encoded L bytes (exact integers), from
    which prepare takes the mean and standard deviation of L: the prepare stage's hot path.

    A compiled kernel takes 0.35-0.55 ms per 256x256 image here, sums included: about 6x faster than
    `encode_lab(rgb_to_lab(rgb))`, whose NumPy code makes a dozen passes over image-sized temporaries.
    """
    if pixels.shape[-1] == 3:
        padded = np.zeros((*pixels.shape[:-1], 4), dtype=np.uint8)
        padded[..., :3] = pixels
        pixels = padded
    words = np.ascontiguousarray(pixels, dtype=np.uint8).reshape(-1).view("<u4")
    encoded = np.empty((len(words), 3), dtype=np.uint8)
    total, squares = _encode_kernel(words, encoded)
    return encoded.reshape(*pixels.shape[:-1], 3), int(total), int(squares)


_KERNEL_CHUNK = 2048  # pixels converted per step: the scratch planes stay in the CPU's first-level caches


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _cie_f(t):
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


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _encode_kernel(words, encoded):
    """RGBX pixels, one little-endian uint32 each, to the (N, 3) encoding; returns the sum and the sum
    of squares of the L bytes. A chunk at a time, on planar scratch arrays so that every step runs in
    SIMD lanes: the sRGB curve from a table and a 3x3 product to white-normalised X, Y, Z; CIE f; a
    3x3 product that holds the encoding's scale and offset; then the interleave.

    The tables and matrices are module globals, which numba compiles in as constants: only then can
    LLVM tell that the table reads never alias the output, and turn the lookups into vector gathers
    (as arguments, they kept that loop scalar and 1.7x slower). No fastmath: the results must not
    depend on which instructions the compiler picks."""
    planes = np.empty((3, _KERNEL_CHUNK), dtype=np.float32)
    rounded = np.empty((3, _KERNEL_CHUNK), dtype=np.uint8)
    total = squares = 0
    byte = np.uint32(0xFF)
    for start in range(0, len(words), _KERNEL_CHUNK):
        size = min(_KERNEL_CHUNK, len(words) - start)
        for i in range(size):
            word = words[start + i]
            red = _LINEAR_OF_LEVEL[word & byte]
            green = _LINEAR_OF_LEVEL[(word >> np.uint32(8)) & byte]
            blue = _LINEAR_OF_LEVEL[(word >> np.uint32(16)) & byte]
            for channel in range(3):
                planes[channel, i] = (red * _WHITE_XYZ_FROM_RGB_T[0, channel]
                                      + green * _WHITE_XYZ_FROM_RGB_T[1, channel]
                                      + blue * _WHITE_XYZ_FROM_RGB_T[2, channel])
        for channel in range(3):
            for i in range(size):
                planes[channel, i] = _cie_f(planes[channel, i])
        for i in range(size):
            for channel in range(3):
                value = (planes[0, i] * _ENCODED_FROM_F[0, channel] + planes[1, i] * _ENCODED_FROM_F[1, channel]
                         + planes[2, i] * _ENCODED_FROM_F[2, channel] + _ENCODED_OFFSET[channel])
                rounded[channel, i] = np.uint8(min(max(value, np.float32(0)), np.float32(255)))
        for i in range(size):
            lightness = np.int64(rounded[0, i])
            total += lightness
            squares += lightness * lightness
        for i in range(size):
            for channel in range(3):
                encoded[start + i, channel] = rounded[channel, i]
    return total, squares


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
    scaled = lab.astype(np.float32) * _ENCODE_SCALE
    scaled += _ENCODE_OFFSET + np.float32(0.5)
    np.clip(scaled, 0, 255, out=scaled)
    return scaled.astype(np.uint8)


def decode_lab(encoded: np.ndarray) -> np.ndarray:
    """uint8 shard encoding (..., 3) back to float32 LAB."""
    lab = encoded.astype(np.float32)
    lab[..., 0] /= L_STEPS
    lab[..., 1:] -= AB_OFFSET
    return lab


def model_batch(encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Encoded images (..., H, W, 3) to (input L/100, target ab/128), float32.

    The two results are views of one channels-last array, which every framework accepts.
    """
    images = encoded.reshape(-1, encoded.shape[-3] * encoded.shape[-2] * 3)
    scaled = np.empty((len(images), images.shape[1]), dtype=np.float32)
    everything = np.arange(len(images))
    scale_for_model(images, everything, everything, scaled)
    scaled = scaled.reshape(encoded.shape)
    return scaled[..., :1], scaled[..., 1:]


@numba.njit(cache=True, nogil=True)
def scale_for_model(images, sources, targets, scaled):
    """scaled[targets[k]] = the network scaling of images[sources[k]], each image a flat row of encoded
    pixels (H * W * 3 bytes); `images` may be a shard's memory map, so a batch is read and converted in
    one pass, without an intermediate copy. Memory-bound: it writes 4 bytes for every byte it reads."""
    l_scale, ab_scale = np.float32(1 / (L_STEPS * 100.0)), np.float32(1 / AB_SCALE)
    ab_offset = np.float32(-AB_OFFSET / AB_SCALE)
    for k in range(len(sources)):
        source, target = images[sources[k]], scaled[targets[k]]
        for i in range(0, len(source), 3):
            target[i] = np.float32(source[i]) * l_scale
            target[i + 1] = np.float32(source[i + 1]) * ab_scale + ab_offset
            target[i + 2] = np.float32(source[i + 2]) * ab_scale + ab_offset


def lab_from_model(l_input: np.ndarray, ab_output: np.ndarray) -> np.ndarray:
    """Recombine network-scaled L (..., 1) and ab (..., 2) into LAB (..., 3) in LAB units."""
    return np.concatenate([l_input * 100.0, ab_output * AB_SCALE], axis=-1).astype(np.float32)


GAMUT_TOLERANCE = 0.5 / 255.0  # half an 8-bit step: clipping this much changes L by under 0.2
GAMUT_SEARCH_STEPS = 8         # bisection steps on the chroma factor: within 1/256 (under 0.5 in chroma) of the edge
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
