"""The places365 source against a real HTTP server on 127.0.0.1 serving a Places365-layout tar built here:
complete, cut-off-and-resumed, range-less, corrupt and missing downloads; seeded uniform subsampling."""

import hashlib
import re
import tarfile
import threading
from collections import Counter
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from colorization.core.errors import UserError
from colorization.core.params import DataParams, Places365Params
from colorization.sources import download, summary
from colorization.sources.downloads import fetch
from colorization.sources.manifest import read_manifest, read_skipped
from colorization.sources.selection import selection_key
from photo_files import add_member, colour_photo, encode, places_tar

ARCHIVE = "train_256_places365standard.tar"
ETAG = '"places-v1"'


class ArchiveServer:
    """Serves named byte strings over HTTP/1.1 and records each request's headers.

    ranges: answer `Range: bytes=N-` with 206 (else ignore it and send everything with 200);
    cut_first: how many first responses stop halfway through the body and drop the connection;
    missing_after_first: answer 404 once a first request was served (a mirror that went away).
    """

    def __init__(
        self, files: dict[str, bytes], ranges: bool = True, cut_first: int = 0, missing_after_first: bool = False
    ):
        self.files, self.ranges, self.cuts_left = files, ranges, cut_first
        self.missing_after_first = missing_after_first
        self.requests: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(dict(self.headers.items()))
                body = server.files.get(self.path.lstrip("/"))
                if body is None or (server.missing_after_first and len(server.requests) > 1):
                    self.send_error(404)
                    return
                start, status = 0, 200
                wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if server.ranges and wanted and self.headers.get("If-Range", ETAG) == ETAG:
                    start, status = int(wanted.group(1)), 206
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self.send_response(status)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("ETag", ETAG)
                if server.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if server.cuts_left:
                    server.cuts_left -= 1
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str = ARCHIVE) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def __enter__(self) -> "ArchiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[bytes, dict[str, bytes]]:
    """A small tar in the Places365 layout: 3 categories of 8 photos (about 40 KB)."""
    path = tmp_path_factory.mktemp("places") / ARCHIVE
    members = places_tar(path, categories=3, per_category=8)
    return path.read_bytes(), members


def places_params(url: str, md5: str | None, cache: Path, n_images: int = 6) -> DataParams:
    return DataParams(
        source="places365",
        n_images=n_images,
        image_size=16,
        val_fraction=0.25,
        shard_size=8,
        cache_dir=cache,
        places365=(Places365Params(url=url, md5=md5),),
    )


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_a_complete_download_is_verified_cached_and_never_downloaded_again(archive, tmp_path, capfd):
    data, members = archive
    cache = tmp_path / "cache"
    with ArchiveServer({ARCHIVE: data}) as server:
        params = places_params(server.url(), md5(data), cache)
        gathered = download(params, seed=0, raw_dir=tmp_path / "raw")
        assert (cache / "places365" / ARCHIVE).read_bytes() == data
        assert len(server.requests) == 1 and "Range" not in server.requests[0]
        progress = capfd.readouterr().err
        assert f"downloading {ARCHIVE}" in progress and re.search(r"\d[kMG]?B/s", progress), "bytes and rate"

        assert len(gathered.images) == 6
        for row in read_manifest(tmp_path / "raw"):
            assert (tmp_path / "raw" / row.file).read_bytes() == members[row.file], "byte for byte as in the tar"
            assert row.source == f"{ARCHIVE}:{row.file}" and row.group == row.file
        assert "download: 6 images from 6 source photos" in summary(gathered, params, tmp_path / "raw")

        download(places_params(server.url(), md5(data), cache, n_images=9), seed=5, raw_dir=tmp_path / "raw")
        assert len(read_manifest(tmp_path / "raw")) == 9
        assert len(server.requests) == 1, "another seed or n_images reuses the cached archive"
    assert sorted(path.name for path in (cache / "places365").iterdir()) == [
        ARCHIVE,
        f"{ARCHIVE}.lock",
        f"{ARCHIVE}.md5",
    ]


def test_a_transfer_cut_off_halfway_resumes_with_a_range_request(archive, tmp_path):
    data, _ = archive
    with ArchiveServer({ARCHIVE: data}, cut_first=1) as server:
        path = fetch(server.url(), md5(data), tmp_path / "cache")
    assert path.read_bytes() == data
    assert len(server.requests) == 2 and "Range" not in server.requests[0]
    assert server.requests[1]["Range"] == f"bytes={len(data) // 2}-"
    assert server.requests[1]["If-Range"] == ETAG, "a changed file is not spliced onto the old half"


