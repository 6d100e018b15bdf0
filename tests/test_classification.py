"""The colour classes of Zhang et al. (2016): the bin grid, soft-encoding, rebalancing and the annealed mean."""

import json
import sys

import numpy as np
import pytest
import yaml
from PIL import Image
from skimage import color as skcolor

from colorization.core.encoding import decode_lab, encode_rgb, model_batch
from colorization.engines import create
from colorization.losses import classification as cls
from conftest import copy_project, encoded_batch, run


@pytest.fixture(scope="module")
def srgb_ab():
    """ab of 200,000 random sRGB colours plus the corners of the RGB cube, computed by scikit-image."""
    rng = np.random.default_rng(0)
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)
    colours = np.concatenate([corners, rng.integers(0, 256, (200_000, 3), dtype=np.uint8)])
    return skcolor.rgb2lab(colours[None].astype(np.float64) / 255.0)[0, :, 1:], colours


def test_the_bins_are_a_10_unit_grid_that_covers_every_srgb_colour(srgb_ab):
    ab, colours = srgb_ab
    centres = cls.bin_centres()
    assert centres.shape[1] == 2 and 200 < len(centres) < 400
    assert np.all(centres % cls.GRID == 0) and len(np.unique(centres, axis=0)) == len(centres)
    classes = cls.nearest_class(ab)
    assert np.all(classes >= 0), "an sRGB colour fell outside every bin"
    assert np.max(np.abs(centres[classes] - ab)) <= cls.GRID / 2 + 1e-3
    shard_ab = decode_lab(encode_rgb(colours))[:, 1:]  # the integer ab the shards store are covered too
    assert np.all(cls.nearest_class(shard_ab) >= 0)


def test_the_gamut_picture_is_what_every_srgb_colour_gives():
    from colorization.core.ab_classes import gamut_cells, srgb_gamut_cells

    np.testing.assert_array_equal(gamut_cells(), srgb_gamut_cells())


def test_every_bin_holds_some_srgb_colour():
    """No bin outside the gamut: each one is the cell of some colour of a sweep of the RGB cube in steps of 3."""
    levels = np.arange(0, 256, 3, dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    extra = decode_lab(encode_rgb(cube))[:, 1:]
    exact = skcolor.rgb2lab(cube[None].astype(np.float64) / 255.0)[0, :, 1:]
    hit = np.unique(np.concatenate([cls.nearest_class(exact), cls.nearest_class(extra)]))
    np.testing.assert_array_equal(hit, np.arange(len(cls.bin_centres())))


def test_soft_encoding_sums_to_1_over_the_5_nearest_bins_with_a_gaussian(srgb_ab):
    ab = srgb_ab[0][:5000]
    classes, weights = cls.soft_encode(ab)
    assert classes.shape == weights.shape == (5000, cls.NEIGHBOURS)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert np.all(weights >= 0) and np.all(np.diff(weights, axis=1) <= 1e-7)  # nearest first
    centres = cls.bin_centres()
    distances = np.sum((centres[None] - ab[:, None]) ** 2, axis=-1)
    np.testing.assert_array_equal(np.sort(classes, axis=1), np.sort(np.argsort(distances, axis=1)[:, :5], axis=1))
    chosen = np.take_along_axis(distances, classes, axis=1)
    expected = np.exp(-chosen / (2 * cls.SIGMA**2))
    np.testing.assert_allclose(weights, expected / expected.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)
    dense = cls.dense(classes, weights, len(centres))
    np.testing.assert_allclose(dense.sum(axis=-1), 1.0, atol=1e-6)


def test_soft_encoding_keeps_the_image_shape():
    ab = np.zeros((2, 4, 3, 2), dtype=np.float32)
    classes, weights = cls.soft_encode(ab)
    assert classes.shape == (2, 4, 3, 5) and weights.shape == (2, 4, 3, 5)
    assert np.all(cls.bin_centres()[classes[..., 0]] == 0)  # grey's own bin first


def test_rebalancing_weights_average_to_1_under_the_prior_and_favour_rare_colours(srgb_ab):
    counts = np.bincount(cls.nearest_class(srgb_ab[0][:20_000] * 0.3), minlength=len(cls.bin_centres()))
    prior = cls.smoothed_prior(counts)
    assert prior.shape == counts.shape and abs(prior.sum() - 1) < 1e-9 and np.all(prior > 0)
    weights = cls.rebalancing_weights(prior)
    assert abs(float(np.sum(prior * weights)) - 1.0) < 1e-5
    assert weights[np.argmax(prior)] == weights.min() and weights[np.argmin(prior)] == weights.max()
    uniform = cls.rebalancing_weights(np.full(len(prior), 1 / len(prior)))
    np.testing.assert_allclose(uniform, 1.0, rtol=1e-6)
    np.testing.assert_allclose(cls.rebalancing_weights(prior, 1.0), 1.0, rtol=1e-6)  # lambda 1: no rebalancing


def test_the_annealed_mean_is_the_mode_as_t_goes_to_0_and_the_mean_at_t_1():
    centres = cls.bin_centres()
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(7, len(centres))) * 3
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(cls.annealed_mean(logits, 1.0), probabilities @ centres, atol=1e-3)
    np.testing.assert_allclose(cls.annealed_mean(logits, 1e-3), centres[np.argmax(logits, axis=-1)], atol=1e-3)
    between = cls.annealed_mean(logits, cls.TEMPERATURE)
    assert between.shape == (7, 2)


