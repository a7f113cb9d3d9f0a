"""Resolving the study's files: mirror, cache, and a real download from a local HTTP server."""

import functools
import http.server
import shutil
import subprocess
import threading

import pytest

from experiments.inputs.assets import AssetError, AssetResolver, git_blob_id, known_blob_ids
from tests.conftest import MODEL_32, MODEL_128

IMAGE = "Datasets/new sample/mona lisa.JPG"


def test_blob_id_matches_git(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"hello\0world\n" * 100)
    expected = subprocess.run(["git", "hash-object", str(f)], capture_output=True, text=True, check=True).stdout.strip()
    assert git_blob_id(f.read_bytes()) == expected


def test_known_ids_cover_the_study_files():
    ids = known_blob_ids()
    assert len([p for p in ids if p.startswith("Datasets/new sample/")]) == 66
    assert ids[MODEL_32] == "ac5db7cf652401479722e42ceff40d77265d48ad"
    assert MODEL_128 in ids


def test_mirror_files_resolve_verified(seed_mirror, tmp_path):
    asset = AssetResolver(mirror=seed_mirror, cache_dir=tmp_path, base_url=None).resolve(MODEL_32)
    assert asset.source == "mirror" and asset.local_path == seed_mirror / MODEL_32
    assert git_blob_id(asset.local_path.read_bytes()) == asset.blob_id


def test_mismatched_mirror_file_is_refused_by_name(seed_mirror, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / IMAGE).parent.mkdir(parents=True)
    data = bytearray((seed_mirror / IMAGE).read_bytes())
    data[1000] ^= 0xFF
    (mirror / IMAGE).write_bytes(bytes(data))
    with pytest.raises(AssetError, match="mona lisa.JPG.*does not match"):
        AssetResolver(mirror=mirror, cache_dir=tmp_path / "cache", base_url=None).resolve(IMAGE)


def test_missing_file_error_says_how_to_supply_it(tmp_path):
    with pytest.raises(AssetError) as info:
        AssetResolver(mirror=tmp_path, cache_dir=tmp_path / "c", base_url=None).resolve(MODEL_128)
    message = str(info.value)
    assert message.startswith(MODEL_128) and "ARTXAI_SEED_MIRROR" in message and "downloads are off" in message


def test_unknown_path_is_refused(tmp_path):
    with pytest.raises(AssetError, match="not a file of the study"):
        AssetResolver(cache_dir=tmp_path, base_url=None).resolve("Models/other.h5")


@pytest.fixture
def file_server(tmp_path):
    """A real HTTP server on loopback serving a folder laid out like the repository."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_verifies_caches_and_reuses(seed_mirror, tmp_path, file_server):
    root, url = file_server
    for rel in (MODEL_32, IMAGE):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(seed_mirror / rel, root / rel)
    resolver = AssetResolver(mirror=None, cache_dir=tmp_path / "cache", base_url=url)
    first = resolver.resolve(MODEL_32)  # path has spaces: must be URL-quoted
    assert first.source == "download"
    assert first.local_path == tmp_path / "cache" / MODEL_32
    assert first.local_path.read_bytes() == (seed_mirror / MODEL_32).read_bytes()
    (root / MODEL_32).unlink()  # the server no longer has it: the cache must serve
    assert resolver.resolve(MODEL_32).source == "cache"
    assert resolver.resolve(IMAGE).source == "download"


def test_corrupt_download_is_refused_and_not_cached(seed_mirror, tmp_path, file_server):
    root, url = file_server
    (root / IMAGE).parent.mkdir(parents=True)
    (root / IMAGE).write_bytes((seed_mirror / IMAGE).read_bytes()[:-10])  # truncated in transit
    resolver = AssetResolver(cache_dir=tmp_path / "cache", base_url=url)
    with pytest.raises(AssetError, match="refused: content does not match"):
        resolver.resolve(IMAGE)
    assert not (tmp_path / "cache" / IMAGE).exists()
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def test_corrupt_cache_is_fetched_again(seed_mirror, tmp_path, file_server):
    root, url = file_server
    (root / IMAGE).parent.mkdir(parents=True)
    shutil.copy(seed_mirror / IMAGE, root / IMAGE)
    cached = tmp_path / "cache" / IMAGE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"garbage")
    asset = AssetResolver(cache_dir=tmp_path / "cache", base_url=url).resolve(IMAGE)
    assert asset.source == "download" and git_blob_id(cached.read_bytes()) == asset.blob_id


def test_file_missing_on_server_is_a_clear_error(tmp_path, file_server):
    _, url = file_server
    with pytest.raises(AssetError, match="404"):
        AssetResolver(cache_dir=tmp_path / "cache", base_url=url).resolve(MODEL_128)