def test_a_download_interrupted_in_an_earlier_run_resumes_in_the_next(archive, tmp_path):
    data, _ = archive
    cache = tmp_path / "cache"
    with ArchiveServer({ARCHIVE: data}, cut_first=1, missing_after_first=True) as server:
        with pytest.raises(UserError, match="HTTP 404"):
            fetch(server.url(), md5(data), cache)
    assert not (cache / ARCHIVE).exists()
    assert (cache / f"{ARCHIVE}.part").stat().st_size == len(data) // 2
    with ArchiveServer({ARCHIVE: data}) as server:
        assert fetch(server.url(), md5(data), cache).read_bytes() == data
    assert server.requests[0]["Range"] == f"bytes={len(data) // 2}-"
    assert not (cache / f"{ARCHIVE}.part").exists()


def test_a_server_without_range_support_gets_a_full_download(archive, tmp_path, capfd):
    data, _ = archive
    with ArchiveServer({ARCHIVE: data}, ranges=False, cut_first=1) as server:
        path = fetch(server.url(), md5(data), tmp_path / "cache")
    assert path.read_bytes() == data
    assert server.requests[1]["Range"] == f"bytes={len(data) // 2}-"
    assert "downloading from the start" in capfd.readouterr().err


def test_a_checksum_mismatch_fails_and_keeps_nothing(archive, tmp_path):
    data, _ = archive
    cache = tmp_path / "cache"
    with ArchiveServer({ARCHIVE: data}) as server:
        with pytest.raises(UserError, match=f"has MD5 {md5(data)}, expected 0{{32}} \\(data.places365.md5\\)"):
            download(places_params(server.url(), "0" * 32, cache), seed=0, raw_dir=tmp_path / "raw")
    assert sorted(path.name for path in (cache / "places365").iterdir()) == [f"{ARCHIVE}.lock"]
    assert not (tmp_path / "raw").exists() and not (tmp_path / "raw.tmp").exists()


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with ArchiveServer({}) as server:
        with pytest.raises(UserError) as caught:
            download(places_params(server.url(), None, tmp_path / "cache"), seed=0, raw_dir=tmp_path / "raw")
    assert "HTTP 404" in str(caught.value) and "data.places365.url" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "cache" / "places365" / ARCHIVE).exists()
    assert not (tmp_path / "cache" / "places365" / f"{ARCHIVE}.part").exists()


def test_a_cached_archive_is_not_trusted_under_another_md5(archive, tmp_path):
    data, _ = archive
    with ArchiveServer({ARCHIVE: data}) as server:
        fetch(server.url(), md5(data), tmp_path / "cache")
        with pytest.raises(UserError, match=f"has MD5 {md5(data)}, but data.places365.md5 is f{{32}}: .*delete"):
            fetch(server.url(), "f" * 32, tmp_path / "cache")
    assert (tmp_path / "cache" / ARCHIVE).read_bytes() == data, "a good archive is never deleted"


def test_a_local_copy_is_read_in_place_and_verified_while_streaming(archive, tmp_path):
    data, members = archive
    local = tmp_path / "mirror" / ARCHIVE
    local.parent.mkdir()
    local.write_bytes(data)
    gathered = download(places_params(str(local), md5(data), tmp_path / "cache"), seed=0, raw_dir=tmp_path / "raw")
    assert len(gathered.images) == 6 and not (tmp_path / "cache").exists()
    with pytest.raises(UserError, match=f"MD5 is {md5(data)}, expected 1{{32}}"):
        download(places_params(local.as_uri(), "1" * 32, tmp_path / "cache"), seed=0, raw_dir=tmp_path / "other")
    assert not (tmp_path / "other").exists()


def selected(path: Path, n: int, seed: int, tmp_path: Path) -> list[str]:
    raw = tmp_path / f"raw-{n}-{seed}"
    download(places_params(str(path), None, tmp_path / "cache", n_images=n), seed=seed, raw_dir=raw)
    files = [row.file for row in read_manifest(raw)]
    on_disk = sorted(str(p.relative_to(raw)) for p in raw.rglob("*.jpg"))
    assert on_disk == sorted(files), "only the selected files are written"
    return files


