"""The folder source: your own photos, from a folder (searched recursively) or a .tar/.tar.gz/.zip of them.

`data.path` names it. Files with a photo suffix (jpg, jpeg, png, webp, bmp, tif, tiff, any case) are
considered, hidden files and folders in a folder are not; if there are more usable ones than
`data.n_images`, a seeded uniform subset is taken (see `selection`). Chosen files are copied into
data/raw byte for byte under their relative path. DVC cannot see the folder's contents, only the param:
after adding photos, run `dvc repro -f download`.
"""

from collections import Counter
from pathlib import Path

from tqdm import tqdm

from ..core.errors import UserError
from ..core.params import DataParams
from ..core.photo import IMAGE_SUFFIXES
from .archives import ARCHIVE_SUFFIXES, TAR_SUFFIXES, Listing, open_collection
from .manifest import Gathered
from .selection import select_images


def gather_folder(data: DataParams, seed: int, out_dir: Path) -> Gathered:
    path = data.path
    if not path.exists():
        raise UserError(f"params.yaml: data.path = '{path}': no such folder or file")
    if path.is_file() and not path.name.lower().endswith(ARCHIVE_SUFFIXES):
        raise UserError(
            f"params.yaml: data.path = '{path}': must be a folder or a {'/'.join(ARCHIVE_SUFFIXES)} archive"
        )
    listing = Listing()
    label = path.resolve().name
    with open_collection(path, listing) as entries:
        if not path.name.lower().endswith(TAR_SUFFIXES):  # a tar shows its own bar, in bytes
            entries = tqdm(entries, desc=f"reading {label}", unit=" files", mininterval=1, leave=False)
        gathered = select_images(entries, data.n_images, seed, out_dir, label)
    if gathered.examined == 0:
        others = (
            f"; it holds {listing.other_files} other files, e.g. {', '.join(listing.other_examples)}"
            if listing.other_files
            else ""
        )
        raise UserError(f"{path}: no image files ({', '.join(suffix[1:] for suffix in IMAGE_SUFFIXES)}){others}")
    if not gathered.images:
        reasons = Counter(skipped.reason for skipped in gathered.skipped)
        raise UserError(
            f"{path}: no usable image among its {gathered.examined} image files "
            f"({', '.join(f'{count} {reason}' for reason, count in reasons.most_common())})"
        )
    return gathered
