"""Ship a model this pipeline trained inside the package, where `colorize` finds it without `dvc repro`
(`core.paths.SHIPPED`): its config.json and weights, the metrics evaluate@NAME measured with the grey
image's beside them, its decoding curve and, for a hint model, its quality against hints, the composed
params.yaml that trained it (the recipe), and where it came from.

    python -m colorization.models.ship NAME [--project DIR] [--note TEXT] [--half]

With --half the weights are stored in half precision (half the bytes; they load as float32), for a
model whose float32 weights would pass what the repository carries.

run in (or with --project) a project whose pipeline trained and evaluated models/NAME (`dvc exp run
-S +recipe=reference`, then `dvc exp apply`, or the experiment's own workspace).
"""

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from .. import engines
from ..core.errors import UserError, run_main
from ..core.files import atomic_directory, write_json
from ..core.paths import SHIPPED, Project
from . import saved

MAX_BYTES = 10_000_000  # what the repository carries


def ship(project: Project, name: str, destination: Path, note: str = "", half: bool = False) -> Path:
    """Copy models/NAME and its evaluation from `project` into `destination`/NAME (replaced whole); `half`:
    its weights in half precision."""
    spec = saved.read_config(project.model(name))
    weights = saved.model_file(project.model(name), spec)
    needed = {
        "config.json": project.model(name) / saved.CONFIG_FILE,
        saved.model_file(project.model(name), spec).name: saved.model_file(project.model(name), spec),
        "metrics.json": project.model_metrics(name),
        "gray.json": project.gray_metrics,
        "decoding.json": project.decoding_curve(name),
        "recipe.yaml": project.root / "params.yaml",
    }
    missing = [str(path) for path in needed.values() if not path.is_file()]
    if project.hint_curve(name).is_file():
        needed["hints.json"] = project.hint_curve(name)
    if missing:
        raise UserError(f"{missing[0]} not found: train and evaluate {name} first (dvc repro evaluate@{name} baseline)")
    size = sum(path.stat().st_size for path in needed.values())
    if half:
        size -= weights.stat().st_size // 2
    if size > MAX_BYTES:
        raise UserError(
            f"{name} is {size / 1e6:.1f} MB, more than the {MAX_BYTES / 1e6:.0f} MB the repository carries"
            + ("" if half else " (--half stores its weights in half the bytes)")
        )
    destination.mkdir(parents=True, exist_ok=True)
    meta = json.loads((project.lab / "meta.json").read_text()) if (project.lab / "meta.json").is_file() else {}
    with atomic_directory(destination / name) as temporary:
        for target, source in needed.items():
            if half and source == weights:
                engines.engine(spec.framework).store_half(source, temporary / target)
            else:
                shutil.copyfile(source, temporary / target)
        write_json(
            temporary / "provenance.json",
            {
                "commit": _commit(project.root),
                "data": {key: meta.get(key) for key in ("image_size", "counts", "l_mean", "l_std")},
                "note": note,
                "weights": "float16" if half else "as trained",
            },
        )
    return destination / name


def _commit(root: Path) -> str:
    """The git commit the project was at (the experiment's baseline), or "" outside git."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m colorization.models.ship", description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--note", default="", help="how long it trained, on what: kept in provenance.json")
    parser.add_argument("--half", action="store_true", help="store the weights in half precision")
    args = parser.parse_args(argv)
    folder = ship(Project(args.project), args.name, SHIPPED, args.note, args.half)
    print(f"shipped {args.name} into {folder}")


if __name__ == "__main__":
    run_main(main)
