"""The places365 source: a seeded uniform subset of the Places365-Standard 256x256 photos.

The archive (`data.places365.url`, default the official 24 GB `train_256_places365standard.tar`
with 1,803,460 photos in `data_256/<letter>/<category>[/<subcategory>]/*.jpg`) is downloaded once into the cache
directory and verified against `data.places365.md5`; a URL that is a local path or file:// is read
in place and verified while it is read. `data.places365.url` may also list several archives, with
one md5 each (Places365 ships its photos in several; MiniPlaces comes here in two), read one after the
other as one stream of photos. Each tar is read as a stream, once, and only the chosen
photos are written into data/raw, byte for byte, under their path in the archive. Each photo is its
own group (near-duplicates share one); see `selection` for how the subset is chosen. Its folder names
its scene, which the manifest records (`category`) for a scene classifier to learn from.
"""

from dataclasses import replace
from pathlib import Path, PurePosixPath

from ..core.errors import UserError
from ..core.params import DataParams, Places365Params
from .archives import Listing, ProgressReader, stream_tar
from .downloads import default_cache_dir, fetch, local_path
from .manifest import Gathered
from .selection import select_images

OFFICIAL_URL = "http://data.csail.mit.edu/places/places365/train_256_places365standard.tar"


def archive_location(data: DataParams, places: Places365Params, index: str = "") -> tuple[Path, bool]:
    """The archive on this machine, downloading it into the cache if needed, and whether it still needs
    its MD5 checked (a local copy named by the URL is checked while it is streamed). `index` is its
    place in a list of urls ("[1]"), for the messages."""
    local = local_path(places.url)
    if local is None:
        cache = data.cache_dir or default_cache_dir()
        return fetch(places.url, places.md5, cache / "places365", "data.places365", index), False
    if not local.is_file():
        raise UserError(f"params.yaml: data.places365.url{index} = {places.url!r}: no such file")
    return local, places.md5 is not None


def gather_places365(data: DataParams, seed: int, out_dir: Path) -> Gathered:
    several = len(data.places365) > 1
    keys = [f"[{index}]" if several else "" for index in range(len(data.places365))]  # data.places365.url[1]
    located = [archive_location(data, places, key) for places, key in zip(data.places365, keys)]
    readers: list[ProgressReader] = []

    def entries():
        for (archive, verify), places, key in zip(located, data.places365, keys):
            with open(archive, "rb") as handle:
                reader = ProgressReader(
                    handle, archive.stat().st_size, f"selecting from {archive.name}", hash_md5=verify
                )
                readers.append(reader)
                try:
                    yield from stream_tar(reader, str(archive), Listing())
                    if verify:
                        reader.drain()
                finally:
                    reader.close()
            if verify and reader.md5.hexdigest() != places.md5:
                raise UserError(
                    f"{archive}: MD5 is {reader.md5.hexdigest()}, expected {places.md5} "
                    f"(data.places365.md5{key}): nothing was kept"
                )

    label = "+".join(archive.name for archive, _ in located)
    gathered = select_images(entries(), data.n_images, seed, out_dir, label)
    if not gathered.images:
        raise UserError(f"{label}: no usable image among its {gathered.examined} image files")
    return replace(gathered, images=[replace(row, category=scene_category(row.file)) for row in gathered.images])


def scene_category(member: str) -> str:
    """The scene a Places archive member shows, named by its folders: data_256/a/abbey/x.jpg -> abbey,
    data_256/b/bedchamber/indoor/x.jpg -> bedchamber/indoor; empty outside that layout."""
    parts = PurePosixPath(member).parts
    if len(parts) >= 4 and len(parts[1]) == 1:
        return "/".join(parts[2:-1])
    return ""
