"""Peak memory and time of the places365 download stage on a generated archive of about 2 GB.

Writes a tar in the layout of train_256_places365standard.tar (365 categories of distinct 256x256
JPEGs of about 10 KB, like the real ones) under --workdir, serves it from a separate `http.server`
process on 127.0.0.1, and runs the real stage code in a child process in two phases: the download
into a cache directory (`fetch`), then `download()`, which finds the archive cached and selects
--n-images photos while streaming the tar. Prints the archive size and member count, and per phase
the wall time and the child's peak RSS (ru_maxrss, which only grows: the second figure is the peak
of the whole run). Deletes the work directory afterwards unless --keep.

    PYTHONPATH=src python bench/places365_stream_memory.py --size-gb 2 --n-images 46000
"""

import argparse
import hashlib
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

ARCHIVE = "train_256_places365standard.tar"
CATEGORIES = 365
SIDE = 256


def _photo(index: int) -> bytes:
    """A distinct smooth colour field with grain, JPEG quality 70 (about 10 KB at 256x256)."""
    rng = np.random.default_rng(index)
    coarse = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((SIDE, SIDE), Image.BILINEAR)
    grain = rng.integers(-16, 17, (SIDE, SIDE, 3), dtype=np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.asarray(coarse, dtype=np.int16) + grain, 0, 255).astype(np.uint8)).save(
        buffer, "JPEG", quality=70
    )
    return buffer.getvalue()


def generate(path: Path, size_bytes: int, jobs: int) -> int:
    """Write the tar, category after category, until it reaches `size_bytes`; return the member count."""
    count = 0
    with tarfile.open(path, "w") as archive, Pool(jobs) as pool:
        for photo in pool.imap(_photo, range(size_bytes // 2000), chunksize=64):
            category = f"category{count % CATEGORIES:03d}"
            info = tarfile.TarInfo(f"data_256/c/{category}/{count // CATEGORIES + 1:08d}.jpg")
            info.size = len(photo)
            archive.addfile(info, io.BytesIO(photo))
            count += 1
            if archive.offset >= size_bytes:
                pool.terminate()
                break
    return count


def md5_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "md5").hexdigest()


CHILD = """
import json, resource, sys, time
from pathlib import Path
from colorization.core.params import DataParams, Places365Params
from colorization.sources.places365 import archive_location
from colorization.sources import download
url, md5, workdir, n_images = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
data = DataParams(source="places365", n_images=n_images, image_size=256, val_fraction=0.1, shard_size=1024,
                  cache_dir=workdir / "cache", places365=(Places365Params(url=url, md5=md5),))
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
archive_location(data, data.places365[0], "data.places365")
fetched = time.perf_counter()
fetch_peak = peak()
gathered = download(data, seed=42, raw_dir=workdir / "raw")
done = time.perf_counter()
print(json.dumps({"fetch_s": fetched - start, "fetch_peak_mib": fetch_peak, "select_s": done - fetched,
                  "peak_mib": peak(), "selected": len(gathered.images), "skipped": len(gathered.skipped),
                  "near_duplicates": sum(1 for row in gathered.images if row.near_duplicate_of)}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--n-images", type=int, default=46000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/places365-stream-bench"))
    parser.add_argument("--jobs", type=int, default=2, help="processes generating the photos")
    parser.add_argument("--keep", action="store_true", help="keep the generated archive and outputs")
    args = parser.parse_args()

    serve = args.workdir / "serve"
    serve.mkdir(parents=True, exist_ok=True)
    archive = serve / ARCHIVE
    try:
        counted = args.workdir / "members.txt"
        if not (archive.is_file() and counted.is_file()):
            start = time.perf_counter()
            counted.write_text(str(generate(archive, int(args.size_gb * 1e9), args.jobs)))
            print(f"generated {archive} in {time.perf_counter() - start:.0f} s")
        members = int(counted.read_text())
        size = archive.stat().st_size
        print(f"archive: {size / 1e9:.2f} GB, {members} photos; selecting {args.n_images}")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(serve)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(1)
            child = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD,
                    f"http://127.0.0.1:{port}/{ARCHIVE}",
                    md5_of(archive),
                    str(args.workdir),
                    str(args.n_images),
                ],
                capture_output=True,
                text=True,
            )
        finally:
            server.terminate()
            server.wait()
        if child.returncode:
            sys.exit(child.stderr)
        result = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"download over HTTP into the cache: {result['fetch_s']:.0f} s, peak RSS {result['fetch_peak_mib']:.0f} MiB"
        )
        print(
            f"streaming selection of {result['selected']} photos ({result['skipped']} skipped, "
            f"{result['near_duplicates']} near-duplicates): {result['select_s']:.0f} s"
        )
        print(f"peak RSS of the whole download stage: {result['peak_mib']:.0f} MiB")
    finally:
        if not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
