"""The compact encoding the shards store, and the scaling every network sees: the single place both are defined.

Shard encoding: an image is a uint8 array (H, W, 3), channels last,
    channel 0: round(L * 255 / 100)     L in [0, 100]        step 0.39, worst error 0.2 L units
    channel 1: round(a + 128)           a in [-128, 127]     step 1,    worst error 0.5 LAB units
    channel 2: round(b + 128)           b in [-128, 127]     step 1,    worst error 0.5 LAB units
(round = floor(x + 0.5), values clipped to 0..255).
3 bytes a pixel instead of 12 for float32 LAB. Every sRGB colour has a, b within [-128, 127].

Model scaling (the same for every architecture, so their losses are comparable):
    input  = L / 100     in [0, 1],   shape (..., H, W, 1)
    target = ab / 128    in [-1, 1),  shape (..., H, W, 2)
"""

import numba
import numpy as np

from .color import LAB_FROM_F, LAB_OFFSET, LINEAR_OF_LEVEL, WHITE_XYZ_FROM_RGB_T, cie_f

L_STEPS = 255.0 / 100.0
AB_OFFSET = 128.0
AB_SCALE = 128.0
_ENCODE_SCALE = np.array([L_STEPS, 1, 1], dtype=np.float32)
_ENCODE_OFFSET = np.array([0, AB_OFFSET, AB_OFFSET], dtype=np.float32)  # rounding: floor(x + 0.5)
_ENCODED_FROM_F = LAB_FROM_F * _ENCODE_SCALE
_ENCODED_OFFSET = LAB_OFFSET * _ENCODE_SCALE + _ENCODE_OFFSET + np.float32(0.5)


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
            red = LINEAR_OF_LEVEL[word & byte]
            green = LINEAR_OF_LEVEL[(word >> np.uint32(8)) & byte]
            blue = LINEAR_OF_LEVEL[(word >> np.uint32(16)) & byte]
            for channel in range(3):
                planes[channel, i] = (
                    red * WHITE_XYZ_FROM_RGB_T[0, channel]
                    + green * WHITE_XYZ_FROM_RGB_T[1, channel]
                    + blue * WHITE_XYZ_FROM_RGB_T[2, channel]
                )
        for channel in range(3):
            for i in range(size):
                planes[channel, i] = cie_f(planes[channel, i])
        for i in range(size):
            for channel in range(3):
                value = (
                    planes[0, i] * _ENCODED_FROM_F[0, channel]
                    + planes[1, i] * _ENCODED_FROM_F[1, channel]
                    + planes[2, i] * _ENCODED_FROM_F[2, channel]
                    + _ENCODED_OFFSET[channel]
                )
                rounded[channel, i] = np.uint8(min(max(value, np.float32(0)), np.float32(255)))
        for i in range(size):
            lightness = np.int64(rounded[0, i])
            total += lightness
            squares += lightness * lightness
        for i in range(size):
            for channel in range(3):
                encoded[start + i, channel] = rounded[channel, i]
    return total, squares


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