def test_decode_rebalancing_turns_what_one_rebalancing_teaches_into_what_another_would(srgb_ab):
    """A network trained with weights w learns q ~ w p(c | L); the decode bias must turn q into w' p, the
    distribution training with the other lambda would have taught, and lambda 1 into the plain mean."""
    centres = cls.bin_centres()
    prior = cls.smoothed_prior(np.bincount(cls.nearest_class(srgb_ab[0][:20_000] * 0.3), minlength=len(centres)))
    rng = np.random.default_rng(3)
    posterior = rng.dirichlet(np.full(len(centres), 0.3), size=5)  # p(c | L) of five pixels
    trained = np.log(posterior * cls.rebalancing_weights(prior, 0.5))  # logits of a perfectly trained network
    assert cls.decode_bias(prior, 0.5, None) is None and cls.decode_bias(prior, 0.5, 0.5) is None
    for decode_rebalance in (0.7, 1.0, 0.2):
        bias = cls.decode_bias(prior, 0.5, decode_rebalance)
        adjusted = np.exp(trained + bias)
        expected = posterior * cls.rebalancing_weights(prior, decode_rebalance)
        np.testing.assert_allclose(
            adjusted / adjusted.sum(-1, keepdims=True), expected / expected.sum(-1, keepdims=True), rtol=1e-4, atol=1e-9
        )
    unbalanced = cls.annealed_mean(trained, 1.0, cls.decode_bias(prior, 0.5, 1.0))
    np.testing.assert_allclose(unbalanced, posterior @ centres, atol=1e-2)
    rebalanced = cls.annealed_mean(trained, 1.0)
    chroma = lambda ab: np.linalg.norm(ab, axis=-1).mean()  # noqa: E731
    assert chroma(rebalanced) > chroma(unbalanced)  # rebalancing favours rare, saturated colours

    loss = cls.Classification(temperature=0.5, class_bias=cls.decode_bias(prior, 0.5, 1.0))
    restored = cls.Classification.from_decoding(json.loads(json.dumps(loss.decoding())))
    np.testing.assert_allclose(restored.decode(trained), loss.decode(trained), atol=1e-5)
    assert cls.Classification().decoding() == {"temperature": cls.TEMPERATURE}


def test_class_counts_of_shard_images_match_a_pixel_by_pixel_count(srgb_ab):
    colours = srgb_ab[1][:4096].reshape(4, 32, 32, 3)
    encoded = encode_rgb(colours)
    counts = cls.class_counts([encoded[:1], encoded[1:]])
    expected = np.bincount(cls.nearest_class(decode_lab(encoded)[..., 1:]).ravel(), minlength=len(cls.bin_centres()))
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == 4096


def test_soft_encoding_of_colours_outside_srgb_falls_back_to_the_nearest_bins():
    ab = np.array([[120.0, 120.0], [-120.0, -120.0], [0.0, -125.0]], dtype=np.float32)
    classes, weights = cls.soft_encode(ab)
    distances = np.sum((cls.bin_centres()[None] - ab[:, None]) ** 2, axis=-1)
    chosen = np.sort(np.take_along_axis(distances, classes, axis=1), axis=1)
    np.testing.assert_allclose(chosen, np.sort(distances, axis=1)[:, :5])  # the 5 nearest (ties either way)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)


