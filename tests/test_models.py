"""Architecture tests: exact parameter counts, output shapes, and that a few training steps learn."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from colorization.architectures import colorizers
from colorization.core.encoding import model_batch
from colorization.engines import create
from colorization.losses.classification import Classification
from colorization.losses.gan import GAN
from colorization.models import ModelSpec, saved
from conftest import ONE_COLOUR, encoded_batch

CNN_V2_PARAMETERS = 6_894_130  # the count stated in docs/models.md's CNN v2 table


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


@pytest.mark.parametrize("arch", colorizers())
@pytest.mark.parametrize("height,width", [(32, 32), (24, 40)])
def test_output_is_ab_at_the_input_resolution(arch, height, width):
    network = create(arch, lr=0.001, l_mean=0.5, l_std=0.25, seed=0)
    output = network.predict(np.random.default_rng(0).random((2, height, width, 1), dtype=np.float32))
    assert output.shape == (2, height, width, 2)
    assert output.dtype == np.float32 and np.isfinite(output).all()


@pytest.mark.parametrize("arch", colorizers())
def test_training_steps_reduce_the_loss_on_a_fixed_batch(arch):
    batch = encoded_batch(4, 16, ONE_COLOUR)
    network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0)
    losses = [network.train_step(batch)["loss"] for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("arch", colorizers())
def test_saved_model_loads_back_and_predicts_the_same(arch, tmp_path):
    network = create(arch, lr=0.001, l_mean=0.5, l_std=0.25, seed=0)
    batch = encoded_batch(2, 16, (128, 128))
    l_input = model_batch(batch)[0]
    network.train_step(batch)
    saved.save(network, tmp_path, ModelSpec(name=arch, image_size=16))
    loaded, spec = saved.load(tmp_path)
    assert spec.arch == arch
    np.testing.assert_allclose(loaded.predict(l_input), network.predict(l_input), atol=1e-5)


def test_a_config_json_is_the_spec_and_one_written_before_it_still_loads(tmp_path):
    """config.json is the model's ModelSpec with what its training wrote, read back as the same type; a
    folder saved by the version before (its decoding settings named loss_settings) loads as it did."""
    network = create("resnet18", lr=0.001, l_mean=0.5, l_std=0.25, seed=0, loss=Classification(temperature=0.2))
    written = ModelSpec(
        name="warm",
        arch="resnet18",
        loss="classification",
        loss_args={"temperature": 0.2},
        image_size=16,
        epochs=3,
        epoch=2,
        train_images=40,
        decoding={"temperature": 0.2},
    )
    saved.save(network, tmp_path / "new", written)
    assert saved.read_config(tmp_path / "new") == written
    config = json.loads((tmp_path / "new" / "config.json").read_text())
    assert config["loss_args"] == {"temperature": 0.2, "rebalance": 0.5, "decode_rebalance": None}
    old = {
        "arch": "resnet18",
        "image_size": 16,
        "name": "warm",
        "framework": "torch",
        "epochs": 3,
        "epoch": 2,
        "lr": 0.001,
        "n_train": 40,
        "input": "L/100",
        "output": "ab/128",
        "loss": "classification",
        "loss_settings": {"temperature": 0.2},
    }
    network.save(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(old))
    loaded, spec = saved.load(tmp_path)
    assert (spec.name, spec.loss, spec.decoding, spec.epoch) == ("warm", "classification", {"temperature": 0.2}, 2)
    assert loaded.loss.temperature == 0.2
    l_input = np.random.default_rng(0).random((1, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(l_input), network.predict(l_input), atol=1e-5)


@pytest.mark.parametrize("arch", ["cnn_v1", "resnet18"])
def test_mixed_precision_trains_and_predicts_float32(arch):
    batch = encoded_batch(4, 16, ONE_COLOUR)
    l_input = model_batch(batch)[0]
    network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0, mixed_precision=True)
    losses = [network.train_step(batch)["loss"] for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    assert network.predict(l_input).dtype == np.float32
    float32_network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0)
    assert float32_network.predict(l_input).dtype == np.float32
    assert float32_network.precision == "float32"


def test_pytorch_mixed_precision_is_bfloat16_where_the_cpu_computes_it_and_float32_elsewhere():
    """bfloat16 autocast on a CPU with AVX512-BF16 or AMX; with PyTorch's kernels capped below AVX-512
    (as on a CPU without them) the same params train in float32, and the training's first line says so."""
    from colorization.engines.torch_engine import bfloat16_native

    network = create("resnet18", lr=0.005, l_mean=0.5, l_std=0.29, seed=0, mixed_precision=True)
    assert network.precision == ("bfloat16" if bfloat16_native() else "float32")
    code = (
        "from colorization.engines import create; "
        "n = create('resnet18', 0.005, 0.5, 0.29, 0, mixed_precision=True); print(n.precision); print(n.device)"
    )
    capped = subprocess.run(
        [sys.executable, "-c", code], env=os.environ | {"ATEN_CPU_CAPABILITY": "avx2"}, capture_output=True, text=True
    )
    precision, device = capped.stdout.split("\n")[:2]
    assert precision == "float32", capped.stderr
    assert "float32: mixed_precision asks for bfloat16, which this device only emulates" in device


