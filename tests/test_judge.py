"""The judge that sees objects: its verdicts on real photos, its Fréchet distance against the textbook
formula, and that it only measures (nothing that trains or chooses a model reads it)."""

import ast
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from scipy import linalg
from skimage.transform import resize

import colorization
from colorization.core.color import rgb_to_lab
from colorization.core.encoding import AB_SCALE
from colorization.evaluation.judge import Judge, Moments, frechet_distance
from colorization.evaluation.metrics import MetricAccumulator

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field", "immunohistochemistry")


@pytest.fixture(scope="module")
def judge():
    return Judge()


@pytest.fixture(scope="module")
def photos():
    """skimage's colour photos at 128 x 128 as model units: L/100 (B, H, W, 1) and ab/128 (B, H, W, 2)."""
    rgb = np.stack([resize(getattr(skimage.data, name)(), (128, 128), anti_aliasing=True) for name in PHOTOS])
    lab = rgb_to_lab(rgb.astype(np.float32))
    return (lab[..., :1] / 100).astype(np.float32), (lab[..., 1:] / AB_SCALE).astype(np.float32)


def test_the_truth_agrees_with_itself_and_the_grey_photo_less(judge, photos):
    l_input, ab = photos
    truth, grey = MetricAccumulator(judge), MetricAccumulator(judge)
    truth.add(l_input, ab, ab)
    grey.add(l_input, np.zeros_like(ab), ab)
    itself, greyed = truth.result(), grey.result()
    assert itself["semantic_agreement"] == 1.0 and itself["semantic_kl"] == pytest.approx(0.0, abs=1e-9)
    assert itself["fd_lite2"] == pytest.approx(0.0, abs=0.01), "up to rounding: 6 photos, 1280 features"
    assert greyed["semantic_agreement"] == greyed["semantic_agreement_grey"] == itself["semantic_agreement_grey"]
    assert greyed["semantic_agreement"] < 1.0, "some of these photos need their colour to be named"
    assert greyed["semantic_kl"] > 0.1 and greyed["fd_lite2"] > 10.0


def test_halves_merged_are_the_whole(judge, photos):
    l_input, ab = photos
    shifted = np.clip(ab * 0.5 + 0.05, -1, 1).astype(np.float32)
    whole, first, second = MetricAccumulator(judge), MetricAccumulator(judge), MetricAccumulator(judge)
    whole.add(l_input, shifted, ab)
    first.add(l_input[:3], shifted[:3], ab[:3])
    second.add(l_input[3:], shifted[3:], ab[3:])
    merged, direct = first.merged(second).result(), whole.result()
    for key in ("semantic_agreement", "semantic_agreement_grey", "semantic_kl", "fd_lite2", "fd_lite2_grey"):
        assert merged[key] == pytest.approx(direct[key], rel=1e-6, abs=1e-6), key


def test_the_frechet_distance_is_the_textbook_formula():
    rng = np.random.default_rng(0)
    first, second = Moments(), Moments()
    first.add(rng.normal(size=(2000, 1280)))
    second.add(rng.normal(size=(2000, 1280)) * 1.2 + 0.1)
    (mean1, cov1), (mean2, cov2) = first.gaussian(), second.gaussian()
    textbook = np.sum((mean1 - mean2) ** 2) + np.trace(cov1 + cov2 - 2 * linalg.sqrtm(cov1 @ cov2).real)
    assert frechet_distance(first, second) == pytest.approx(textbook, rel=1e-6)
    assert frechet_distance(second, first) == pytest.approx(textbook, rel=1e-6), "symmetric, whichever is rooted"
    assert frechet_distance(first, second) == pytest.approx(textbook, rel=1e-6), "the kept root is the right one"


def test_nothing_that_trains_or_chooses_a_model_reads_the_judge():
    """The judge only measures: no loss, engine, training loop or model recipe imports it."""
    package = Path(colorization.__file__).parent
    for folder in ("losses", "engines", "training", "models", "architectures", "core", "lab", "sources"):
        for path in (package / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [getattr(node, "module", None) or ""] + [alias.name for alias in node.names]
                    assert not any("judge" in name for name in names), f"{path} imports the judge"
