"""Architecture tests: exact parameter counts, output shapes, and that a few training steps learn."""

import numpy as np
import pytest

from colorization.models import create, saved
from colorization.models.saved import ModelConfig
from colorization.models import ARCHITECTURES
from colorization.losses.classification import Classification

CNN_V2_PARAMETERS = 6_894_130  # the count stated in the README's CNN v2 table


def test_cnn_v1_has_exactly_the_studys_parameter_count():
    network = create("cnn_v1", lr=0.001, l_mean=0.5, l_std=0.25, seed=0)
    assert network.parameter_count() == 3_892_194


def test_cnn_v2_parameter_count_matches_the_readme():
    network = create("cnn_v2", lr=0.001, l_mean=0.5, l_std=0.25, seed=0)
    assert network.parameter_count() == CNN_V2_PARAMETERS


def test_resnet18_encoder_takes_one_channel_and_keeps_six_children():
    network = create("resnet18", lr=0.001, l_mean=0.5, l_std=0.25, seed=0)
    assert network.module.encoder[0].weight.shape == (64, 1, 7, 7)
    assert len(network.module.encoder) == 6


def test_unet_has_a_skip_connection_at_every_scale_and_keeps_any_size():
    """pix2pix's generator shape: each decoder level takes the encoder's features of its scale as well."""
    network = create("unet", lr=0.001, l_mean=0.5, l_std=0.25, seed=0)
    module = network.module
    assert len(module.down) == len(module.up) + 1 == 6
    widths = [block[0].out_channels for block in module.down]
    for level, block in enumerate(module.up[1:], start=1):  # input: the level below plus the skip
        assert block[0].in_channels == 2 * widths[-1 - level]
    assert module.head.in_channels == 2 * widths[0]
    output = network.predict(np.random.default_rng(0).random((1, 8, 72, 1), dtype=np.float32))
    assert output.shape == (1, 8, 72, 2)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("height,width", [(32, 32), (24, 40)])
def test_output_is_ab_at_the_input_resolution(arch, height, width):
    network = create(arch, lr=0.001, l_mean=0.5, l_std=0.25, seed=0)
    output = network.predict(np.random.default_rng(0).random((2, height, width, 1), dtype=np.float32))
    assert output.shape == (2, height, width, 2)
    assert output.dtype == np.float32 and np.isfinite(output).all()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_training_steps_reduce_the_loss_on_a_fixed_batch(arch):
    rng = np.random.default_rng(0)
    l_input = rng.random((4, 16, 16, 1), dtype=np.float32)
    ab_target = np.broadcast_to(np.array([0.3, -0.2], dtype=np.float32), (4, 16, 16, 2))
    network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0)
    losses = [network.train_step(l_input, ab_target) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_saved_model_loads_back_and_predicts_the_same(arch, tmp_path):
    network = create(arch, lr=0.001, l_mean=0.5, l_std=0.25, seed=0)
    l_input = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    network.train_step(l_input, np.zeros((2, 16, 16, 2), dtype=np.float32))
    saved.save(network, tmp_path, ModelConfig(arch=arch, image_size=16))
    loaded, config = saved.load(tmp_path)
    assert config.arch == arch
    np.testing.assert_allclose(loaded.predict(l_input), network.predict(l_input), atol=1e-5)


@pytest.mark.parametrize("arch", ["cnn_v1", "resnet18"])
def test_mixed_precision_trains_and_predicts_float32(arch):
    rng = np.random.default_rng(0)
    l_input = rng.random((4, 16, 16, 1), dtype=np.float32)
    ab_target = np.broadcast_to(np.array([0.3, -0.2], dtype=np.float32), (4, 16, 16, 2))
    network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0, mixed_precision=True)
    losses = [network.train_step(l_input, ab_target) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    assert network.predict(l_input).dtype == np.float32
    float32_network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0)
    assert float32_network.predict(l_input).dtype == np.float32


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_the_classification_loss_learns_a_colour_through_q_logits(arch):
    """Zhang et al.'s loss on every architecture: the head predicts Q logits, the annealed mean decodes
    them to ab/128, and a few steps on one colour bring the decoded colour to it."""
    rng = np.random.default_rng(0)
    l_input = rng.random((4, 16, 16, 1), dtype=np.float32)
    ab_target = np.broadcast_to(np.array([0.3, -0.2], dtype=np.float32), (4, 16, 16, 2))
    loss = Classification()
    network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0, loss=loss)
    before = network.predict(l_input)
    assert before.shape == (4, 16, 16, 2) and before.dtype == np.float32
    losses = [network.train_step(l_input, ab_target) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    error = np.abs(network.predict(l_input) - ab_target).mean() * 128  # LAB units
    assert error < 8, f"decoded ab is {error:.1f} LAB units off the trained colour"


@pytest.mark.parametrize("arch", ["cnn_v1", "resnet18"])
def test_a_classification_checkpoint_resumes_exactly(arch, tmp_path):
    """The checkpoint holds what the custom loss needs (Keras compiles it back in safe mode)."""
    rng = np.random.default_rng(0)
    l_input = rng.random((2, 16, 16, 1), dtype=np.float32)
    ab_target = rng.uniform(-0.5, 0.5, (2, 16, 16, 2)).astype(np.float32)
    weights = rng.uniform(0.5, 2.0, Classification().channels)
    network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0, loss=Classification(weights))
    network.train_step(l_input, ab_target)
    network.save_checkpoint(tmp_path)
    resumed = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=1, loss=Classification(weights))
    resumed.load_checkpoint(tmp_path)
    assert resumed.train_step(l_input, ab_target) == pytest.approx(network.train_step(l_input, ab_target), rel=1e-5)
