"""Servers that lie about Content-Length: a correct fallback or a clear error, never a wrong file at the name.

(The other bad inputs of issue 15 are pinned in test_parallel.py: a wrong hash, ranges ignored, content that
changes mid-download or between two runs, a web page instead of the file; a full disk in test_disk_full.py.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pinokiocloud import DownloadError
from pinokiocloud.downloads import download
from tests.downloads.servers import File, FileServer, body, sha

MB = 1_000_000


def test_a_length_that_promises_more_than_the_body_is_resumed_to_what_the_server_really_has(
        srv: FileServer, tmp_path: Path) -> None:
    # The 200 says 3 MB, sends the real 2 MB and closes; asked for the rest, the server says the file is 2 MB.
    data = body(2 * MB)
    url = srv.add("/f.bin", File(data, lie_length=3 * MB))
    result = asyncio.run(download(url, path=tmp_path / "f.bin", backoff_s=0.01))
    assert (tmp_path / "f.bin").read_bytes() == data and result.sha256 == sha(data)
    assert [s.range for s in srv.requests("/f.bin")] == [None, f"bytes={2 * MB}-"]


def test_a_length_that_lies_without_ranges_fails_and_leaves_no_file(srv: FileServer, tmp_path: Path) -> None:
    # No ranges: every try gets the same short body; it is never taken for the whole file.
    data = body(MB)
    url = srv.add("/f.bin", File(data, lie_length=2 * MB, ignore_range=True))
    with pytest.raises(DownloadError) as info:
        asyncio.run(download(url, path=tmp_path / "f.bin", backoff_s=0.01, retries=2))
    said = str(info.value)
    assert "received 1000000 bytes, expected 2000000" in said and "gave up after 3 attempts" in said, said
    assert not (tmp_path / "f.bin").exists()
    assert len(srv.requests("/f.bin")) == 3


def test_a_length_that_promises_less_than_the_body_keeps_only_what_it_announced(
        srv: FileServer, tmp_path: Path) -> None:
    # A 200 that says 1 MB and sends 2 MB: the file is the announced 1 MB, no byte past it is written.
    data = body(2 * MB)
    url = srv.add("/f.bin", File(data, lie_length=MB, ignore_range=True))
    result = asyncio.run(download(url, path=tmp_path / "f.bin", backoff_s=0.01))
    assert (tmp_path / "f.bin").read_bytes() == data[:MB] and result.bytes == MB
