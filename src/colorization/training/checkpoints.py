"""Per-epoch training checkpoints, so a killed training resumes where it stopped with the same result.

`checkpoints/<name>/epoch_NNNN/` holds the network with its optimizer state (the engine's checkpoint
file) and state.json: the losses of the epochs so far, the batch-order generator's state, and the
fingerprint of everything the result depends on: the model's params, the prepared data, the source of
every project module the training runs and the versions of the packages that compute it. A checkpoint
is written under a temporary name and renamed when complete; only the newest is kept. Beside them,
`best/` holds the best epoch so far as a saved model folder, which becomes the trained model.
"""

import hashlib
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from ..core.files import atomic_directory, write_json
from ..core.params import Params
from ..engines import engine
from ..models import ModelSpec, saved

STATE_FILE = "state.json"
BEST = "best"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
NUMERIC_PACKAGES = ("numpy", "numba")  # the batch conversion; each engine names its framework's own


@dataclass
class Checkpoint:
    directory: Path
    epochs_done: int
    history: list[dict]
    rng_state: dict
    fingerprint: dict


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def code_digests() -> dict[str, str]:
    """sha256 of the source of every project module loaded in this process, by path in the package.

    The training imports everything it runs before it starts (modules, the engine, the architecture),
    so this covers the training loop, the engine, the architecture and the core they use.
    """
    digests = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and Path(path).suffix == ".py" and Path(path).resolve().is_relative_to(PACKAGE_ROOT):
            path = Path(path).resolve()
            digests[path.relative_to(PACKAGE_ROOT).as_posix()] = _digest(path.read_bytes())
    return dict(sorted(digests.items()))


def data_digest(lab_dir: Path) -> str:
    """A digest of the prepared data's metadata, index files and shard file sizes."""
    digest = hashlib.sha256()
    lab_dir = Path(lab_dir)
    for path in [lab_dir / "meta.json", *sorted(lab_dir.glob("*/index.csv"))]:
        digest.update(path.read_bytes())
    for path in sorted(lab_dir.glob("*/shard_*.npy")):
        digest.update(f"{path.relative_to(lab_dir)}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def fingerprint(
    spec: ModelSpec, params: Params, lab_dir: Path, world_size: int = 1, precision: str = "float32"
) -> dict:
    """Everything a training's result depends on, in four parts that `differences` can name. How many
    workers share each batch is one of them: on CPUs each normalises its own share. So is what the
    network computes in (`precision`): mixed precision falls back to float32 where bfloat16 is emulated."""
    # what counts is how many workers share a batch, not what train.devices asked
    settings = {
        "model": spec.recipe(),
        "seed": params.seed,
        "train": asdict(params.train) | {"devices": None},
        "workers": world_size,
        "precision": precision,
    }
    if spec.init_directory is not None:  # the weights it starts from
        settings["init"] = _digest(saved.model_file(spec.init_directory, spec).read_bytes())
    elif spec.architecture.pretrained is not None:  # its ImageNet encoder: the package and the file's digest
        settings["encoder"] = spec.architecture.pretrained.describe()
    versions = {name: metadata.version(name) for name in NUMERIC_PACKAGES} | engine(spec.framework).versions()
    # A cap on oneDNN's instruction set picks other convolution kernels, so it changes the trained weights.
    versions["ONEDNN_MAX_CPU_ISA"] = os.environ.get("ONEDNN_MAX_CPU_ISA", "DEFAULT")
    return {
        "params": _digest(json.dumps(settings, sort_keys=True).encode()),
        "data": data_digest(lab_dir),
        "code": code_digests(),
        "versions": versions,
    }


def differences(saved: dict, current: dict) -> str:
    """How a checkpoint's fingerprint differs from the current one, in words ('' when it does not):
    'with other params, code (models/resnet18.py)', 'by an older version of this project', ..."""
    if not isinstance(saved, dict):
        return "by an older version of this project"
    found = [part for part in ("params", "data") if saved.get(part) != current[part]]
    saved_code = saved.get("code") or {}
    changed = sorted(
        path for path in saved_code.keys() | current["code"].keys() if saved_code.get(path) != current["code"].get(path)
    )
    if changed:
        found.append(f"code ({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''})")
    saved_versions = saved.get("versions") or {}
    moved = [
        f"{name} {saved_versions.get(name)} -> {version}"
        for name, version in current["versions"].items()
        if saved_versions.get(name) != version
    ]
    if moved:
        found.append(f"package versions ({', '.join(moved)})")
    return f"with other {', '.join(found)}" if found else ""


def latest(root: Path) -> Checkpoint | None:
    """The newest complete checkpoint under `root`, or None."""
    complete = sorted(Path(root).glob("epoch_[0-9][0-9][0-9][0-9]/" + STATE_FILE))
    if not complete:
        return None
    state_path = complete[-1]
    state = json.loads(state_path.read_text())
    return Checkpoint(
        state_path.parent, state["epochs_done"], state["history"], state["rng_state"], state["fingerprint"]
    )


def save(root: Path, network, history: list[dict], rng_state: dict, fingerprint: dict) -> Path:
    """Write a checkpoint after `len(history)` epochs and remove the older ones."""
    root = Path(root)
    final = root / f"epoch_{len(history):04d}"
    with atomic_directory(final) as temporary:
        network.save_checkpoint(temporary)
        write_json(
            temporary / STATE_FILE,
            {"epochs_done": len(history), "history": history, "rng_state": rng_state, "fingerprint": fingerprint},
        )
    for old in root.iterdir():
        if old not in (final, best_directory(root)):
            shutil.rmtree(old, ignore_errors=True)
    return final


def best_directory(root: Path) -> Path:
    return Path(root) / BEST


def save_best(root: Path, network, spec: ModelSpec) -> None:
    """Replace the best epoch's saved model folder under `root` with `network`."""
    with atomic_directory(best_directory(root)) as temporary:
        saved.save(network, temporary, spec)


def clear(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
