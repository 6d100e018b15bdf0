"""The prepared dataset as the training and evaluation stages see it: shards plus metadata."""

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .shards import LabShards

META_FILE = "meta.json"


@dataclass
class PreparedData:
    train: LabShards
    val: LabShards
    meta: dict


def open_prepared(lab_dir: Path | str, n_train: int | None = None) -> PreparedData:
    """Open data/lab: the first `n_train` training images (all if None) and the whole validation split."""
    lab_dir = Path(lab_dir)
    meta_path = lab_dir / META_FILE
    if not meta_path.is_file():
        raise UserError(f"{meta_path} not found: run the prepare stage first (dvc repro prepare)")
    meta = json.loads(meta_path.read_text())
    available = meta["counts"]["train"]
    if n_train is not None and n_train > available:
        raise UserError(f"n_train = {n_train} is more than the {available} training images in {lab_dir}")
    return PreparedData(train=LabShards(lab_dir / "train", limit=n_train), val=LabShards(lab_dir / "val"), meta=meta)
