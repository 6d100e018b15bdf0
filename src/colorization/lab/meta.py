"""data/lab/meta.json, read and written through one typed definition, and the prepared data as the
training and evaluation stages open it: memory-mapped shards of both splits plus that metadata."""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..core.errors import UserError
from ..core.files import write_json
from .shards import LabShards

META_FILE = "meta.json"
ENCODING = "uint8 (H, W, 3): round(L*255/100), round(a)+128, round(b)+128; see colorization.core.encoding"


@dataclass(frozen=True)
class LabMeta:
    """What prepare made: image size, split sizes, validation groups and the training set's L/100 statistics."""

    image_size: int
    counts: dict[str, int]  # {"train": n, "val": n}
    val_groups: list[str]
    l_mean: float  # mean of L/100 over every training pixel
    l_std: float  # its standard deviation
    skipped_smaller_than_image_size: int
    # the training images' scene categories, sorted; {split}/labels.npy indexes them (empty: no labels)
    categories: list[str]
    encoding: str = ENCODING

    def write(self, lab_dir: Path) -> None:
        write_json(Path(lab_dir) / META_FILE, asdict(self))

    @classmethod
    def read(cls, lab_dir: Path) -> "LabMeta":
        path = Path(lab_dir) / META_FILE
        if not path.is_file():
            raise UserError(f"{path} not found: run the prepare stage first (dvc repro prepare)")
        try:
            values = json.loads(path.read_text())
            return cls(**{field.name: values[field.name] for field in fields(cls)})
        except (ValueError, KeyError, TypeError) as error:
            raise UserError(
                f"{path} is not a meta.json written by this version ({error!r}): "
                "run the prepare stage again (dvc repro -f prepare)"
            ) from None


@dataclass
class PreparedData:
    train: LabShards
    val: LabShards
    meta: LabMeta


def open_prepared(lab_dir: Path | str, n_train: int | None = None) -> PreparedData:
    """Open data/lab: the first `n_train` training images (all if None) and the whole validation split."""
    lab_dir = Path(lab_dir)
    meta = LabMeta.read(lab_dir)
    available = meta.counts["train"]
    if n_train is not None and n_train > available:
        raise UserError(f"n_train = {n_train} is more than the {available} training images in {lab_dir}")
    return PreparedData(train=LabShards(lab_dir / "train", limit=n_train), val=LabShards(lab_dir / "val"), meta=meta)
