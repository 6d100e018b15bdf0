"""Per-epoch training checkpoints, so a killed training resumes where it stopped with the same result.

`checkpoints/<arch>/epoch_NNNN/` holds the network with its optimizer state (the engine's checkpoint
file) and state.json: the losses of the epochs so far, the batch-order generator's state, and a
fingerprint of everything the result depends on (the architecture, its params and the prepared data).
A checkpoint is written under a temporary name and renamed when complete; only the newest is kept.
"""

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .files import write_json
from .params import Params

STATE_FILE = "state.json"


@dataclass
class Checkpoint:
    directory: Path
    epochs_done: int
    history: list[dict]
    rng_state: dict
    fingerprint: str


def fingerprint(arch: str, params: Params, lab_dir: Path) -> str:
    """A digest of the params of `arch`'s training and of the prepared data's metadata and file lists."""
    digest = hashlib.sha256()
    settings = {"arch": arch, "seed": params.seed, "lr": params.lr, "train": asdict(params.train),
                "model": asdict(params.model(arch))}
    digest.update(json.dumps(settings, sort_keys=True).encode())
    lab_dir = Path(lab_dir)
    for path in [lab_dir / "meta.json", *sorted(lab_dir.glob("*/index.csv"))]:
        digest.update(path.read_bytes())
    for path in sorted(lab_dir.glob("*/shard_*.npy")):
        digest.update(f"{path.relative_to(lab_dir)}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def latest(root: Path) -> Checkpoint | None:
    """The newest complete checkpoint under `root`, or None."""
    complete = sorted(Path(root).glob("epoch_*/" + STATE_FILE))
    if not complete:
        return None
    state_path = complete[-1]
    state = json.loads(state_path.read_text())
    return Checkpoint(state_path.parent, state["epochs_done"], state["history"], state["rng_state"], state["fingerprint"])


def save(root: Path, network, history: list[dict], rng_state: dict, digest: str) -> Path:
    """Write a checkpoint after `len(history)` epochs and remove the older ones."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"epoch_{len(history):04d}"
    temporary = root / f"tmp-{final.name}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    network.save_checkpoint(temporary)
    write_json(temporary / STATE_FILE, {"epochs_done": len(history), "history": history, "rng_state": rng_state,
                                        "fingerprint": digest})
    shutil.rmtree(final, ignore_errors=True)
    temporary.rename(final)
    for old in root.iterdir():
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def clear(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