@pytest.mark.parametrize("arch", colorizers())
def test_the_classification_loss_learns_a_colour_through_q_logits(arch):
    """Zhang et al.'s loss on every architecture: the head predicts Q logits, the annealed mean decodes
    them to ab/128, and a few steps on one colour bring the decoded colour to it."""
    batch = encoded_batch(4, 16, ONE_COLOUR)
    l_input, ab_target = model_batch(batch)
    loss = Classification()
    network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0, loss=loss)
    before = network.predict(l_input)
    assert before.shape == (4, 16, 16, 2) and before.dtype == np.float32
    losses = [network.train_step(batch)["loss"] for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    error = np.abs(network.predict(l_input) - ab_target).mean() * 128  # LAB units
    assert error < 8, f"decoded ab is {error:.1f} LAB units off the trained colour"


@pytest.mark.parametrize("arch", ["cnn_v1", "resnet18"])
def test_a_classification_checkpoint_resumes_exactly(arch, tmp_path):
    """The checkpoint holds what the custom loss needs (Keras compiles it back in safe mode)."""
    batch = encoded_batch(2, 16)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, Classification().channels)
    network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0, loss=Classification(weights))
    network.train_step(batch)
    network.save_checkpoint(tmp_path)
    resumed = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=1, loss=Classification(weights))
    resumed.load_checkpoint(tmp_path)
    assert resumed.train_step(batch) == pytest.approx(network.train_step(batch), rel=1e-5)


def test_up2_is_nearest_neighbour_upsampling():
    import torch

    from colorization.architectures.resnet18 import Up2

    features = torch.randn(2, 5, 3, 4, requires_grad=True)
    expected = torch.nn.functional.interpolate(features, scale_factor=2, mode="nearest")
    assert torch.equal(Up2()(features), expected)
    Up2()(features).sum().backward()
    assert torch.equal(features.grad, torch.full_like(features, 4.0))


def gan_network(seed=0, warmup_epochs=0):
    return create("unet", lr=2e-4, l_mean=0.5, l_std=0.29, seed=seed, loss=GAN(warmup_epochs=warmup_epochs))


def parameters_of(module) -> list[np.ndarray]:
    return [parameter.detach().clone().numpy() for parameter in module.parameters()]


def gan_batch():
    return encoded_batch(2, 32)


def test_one_gan_step_changes_both_networks_with_pix2pix_optimizers():
    network = gan_network()
    assert network.optimizer.defaults["betas"] == (0.5, 0.999) == network.adversary.optimizer.defaults["betas"]
    assert network.optimizer.defaults["lr"] == 2e-4 == network.adversary.optimizer.defaults["lr"]
    generator, discriminator = parameters_of(network.module), parameters_of(network.adversary.module)
    network.start_epoch(0, 2e-4)
    losses = network.train_step(gan_batch())
    assert set(losses) == {"loss", "adversarial", "discriminator"} and all(np.isfinite(list(losses.values())))
    for before, after in ((generator, network.module), (discriminator, network.adversary.module)):
        changed = [not np.array_equal(old, new) for old, new in zip(before, parameters_of(after))]
        assert all(changed), f"{changed.count(False)} of {len(changed)} parameter tensors did not move"