def test_subsampling_is_seeded_uniform_and_nested(tmp_path):
    path = tmp_path / ARCHIVE
    members = places_tar(path, categories=10, per_category=300)
    first = selected(path, 600, seed=0, tmp_path=tmp_path)
    assert len(first) == 600
    assert selected(path, 600, seed=0, tmp_path=tmp_path / "again") == first
    other = selected(path, 600, seed=1, tmp_path=tmp_path)
    assert len(set(first) & set(other)) < 200, "another seed selects others (20 % expected in common)"
    for files in (first, other):
        shares = Counter(file.split("/")[2] for file in files)
        assert len(shares) == 10
        assert all(abs(count / 600 - 0.1) < 0.03 for count in shares.values()), shares
    smaller = selected(path, 150, seed=0, tmp_path=tmp_path)
    assert set(smaller) <= set(first), "a smaller n_images selects a subset of a larger one"
    by_key = sorted(members, key=lambda name: selection_key(name, 0))
    assert set(first) == set(by_key[:600]), "the selection is the 600 smallest seeded keys"


def test_subsampling_does_not_depend_on_the_member_order(tmp_path):
    photos = {f"val_256/Places365_val_{i:08d}.jpg": encode(colour_photo(100 + i)) for i in range(1, 41)}
    for name, order in (("forward.tar", sorted(photos)), ("backward.tar", sorted(photos, reverse=True))):
        with tarfile.open(tmp_path / name, "w") as archive:
            for member in order:
                add_member(archive, member, photos[member])
    assert selected(tmp_path / "forward.tar", 10, 3, tmp_path) == selected(tmp_path / "backward.tar", 10, 3, tmp_path)


def test_bad_members_inside_the_archive_are_skipped_and_replaced(tmp_path):
    photos = {f"data_256/b/beach/{i:08d}.jpg": encode(colour_photo(200 + i)) for i in range(1, 21)}
    chosen_first = sorted(photos, key=lambda name: selection_key(name, 0))[:3]
    broken = dict(photos)
    broken[chosen_first[0]] = b""
    broken[chosen_first[1]] = photos[chosen_first[1]][:200]
    with tarfile.open(tmp_path / ARCHIVE, "w") as archive:
        for name, data in broken.items():
            add_member(archive, name, data)
    raw = tmp_path / "raw"
    gathered = download(places_params(str(tmp_path / ARCHIVE), None, tmp_path / "cache", n_images=5), 0, raw)
    assert len(gathered.images) == 5, "skipped files are replaced by the next ones in key order"
    assert {row.reason for row in read_skipped(raw)} == {"empty file", "truncated or corrupt"}
    assert chosen_first[2] in {row.file for row in gathered.images}


def test_several_archives_are_one_stream_of_photos_each_verified(archive, tmp_path):
    """data.places365.url and .md5 as lists: a local tar and one over HTTP, chosen from as if they were one, each
    checked against its own MD5; a mismatch in the second names its key and keeps nothing."""
    first_data, first = archive
    local = tmp_path / "first.tar"
    local.write_bytes(first_data)
    second = {}
    with tarfile.open(tmp_path / "second.tar", "w") as tar:
        for index in range(9, 17):
            member = f"data_256/c/category00/{index:08d}.jpg"
            second[member] = encode(colour_photo(500 + index))
            add_member(tar, member, second[member])
    second_data = (tmp_path / "second.tar").read_bytes()
    with ArchiveServer({"second.tar": second_data}) as server:
        both = (
            Places365Params(str(local), md5(first_data)),
            Places365Params(server.url("second.tar"), md5(second_data)),
        )
        params = replace(places_params("", None, tmp_path / "cache", n_images=20), places365=both)
        gathered = download(params, seed=0, raw_dir=tmp_path / "raw")
        union = sorted({**first, **second}, key=lambda name: selection_key(name, 0))
        assert sorted(row.file for row in gathered.images) == sorted(union[:20]), "the 20 smallest keys of both"
        assert {row.file for row in gathered.images} & set(second), "photos of the second archive are chosen"
        assert "first.tar" in summary(gathered, params, tmp_path / "raw") and "second.tar" in summary(
            gathered, params, tmp_path / "raw"
        )
        wrong = replace(params, places365=(both[0], Places365Params(str(tmp_path / "second.tar"), "2" * 32)))
        with pytest.raises(
            UserError, match=r"second.tar: MD5 is [0-9a-f]{32}, expected 2{32} \(data.places365.md5\[1\]\)"
        ):
            download(wrong, seed=0, raw_dir=tmp_path / "other")
        assert not (tmp_path / "other").exists()
