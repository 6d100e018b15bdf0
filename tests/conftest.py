"""Shared test helpers: the repository root, a project copy in a temporary directory, subprocess env."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests make their films with bench.workloads, as the benchmarks do
SHARED_DATA = ROOT.parent / "shared" / "data"

TINY_PARAMS = {
    "data": {"n_images": 48, "image_size": 16, "shard_size": 16},
    "train": {"epochs": 2, "batch_size": 8},
    "models": {"cnn_v1": {"n_train": 24}, "cnn_v2": {"n_train": 24}},
    "evaluate": {"batch_size": 16, "n_examples": 3},
}


ONE_COLOUR = (166, 102)  # encoded a and b bytes: ab/128 = (0.297, -0.203)


def encoded_batch(count: int, size: int, colour: tuple[int, int] | None = None, seed: int = 0) -> np.ndarray:
    """Shard-encoded images (count, size, size, 3): random lightness, and one colour or random ab in
    [-64, 64) LAB units."""
    rng = np.random.default_rng(seed)
    encoded = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    encoded[..., 1:] = colour if colour is not None else rng.integers(64, 192, (count, size, size, 2))
    return encoded


def project_env(cwd: Path | None = None) -> dict:
    """Environment for subprocesses: this interpreter's `python` first on PATH, a git identity set, and,
    in a project copy, the copy's own src/ first on the import path (the install points at this
    checkout's), so that the code a copy runs is the code DVC tracks there."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if cwd is not None and (Path(cwd) / "src" / "colorization").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(cwd).resolve() / "src"), env.get("PYTHONPATH")]))
    env.update(
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.com",
        DVC_NO_ANALYTICS="1",
    )
    return env


def run(args: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command in `cwd` with the project environment (plus `env`); on an unexpected failure show its
    output."""
    result = subprocess.run(args, cwd=cwd, env=project_env(cwd) | (env or {}), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def dvc(*args: str, cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "dvc", *args], cwd=cwd, check=check, env=env)


def deep_update(target: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_update(target[key], value)
        else:
            target[key] = value
    return target


def write_params(project: Path, params: dict) -> None:
    """Make `params` the project's settings: its params.yaml, and the conf/config.yaml that `dvc exp run`
    composes params.yaml from (Hydra), so that an experiment starts from them too."""
    text = yaml.safe_dump(params, sort_keys=False)
    (project / "params.yaml").write_text(text)
    (project / "conf" / "config.yaml").write_text(text)


def copy_project(destination: Path, params: dict | None = None) -> Path:
    """Copy the project's source files (tracked and not ignored) into a new git repo at `destination`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if params is not None:
        write_params(destination, deep_update(yaml.safe_load((destination / "params.yaml").read_text()), params))
    run(["git", "init", "-q", "-b", "main"], cwd=destination)
    run(["git", "add", "-A"], cwd=destination)
    run(["git", "commit", "-q", "-m", "project copy"], cwd=destination)
    return destination


def colorize_project(
    root: Path, archs: tuple[str, ...] = ("resnet18",), image_size: int = 32, steps: int | None = None
) -> Path:
    """A project folder for `colorize` whose models/<arch> were trained for a few steps on `image_size`
    images, towards a clearly visible colour so that the outputs have chroma (`steps`, default 10 for
    resnet18 and 2 for the others, which often only have to exist)."""
    from colorization.engines import create
    from colorization.models import ModelSpec, saved

    batch = encoded_batch(4, image_size, ONE_COLOUR)
    for arch in archs:
        network = create(arch, lr=0.005, l_mean=0.5, l_std=0.29, seed=0)
        for _ in range(steps if steps is not None else 10 if arch == "resnet18" else 2):
            network.train_step(batch)
        saved.save(network, root / "models" / arch, ModelSpec(name=arch, image_size=image_size))
    return root


def hint_model(directory: Path, image_size: int = 32, steps: int = 200) -> Path:
    """A U-Net with a hint input (MSE) trained for `steps` on smooth random photos of one colour each,
    with hints simulated from them as in training: it learns to colour what a hint tells it. Saved as a
    model folder at `directory`."""
    from colorization.core import hints
    from colorization.core.encoding import model_batch
    from colorization.engines import create
    from colorization.models import ModelSpec, saved
    from photo_files import colour_photo

    network = create("unet", lr=0.003, l_mean=0.5, l_std=0.29, seed=0, options={"hints": True})
    rng = np.random.default_rng(0)
    for step in range(steps):
        batch = np.empty((8, image_size, image_size, 3), dtype=np.uint8)
        for index in range(8):
            grey = np.asarray(colour_photo(step * 8 + index, image_size, image_size).convert("L"), dtype=np.float32)
            batch[index, ..., 0] = np.rint(grey * 100 / 255 * 2.55)
        batch[..., 1:] = rng.integers(28, 228, (8, 1, 1, 2))
        network.train_step(batch, None, hints.simulate(model_batch(batch)[1], rng))
    saved.save(network, directory, ModelSpec(name=directory.name, arch="unet", hints=True, image_size=image_size))
    return directory


LONGEST_FIRST = ("test_pipeline.py", "test_reliability.py", "test_distributed.py", "test_page_attacks.py")


def pytest_collection_modifyitems(items):
    """Start the modules with the longest chains of subprocesses first (their order in LONGEST_FIRST),
    the others after in their usual order: with pytest-xdist sending whole modules to its workers
    (pyproject's addopts), a long module started last would leave the other worker idle to the end."""

    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)