def test_shard_targets_from_the_integer_table_equal_the_direct_encoding(srgb_ab):
    """Shards store integer a and b: their targets come from a table, and must be what soft_encode gives."""
    encoded = encode_rgb(srgb_ab[1][:3000].reshape(3, 1000, 1, 3))
    ab_scaled = decode_lab(encoded)[..., 1:] / 128.0
    weights = np.linspace(0.5, 2.0, len(cls.bin_centres()))
    looked_up = cls.Classification(weights).targets(ab_scaled)
    classes, soft = cls.soft_encode(decode_lab(encoded)[..., 1:])
    k = cls.NEIGHBOURS
    np.testing.assert_array_equal(looked_up[..., :k], classes)
    np.testing.assert_allclose(looked_up[..., k : 2 * k], soft, rtol=1e-6)
    np.testing.assert_allclose(looked_up[..., -1], weights[classes[..., 0]].astype(np.float32))
    direct = cls.Classification(weights).targets(ab_scaled + 0.1 / 128)  # not integral: encoded directly
    assert direct.shape == looked_up.shape and np.isfinite(direct).all()


def test_the_fused_torch_loss_has_the_value_and_gradient_of_log_softmax_cross_entropy():
    import torch

    rng = np.random.default_rng(0)
    loss = cls.Classification(rng.uniform(0.5, 2.0, len(cls.bin_centres())))
    target = torch.from_numpy(
        loss.targets(rng.uniform(-0.6, 0.6, (2, 6, 5, 2)).astype(np.float32)).transpose(0, 3, 1, 2).copy()
    )
    logits = torch.from_numpy(rng.normal(0, 3, (2, loss.channels, 6, 5)).astype(np.float32))
    fused, reference = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    value = loss.torch_loss(fused, target)
    (2.0 * value).backward()
    k = cls.NEIGHBOURS
    picked = torch.log_softmax(reference, dim=1).gather(1, target[:, :k].long())
    expected = -((picked * target[:, k:-1]).sum(dim=1) * target[:, -1]).mean()
    (2.0 * expected).backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    torch.testing.assert_close(fused.grad, reference.grad, rtol=1e-4, atol=1e-7)


def set_loss_args(project, **values) -> None:
    """Change settings of the `colorful` model's loss in a project's params.yaml."""
    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["models"]["colorful"].setdefault("loss_args", {}).update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.mark.slow
