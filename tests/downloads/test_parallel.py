"""Parallel ranged downloads, If-Range resumes and sha256 checks against a real CDN-like loopback server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinokiocloud import DownloadError
from pinokiocloud.downloads import Records, download
from pinokiocloud.downloads.ranges import state_path
from tests.downloads.servers import File, FileServer, Redirect, body, sha

MB = 1_000_000
FAST = 0.01


def fetch(url: str, target: Path, **kwargs: object) -> tuple[object, list[str]]:
    logs: list[str] = []
    result = asyncio.run(download(url, path=target, on_log=logs.append, backoff_s=FAST, **kwargs))  # type: ignore[arg-type]
    return result, logs


def test_a_big_file_comes_over_several_connections_each_with_if_range(srv: FileServer, tmp_path: Path) -> None:
    data = body(40 * MB)
    url = srv.add("/model.safetensors", File(data, rate_bps=20 * MB))
    result, _ = fetch(url, tmp_path / "model.safetensors")

    assert (tmp_path / "model.safetensors").read_bytes() == data
    assert result.sha256 == sha(data)  # type: ignore[attr-defined]
    ranged = [s for s in srv.requests("/model.safetensors") if s.range]
    assert len(ranged) >= 3 and all(s.status == 206 for s in ranged)
    assert all(s.headers.get("if-range") == '"v1"' for s in ranged)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no partial, no state file


def test_a_server_that_ignores_ranges_gets_one_connection(srv: FileServer, tmp_path: Path) -> None:
    data = body(20 * MB)
    url = srv.add("/f.bin", File(data, ignore_range=True))
    result, _ = fetch(url, tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == data and result.sha256 == sha(data)  # type: ignore[attr-defined]
    assert [s.range for s in srv.requests("/f.bin")] == [None]


def test_a_host_that_refuses_parallel_ranges_is_served_by_the_connections_it_allows(
        srv: FileServer, tmp_path: Path) -> None:
    data = body(24 * MB)
    url = srv.add("/f.bin", File(data, rate_bps=40 * MB, refuse_parallel=True))
    _, logs = fetch(url, tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == data
    assert any("refuses more connections (HTTP 403)" in line for line in logs)


def test_content_that_changes_mid_download_starts_over_instead_of_splicing(srv: FileServer, tmp_path: Path) -> None:
    # Replaced once the first bytes went out: every connection opened after the first one sees v2.
    old, new = body(40 * MB, seed=1), body(40 * MB, seed=2)
    url = srv.add("/f.bin", File(old, rate_bps=10 * MB, replace_after=1, replacement=new))
    result, logs = fetch(url, tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == new
    assert result.sha256 == sha(new)  # type: ignore[attr-defined]
    assert any("changed on the server" in line for line in logs)


def test_a_resume_after_the_file_changed_restarts_it(srv: FileServer, tmp_path: Path) -> None:
    # A partial of the old version, with its ETag; the server now has another version.
    old, new = body(3 * MB, seed=1), body(3 * MB, seed=2)
    url = srv.add("/f.bin", File(new, etag='"v2"'))
    partial = tmp_path / "f.bin.partial"
    partial.write_bytes(old[: MB])
    state_path(partial).write_text(json.dumps({"version": 1, "url": url, "total": len(old), "validator": '"v1"',
                                               "sequential": True, "done": [[0, MB]]}))
    _, logs = fetch(url, tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == new
    first = srv.requests("/f.bin")[0]
    assert (first.range, first.headers.get("if-range"), first.status) == (f"bytes={MB}-", '"v1"', 200)
    assert any(line.startswith("[Download Restarted] the file changed on the server") for line in logs)


def test_a_flaky_link_that_advances_on_every_connection_is_not_failed(srv: FileServer, tmp_path: Path) -> None:
    data = body(3 * MB)
    url = srv.add("/f.bin", File(data, cut_each=200_000))
    result, _ = fetch(url, tmp_path / "f.bin", retries=2)  # 15 broken connections, each one brought bytes
    assert (tmp_path / "f.bin").read_bytes() == data and result.sha256 == sha(data)  # type: ignore[attr-defined]
    assert len(srv.requests("/f.bin")) >= 15


def test_a_close_delimited_body_that_ends_early_is_not_complete(srv: FileServer, tmp_path: Path) -> None:
    data = body(2 * MB)
    url = srv.add("/f.bin", File(data, close_delimited=True, cut_after=700_000))
    fetch(url, tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == data
    assert [s.range for s in srv.requests("/f.bin")][:2] == [None, "bytes=700000-"]


def test_a_web_page_instead_of_the_file_is_refused(srv: FileServer, tmp_path: Path) -> None:
    url = srv.add("/model.safetensors", File(b"", html=True))
    with pytest.raises(DownloadError, match=r"sent a web page \(text/html\) instead of the file; .*token"):
        fetch(url, tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_sha256_deletes_retries_once_then_names_both_hashes(srv: FileServer, tmp_path: Path) -> None:
    data = body(2 * MB)
    url = srv.add("/f.bin", File(data))
    wrong = "0" * 64
    with pytest.raises(DownloadError) as info:
        fetch(url, tmp_path / "f.bin", sha256=wrong)
    assert f"sha256 is {sha(data)}, but the sha256 given says {wrong}" in str(info.value)
    assert len(srv.requests("/f.bin")) == 2
    assert list(tmp_path.iterdir()) == []  # no corrupt file at the name, no partial


def test_hugging_faces_linked_etag_is_checked(srv: FileServer, tmp_path: Path) -> None:
    data, other = body(MB, seed=1), body(MB, seed=3)
    srv.add("/blobs/good", File(data))
    srv.add("/blobs/bad", File(other))
    good = srv.add("/org/m/resolve/main/good.bin", Redirect("/blobs/good", {"X-Linked-ETag": f'"{sha(data)}"'}))
    bad = srv.add("/org/m/resolve/main/bad.bin", Redirect("/blobs/bad", {"X-Linked-ETag": f'"{sha(data)}"'}))

    _, logs = fetch(good, tmp_path / "good.bin")
    assert any(line.endswith("sha256 verified") for line in logs)
    with pytest.raises(DownloadError, match=r"but Hugging Face \(X-Linked-ETag\) says"):
        fetch(bad, tmp_path / "bad.bin")
    assert not (tmp_path / "bad.bin").exists()


def test_every_completed_file_is_recorded_and_checks_the_next_download(srv: FileServer, tmp_path: Path) -> None:
    records = Records(tmp_path / "home")
    data = body(MB)
    item = File(data)
    url = srv.add("/m.bin", item)
    fetch(url + "?token=secret", tmp_path / "a.bin", records=records)

    earlier = records.lookup_by_source(url + "?token=other")
    assert earlier is not None and (earlier.sha256, earlier.size) == (sha(data), len(data))
    assert earlier.path == tmp_path / "a.bin" and earlier.sources == (url,)  # the token never lands on disk
    assert [r.path for r in records.lookup_by_hash(sha(data))] == [tmp_path / "a.bin"]
    assert (tmp_path / "home" / "downloads.db").stat().st_mode & 0o077 == 0

    item.data = body(MB, seed=9)  # same ETag and size, other bytes: a broken mirror
    with pytest.raises(DownloadError, match="but an earlier download of this URL says"):
        fetch(url, tmp_path / "b.bin", records=records)


def _done_bytes(partial: Path) -> int:
    try:
        state = json.loads(state_path(partial).read_text())
    except (OSError, ValueError):
        return 0
    return sum(e - s for s, e in state["done"])


_KILL_SCRIPT = """
import asyncio, sys
from pathlib import Path
from pinokiocloud.downloads import download
asyncio.run(download(sys.argv[1], path=Path(sys.argv[2])))
"""


def test_a_kill_9_during_a_parallel_download_resumes_without_refetching_done_ranges(
        srv: FileServer, tmp_path: Path) -> None:
    # slow enough per connection (16 connections: at most 16 MB/s) that the kill lands mid-download: the state
    # file is written a few times a second, and a download that ends between two writes leaves none to read
    data = body(64 * MB)
    url = srv.add("/big.bin", File(data, rate_bps=1 * MB))
    target = tmp_path / "big.bin"
    partial = tmp_path / "big.bin.partial"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, url, str(target)], env=env)
    try:
        deadline = time.monotonic() + 30
        while _done_bytes(partial) < 10 * MB and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    state = json.loads(state_path(partial).read_text())
    done = [tuple(r) for r in state["done"]]
    assert sum(e - s for s, e in done) >= 10 * MB and not state["sequential"]
    before = len(srv.requests("/big.bin"))

    result, _ = fetch(url, target)

    assert target.read_bytes() == data and result.sha256 == sha(data)  # type: ignore[attr-defined]
    for seen in srv.requests("/big.bin")[before:]:
        assert seen.headers.get("if-range") == '"v1"'
        start, end = seen.start, seen.start + seen.sent
        assert not any(s < end and start < e for s, e in done), (seen.range, done)  # nothing done came again
