import numpy as np

from colorization.core.color import lab_to_rgb, lab_to_rgb_keeping_lightness, rgb_to_lab
from colorization.core.encoding import (
    decode_lab,
    encode_lab,
    encode_rgb,
    encode_rgb_and_sum_lightness,
    lab_from_model,
    model_batch,
)


def all_rgb_colours(step: int = 5) -> np.ndarray:
    levels = np.arange(0, 256, step, dtype=np.uint8)
    return np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(1, -1, 3)


def test_rgb_lab_round_trip_is_exact_to_rounding():
    rgb = all_rgb_colours()
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert np.abs(back * 255 - rgb).max() < 0.01


def test_encoding_error_is_within_its_documented_bounds_over_the_whole_gamut():
    lab = rgb_to_lab(all_rgb_colours(step=3))
    decoded = decode_lab(encode_lab(lab))
    assert np.abs(decoded[..., 0] - lab[..., 0]).max() <= 100 / 255 / 2 + 1e-4
    assert np.abs(decoded[..., 1:] - lab[..., 1:]).max() <= 0.5 + 1e-4
    assert lab[..., 1:].min() > -128 and lab[..., 1:].max() < 127


def test_known_colours_encode_as_worked_out_by_hand():
    white, black = rgb_to_lab(np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8))[0]
    assert encode_lab(white).tolist() == [255, 128, 128]
    assert encode_lab(black).tolist() == [0, 128, 128]
    red = rgb_to_lab(np.array([[[255, 0, 0]]], dtype=np.uint8))[0, 0]
    np.testing.assert_allclose(red, [53.24, 80.09, 67.20], atol=0.05)
    assert encode_lab(red).tolist() == [136, 208, 195]


def test_model_scaling_is_L_over_100_and_ab_over_128():
    encoded = np.array([[[255, 0, 255], [0, 128, 192]]], dtype=np.uint8)
    l_batch, ab_batch = model_batch(encoded)
    np.testing.assert_allclose(l_batch[..., 0], [[1.0, 0.0]], atol=1e-6)
    np.testing.assert_allclose(ab_batch, [[[-1.0, 127 / 128], [0.0, 0.5]]], atol=1e-6)
    assert l_batch.dtype == ab_batch.dtype == np.float32
    lab = lab_from_model(l_batch, ab_batch)
    np.testing.assert_allclose(lab, decode_lab(encoded), atol=1e-4)


def test_fast_uint8_path_agrees_with_scikit_image_over_the_gamut():
    from skimage.color import rgb2lab

    rgb = all_rgb_colours(step=3)
    assert np.abs(rgb_to_lab(rgb) - rgb2lab(rgb)).max() < 1e-3
    assert rgb_to_lab(rgb).dtype == np.float32


def test_fused_rgb_encoding_equals_the_two_step_encoding():
    rgb = all_rgb_colours(step=3)
    two_step = encode_lab(rgb_to_lab(rgb)).astype(int)
    fused = encode_rgb(rgb).astype(int)
    assert np.abs(fused - two_step).max() <= 1
    assert (fused == two_step).mean() > 0.999
    exact = rgb_to_lab(rgb)
    decoded = decode_lab(encode_rgb(rgb))
    assert np.abs(decoded[..., 1:] - exact[..., 1:]).max() <= 0.5 + 1e-3


def test_colours_outside_the_gamut_keep_their_lightness_and_hue_after_8_bit_rounding():
    rng = np.random.default_rng(0)
    lab = (
        np.stack([rng.uniform(0, 100, 20000), rng.uniform(-128, 128, 20000), rng.uniform(-128, 128, 20000)], axis=-1)
        .astype(np.float32)
        .reshape(100, 200, 3)
    )
    rgb = lab_to_rgb_keeping_lightness(lab)
    assert rgb.shape == lab.shape and rgb.dtype == np.float32
    back = rgb_to_lab(np.rint(rgb * 255).astype(np.uint8))
    assert np.abs(back[..., 0] - lab[..., 0]).max() < 0.3
    clipped = rgb_to_lab(lab_to_rgb(lab))  # what clipping each channel would have done
    assert np.abs(clipped[..., 0] - lab[..., 0]).max() > 10
    chroma = np.hypot(back[..., 1], back[..., 2])
    coloured = chroma > 5
    hue_change = np.angle(np.exp(1j * (np.arctan2(back[..., 2], back[..., 1]) - np.arctan2(lab[..., 2], lab[..., 1]))))
    assert np.abs(hue_change[coloured]).mean() < 0.1  # radians: chroma was reduced, the hue mostly kept