def test_a_classification_model_trains_evaluates_and_colorizes_through_the_stages(tmp_path):
    """The stage scripts end to end on a tiny copy: prior, then a ResNet18 with `loss: classification`,
    its metrics, and `colorize --model`; a new temperature only re-decodes (the training resumes)."""
    params = {
        "data": {"n_images": 40, "image_size": 16, "shard_size": 16},
        "train": {"epochs": 2, "batch_size": 8},
        "models": {"colorful": {"arch": "resnet18", "loss": "classification", "n_train": None}},
    }
    project = copy_project(tmp_path / "project", params)
    for stage in ("download", "prepare", "prior"):
        run(["python", f"stages/{stage}.py"], cwd=project)
    prior = json.loads((project / "data" / "prior.json").read_text())
    n_train = json.loads((project / "data" / "lab" / "meta.json").read_text())["counts"]["train"]
    assert sum(prior["counts"]) == n_train * 16 * 16 and len(prior["counts"]) == len(cls.bin_centres())

    trained = run(["python", "stages/train.py", "colorful"], cwd=project)
    assert "colorful epoch 2/2" in trained.stdout
    config = json.loads((project / "models" / "colorful" / "config.json").read_text())
    assert config["loss"] == "classification" and config["decoding"] == {"temperature": 0.38}
    run(["python", "stages/evaluate.py", "colorful"], cwd=project)
    metrics = json.loads((project / "metrics" / "colorful.json").read_text())
    assert np.isfinite(metrics["mse"]) and metrics["colorfulness"] > 0
    predictions = np.load(project / "data" / "predictions" / "colorful.npy")
    assert np.isfinite(predictions).all()

    photo = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))).save(photo)
    run(
        [
            sys.executable,
            "-m",
            "colorization.colorize",
            str(photo),
            "--output",
            str(tmp_path / "out"),
            "--model",
            "colorful",
        ],
        cwd=project,
    )
    with Image.open(tmp_path / "out" / "grey.png") as colour:
        assert colour.size == (64, 48) and colour.mode == "RGB"

    set_loss_args(project, temperature=1.0)
    retrained = run(["python", "stages/train.py", "colorful"], cwd=project)
    assert "colorful: resuming after epoch 2" in retrained.stdout
    config = json.loads((project / "models" / "colorful" / "config.json").read_text())
    assert config["decoding"] == {"temperature": 1.0} and config["loss_args"]["temperature"] == 1.0
    run(["python", "stages/evaluate.py", "colorful"], cwd=project)
    as_trained = json.loads((project / "metrics" / "colorful.json").read_text())

    set_loss_args(project, decode_rebalance=1.0)
    redecoded = run(["python", "stages/train.py", "colorful"], cwd=project)
    assert "colorful: resuming after epoch 2" in redecoded.stdout
    config = json.loads((project / "models" / "colorful" / "config.json").read_text())
    prior = cls.smoothed_prior(cls.read_prior(project / "data" / "prior.json"))
    assert config["decoding"]["temperature"] == 1.0
    np.testing.assert_allclose(config["decoding"]["class_bias"], cls.decode_bias(prior, 0.5, 1.0), atol=1e-6)
    run(["python", "stages/evaluate.py", "colorful"], cwd=project)
    unbalanced = json.loads((project / "metrics" / "colorful.json").read_text())
    assert unbalanced["mse"] != as_trained["mse"] and unbalanced["epoch"] == as_trained["epoch"]
    curve = json.loads((project / "metrics" / "decoding" / "colorful.json").read_text())
    row = next(row for row in curve if row["decode_rebalance"] == 1.0)
    for key in ("mse", "auc", "auc_rebalanced", "colorfulness_ratio", "semantic_agreement", "semantic_kl", "fd_lite2"):
        assert row[key] == pytest.approx(unbalanced[key], rel=1e-6), f"the curve's row is the model decoded so: {key}"


def test_the_loss_on_the_head_with_block_targets_is_the_loss_on_its_upsampled_logits():
    """ResNet18's logits are its head's repeated over 2x2 blocks, so the engine trains the head against
    block targets (`LossInfo.blocks`): the same loss and the same gradient, a quarter of the logits."""
    import torch

    from colorization.architectures.resnet18 import Up2

    rng = np.random.default_rng(3)
    ab = torch.from_numpy(np.ascontiguousarray(model_batch(encoded_batch(2, 16, seed=3))[1].transpose(0, 3, 1, 2)))
    loss = cls.Classification(rng.uniform(0.5, 2.0, len(cls.bin_centres())))
    head = torch.randn(2, loss.channels, 8, 8, requires_grad=True)
    whole = loss.torch_loss(Up2()(head), loss.torch_targets(ab))
    whole.backward()
    expected_gradient, head.grad = head.grad.clone(), None
    blocks = loss.torch_loss(head, loss.torch_targets(ab, 2))
    blocks.backward()
    assert blocks.item() == pytest.approx(whole.item(), rel=1e-5)
    torch.testing.assert_close(head.grad, expected_gradient, rtol=1e-4, atol=1e-8)


def test_a_resnet18_classification_network_predicts_what_its_whole_network_would():
    import torch

    from colorization.architectures.resnet18 import ColorizationNet

    network = create("resnet18", lr=0.001, l_mean=0.5, l_std=0.25, seed=0, loss=cls.Classification())
    assert network.block == 2 and network.module.head_only
    whole = ColorizationNet(network.loss.channels)
    whole.load_state_dict(network.module.state_dict())
    whole.eval()
    l_input = np.random.default_rng(0).random((2, 16, 24, 1), dtype=np.float32)
    with torch.no_grad():
        logits = whole(torch.from_numpy(l_input.transpose(0, 3, 1, 2).copy())).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(network.predict(l_input), network.loss.decode(logits), atol=1e-6)
