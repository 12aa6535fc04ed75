"""A full disk: refused before the first byte when the size is known not to fit, and, when the disk fills
during the download, stopped with the free space named and the partial kept, then resumed once there is room.

The second test needs a real small file system; it mounts a 32 MiB tmpfs (the tests run as root).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinokiocloud import DownloadError
from pinokiocloud.downloads import DownloadProgress, download
from pinokiocloud.downloads.ranges import state_path
from pinokiocloud.errors import DiskFullError
from tests.downloads.servers import File, FileServer, body, sha

MB = 1_000_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB file system of its own, so the test can fill it without touching the machine's disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_size_larger_than_the_free_space_stops_before_a_byte_is_written(srv: FileServer, tmp_path: Path) -> None:
    free = os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize
    # The server announces more than this file system has free; it never needs to send the body.
    url = srv.add("/huge.bin", File(b"", lie_length=free + 10**12))

    with pytest.raises(DiskFullError) as info:
        asyncio.run(download(url, path=tmp_path / "huge.bin"))

    assert info.value.needed == free + 10**12 and info.value.free > 0
    said = str(info.value)
    assert "needs " in said and " free" in said and "\n" not in said
    assert list(tmp_path.iterdir()) == []  # no partial, nothing at the name
    assert len(srv.requests("/huge.bin")) == 1  # not retried


def test_a_disk_that_fills_up_mid_download_keeps_the_partial_and_resumes_once_there_is_room(
        srv: FileServer, small_disk: Path) -> None:
    data = body(12 * MB)
    item = File(data, rate_bps=1 * MB)
    url = srv.add("/model.bin", item)
    target = small_disk / "model.bin"
    filler = small_disk / "something-else.bin"

    partial = small_disk / "model.bin.partial"

    def fill_the_disk(_event: DownloadProgress) -> None:
        # Once a few MB are on the disk, another program takes all the space but 256 KiB.
        if not filler.exists() and partial.exists() and partial.stat().st_blocks * 512 >= 2 * MB:
            stat = os.statvfs(small_disk)
            filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 256 * 1024))

    with pytest.raises(DownloadError) as info:
        asyncio.run(download(url, path=target, on_progress=fill_the_disk, backoff_s=0.01, connections=4))

    said = str(info.value)
    assert "the disk is full" in said and f"{small_disk} has " in said and " free, " in said, said
    assert "more needed" in said and "run it again to resume" in said and "\n" not in said
    assert filler.exists() and not target.exists()  # never a short file at the name
    state = json.loads(state_path(partial).read_text())
    done = [tuple(r) for r in state["done"]]
    kept = sum(e - s for s, e in done)
    assert kept >= 2 * MB and state["total"] == len(data)
    assert all(partial.read_bytes()[s:e] == data[s:e] for s, e in done)  # what the state names is on disk
    asked_before = len(srv.requests("/model.bin"))

    filler.unlink()
    item.rate_bps = None
    result = asyncio.run(download(url, path=target, backoff_s=0.01))

    assert target.read_bytes() == data and result.sha256 == sha(data)
    assert result.resumed_from == kept
    for seen in srv.requests("/model.bin")[asked_before:]:
        start, end = seen.start, seen.start + seen.sent
        assert seen.range is not None and not any(s < end and start < e for s, e in done)  # nothing kept came again
    assert sorted(p.name for p in small_disk.iterdir()) == ["model.bin"]