def test_the_patchgan_scores_overlapping_patches_of_l_and_ab():
    import torch

    from colorization.architectures.patchgan import PatchDiscriminator

    discriminator = PatchDiscriminator()
    assert discriminator(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 6, 6)  # 70x70 patches of 64x64 images
    assert discriminator(torch.zeros(2, 3, 16, 8)).shape == (2, 1, 2, 2)  # tiny ones are padded


def test_the_nogan_warm_up_trains_the_generator_alone_then_the_adversary_joins():
    network = gan_network(warmup_epochs=1)
    discriminator = parameters_of(network.adversary.module)
    network.start_epoch(0, 2e-4)
    assert set(network.train_step(gan_batch())) == {"loss"}
    assert all(np.array_equal(old, new) for old, new in zip(discriminator, parameters_of(network.adversary.module)))
    network.start_epoch(1, 2e-4)
    assert set(network.train_step(gan_batch())) == {"loss", "adversarial", "discriminator"}


def test_a_gan_checkpoint_holds_both_networks_and_both_optimizers(tmp_path):
    network = gan_network()
    network.start_epoch(0, 2e-4)
    network.train_step(gan_batch())
    network.save_checkpoint(tmp_path)
    expected = network.train_step(gan_batch())  # dropout draws from torch's generator, which the checkpoint holds
    resumed = gan_network(seed=1)
    resumed.load_checkpoint(tmp_path)
    resumed.start_epoch(0, 2e-4)
    assert resumed.train_step(gan_batch()) == expected
    for mine, theirs in ((network.module, resumed.module), (network.adversary.module, resumed.adversary.module)):
        assert all(np.array_equal(a, b) for a, b in zip(parameters_of(mine), parameters_of(theirs)))


@pytest.mark.parametrize("arch", ["cnn_v1", "resnet18"])
def test_start_epoch_sets_the_learning_rate(arch):
    network = create(arch, lr=0.01, l_mean=0.5, l_std=0.29, seed=0)
    network.start_epoch(3, 0.0025)
    if arch == "resnet18":
        assert network.optimizer.param_groups[0]["lr"] == 0.0025
    else:
        assert float(network.model.optimizer.learning_rate) == pytest.approx(0.0025)


@pytest.mark.parametrize("arch", ["cnn_v1", "resnet18"])
def test_validate_gives_the_own_loss_and_the_prediction(arch):
    batch = encoded_batch(2, 16)
    l_input, ab_target = model_batch(batch)
    network = create(arch, lr=0.01, l_mean=0.5, l_std=0.29, seed=0)
    loss, prediction = network.validate(batch)
    np.testing.assert_array_equal(prediction, network.predict(l_input))
    assert loss == pytest.approx(float(np.mean(np.square(prediction - ab_target))), rel=1e-5)


def test_the_pytorch_engine_converts_encoded_batches_bit_for_bit_as_the_numpy_reader():
    """Training batches travel as bytes and PyTorch converts them where it computes (a GPU); the numbers
    are those of the shard reader's NumPy path, which Keras and evaluation use."""
    import torch

    from colorization.engines.torch_engine import _model_units

    batch = encoded_batch(3, 16)
    l_input, ab = model_batch(batch)
    l_tensor, ab_tensor = _model_units(batch)
    np.testing.assert_array_equal(l_tensor.numpy(), l_input.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ab_tensor.numpy(), ab.transpose(0, 3, 1, 2))
    assert l_tensor.is_contiguous() and ab_tensor.is_contiguous()
    weights = np.random.default_rng(1).uniform(0.5, 2.0, Classification().channels)
    loss = Classification(weights)
    on_device = loss.torch_targets(torch.from_numpy(np.ascontiguousarray(ab.transpose(0, 3, 1, 2))))
    np.testing.assert_array_equal(on_device.numpy(), loss.targets(ab).transpose(0, 3, 1, 2))
