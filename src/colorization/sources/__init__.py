"""The registry of data sources for the download stage: each gathers raw colour photos into a directory.

- `sample` (`sample.py`): seeded crops of the photos bundled with scikit-image and matplotlib, offline;
- `places365` (`places365.py`): a seeded uniform subset of the Places365 archive, downloaded once;
- `folder` (`folder.py`): your own photos, from a folder or an archive.

`download` builds data/raw in a temporary sibling and renames it when whole, with manifest.csv (the
usable images) and skipped.csv (what was left out and why); see `manifest`. Adding a source is one
module here plus one line in SOURCES.
"""

from collections import Counter
from pathlib import Path

from ..core.files import atomic_directory
from ..core.params import DataParams
from .folder import gather_folder
from .manifest import SKIPPED, Gathered, write_manifest
from .places365 import gather_places365
from .sample import gather_sample

SOURCES = {"sample": gather_sample, "places365": gather_places365, "folder": gather_folder}


def download(data: DataParams, seed: int, raw_dir: Path) -> Gathered:
    """Gather the configured source into `raw_dir`, built in a temporary sibling and renamed when whole;
    on any error the temporary is removed and an existing `raw_dir` is left as it was."""
    with atomic_directory(raw_dir) as temporary:
        gathered = SOURCES[data.source](data, seed, temporary)
        write_manifest(temporary, gathered.images, gathered.skipped)
    return gathered


def summary(gathered: Gathered, data: DataParams, raw_dir: Path) -> str:
    """The download stage's one-line report: images, source photos, near-duplicates, skipped by reason."""
    images = gathered.images
    origin = {
        "folder": f"folder {data.path}",
        "places365": "places365 " + ", ".join(places.url for places in data.places365),
    }
    line = (
        f"download: {len(images)} images from {len({row.group for row in images})} source photos "
        f"({origin.get(data.source, data.source)}) in {raw_dir}"
    )
    grouped = sum(1 for row in images if row.near_duplicate_of)
    if grouped:
        line += f"; {grouped} near-duplicates grouped with their originals (column near_duplicate_of)"
    if gathered.skipped:
        reasons = Counter(skipped.reason for skipped in gathered.skipped)
        line += (
            f"; skipped {len(gathered.skipped)}: "
            f"{', '.join(f'{count} {reason}' for reason, count in reasons.most_common())} "
            f"(listed in {Path(raw_dir) / SKIPPED})"
        )
    if len(images) < data.n_images:
        line += f"; only {len(images)} usable images of the {data.n_images} asked for (data.n_images)"
    return line