def test_colours_inside_the_gamut_convert_as_lab_to_rgb_does():
    lab = rgb_to_lab(all_rgb_colours(step=15))
    np.testing.assert_allclose(lab_to_rgb_keeping_lightness(lab), lab_to_rgb(lab), atol=1e-5)
    greys = np.stack([np.linspace(0, 100, 101), np.zeros(101), np.zeros(101)], axis=-1)[None]
    np.testing.assert_allclose(lab_to_rgb_keeping_lightness(greys), lab_to_rgb(greys), atol=1e-5)


def test_encoding_takes_pillow_rgbx_pixels_and_ignores_the_fourth_byte():
    rgb = all_rgb_colours(step=7)
    padding = np.random.default_rng(0).integers(0, 256, rgb.shape[:-1] + (1,), dtype=np.uint8)
    rgbx = np.concatenate([rgb, padding], axis=-1)
    np.testing.assert_array_equal(encode_rgb(rgbx), encode_rgb(rgb))
    assert encode_rgb(rgb[0, :10]).shape == (10, 3)


def test_lightness_sums_are_exact_over_several_chunks_and_a_partial_one():
    rgb = np.random.default_rng(0).integers(0, 256, (5003, 3), dtype=np.uint8)  # the kernel works 2,048 at a time
    encoded, total, squares = encode_rgb_and_sum_lightness(rgb)
    lightness = encoded[:, 0].astype(np.int64)
    assert (total, squares) == (lightness.sum(), (lightness * lightness).sum())
    np.testing.assert_array_equal(encoded, encode_rgb(rgb))
    assert encode_rgb_and_sum_lightness(rgb[:0])[1:] == (0, 0)


# The fused full-resolution path against the NumPy reference it replaced, on odd sizes: a photo-like
# picture (smooth lightness, network-sized ab with saturated colours outside sRGB), upsampled, shrunk
# (the page's previews) and at the same size.
FUSED_CASES = [((333, 517), (27, 41)), ((479, 641), (128, 171)), ((37, 53), (96, 128)), ((64, 64), (64, 64))]


def smooth_picture(shape, seed):
    from colorization.colorize.render import resize_plane

    rng = np.random.default_rng(seed)
    lightness = resize_plane(rng.uniform(0, 100, (7, 9)).astype(np.float32), (shape[1], shape[0]))
    return np.clip(lightness + rng.normal(0, 3, shape).astype(np.float32), 0, 100)


def test_bicubic_taps_resample_as_pillow_does_up_down_and_at_the_same_size():
    from colorization.colorize.render import resize_plane
    from colorization.core.color import bicubic_taps

    plane = np.random.default_rng(0).normal(0, 40, (23, 31)).astype(np.float32)
    for size in ((31, 23), (97, 71), (7, 5), (30, 24)):
        rows, row_weights = bicubic_taps(plane.shape[0], size[1])
        columns, column_weights = bicubic_taps(plane.shape[1], size[0])
        ours = np.einsum("yk,xl,ykxl->yx", row_weights, column_weights, plane[rows][:, :, columns])
        np.testing.assert_allclose(ours, resize_plane(plane, size), atol=1e-3)


def test_the_fused_colour_path_gives_the_reference_paths_pixels_on_odd_sizes():
    from colorization.colorize.render import colour, compose, upsample_ab

    for seed, (shape, small) in enumerate(FUSED_CASES):
        lightness = smooth_picture(shape, seed)
        ab = np.random.default_rng(seed).normal(0, 45, (*small, 2)).astype(np.float32)
        reference = compose(lightness, upsample_ab(ab, (shape[1], shape[0])))
        fused = colour(lightness, ab)
        assert fused.shape == reference.shape and fused.dtype == np.uint8
        differs = np.abs(fused.astype(int) - reference).max(axis=-1)
        assert (differs > 0).mean() < 1e-3, seed  # rounding at a level's edge, or a bisection step apart
        fused_lab, reference_lab = rgb_to_lab(fused), rgb_to_lab(reference)
        assert np.abs(fused_lab[..., 0] - reference_lab[..., 0]).max() <= 0.5, seed  # the bound
        assert np.abs(fused_lab[..., 0] - lightness).max() <= 0.5, seed
        assert np.percentile(np.abs(fused_lab[..., 1:] - reference_lab[..., 1:]), 99.9) <= 0.5, seed


def test_lightness_of_rgb_is_scikit_images_on_every_colour_and_an_odd_frame():
    from colorization.core.color import lightness_of_rgb

    colours = all_rgb_colours(step=3)
    np.testing.assert_allclose(
        lightness_of_rgb(colours), rgb_to_lab(colours.astype(np.float64) / 255)[..., 0], atol=1e-3
    )
    frame = np.random.default_rng(1).integers(0, 256, (479, 641, 3), dtype=np.uint8)
    np.testing.assert_allclose(lightness_of_rgb(frame), rgb_to_lab(frame / 255.0)[..., 0], atol=1e-3)
