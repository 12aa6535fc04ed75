"""The download engine against a real local HTTP server that drops, stalls, ignores Range and fails."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from pathlib import Path

import pytest

from pinokiocloud import BadParamError, DiskFullError, DownloadError, UserError
from pinokiocloud.downloads import DownloadProgress, DownloadResult, download, download_many
from tests.helpers.http_server import Drop, GeneratedBody, LocalHTTPServer, Stall, Status

MB = 1_000_000
FAST_BACKOFF_S = 0.01  # retries in tests should not wait a second each


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _body(size: int, seed: int = 1) -> bytes:
    return GeneratedBody(size, seed).read(0, size)


# --- plain downloads and names --------------------------------------------------------------------------


def test_downloads_to_the_exact_path_with_a_browser_user_agent(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(3 * MB)
    url = server.add("/model.bin", data)
    target = tmp_path / "models" / "renamed.bin"

    result = asyncio.run(download(url, path=target))

    assert result == DownloadResult(path=target, skipped=False, bytes=len(data), resumed_from=0,
                                    sha256=hashlib.sha256(data).hexdigest())
    assert target.read_bytes() == data
    assert sorted(p.name for p in target.parent.iterdir()) == ["renamed.bin"]  # no .partial left behind
    [request] = server.requests_for("/model.bin")
    assert request.user_agent is not None
    assert request.user_agent.startswith("Mozilla/5.0 (") and "Chrome/" in request.user_agent


def test_caller_headers_replace_the_default_user_agent(server: LocalHTTPServer, tmp_path: Path) -> None:
    url = server.add("/a.bin", b"abc")
    asyncio.run(download(url, path=tmp_path / "a.bin", headers={"user-agent": "my-agent/1"}))
    assert [r.user_agent for r in server.requests_for("/a.bin")] == ["my-agent/1"]


def test_dir_form_names_the_file_from_the_url_path_without_the_query(
    server: LocalHTTPServer, tmp_path: Path
) -> None:
    server.add("/files/my%20model.safetensors", b"weights")
    result = asyncio.run(download(server.url("/files/my%20model.safetensors?download=true"), dir=tmp_path))
    assert result.path == tmp_path / "my model.safetensors"
    assert result.path.read_bytes() == b"weights"


def test_dir_form_names_the_file_from_content_disposition(server: LocalHTTPServer, tmp_path: Path) -> None:
    disposition = 'attachment; filename="detail tweaker.safetensors"'
    url = server.add("/api/download/models/4201", b"lora", disposition=disposition)
    result = asyncio.run(download(url, dir=tmp_path))
    assert result.path == tmp_path / "detail tweaker.safetensors"
    assert result.path.read_bytes() == b"lora"


def test_dir_form_prefers_the_rfc5987_filename_star(server: LocalHTTPServer, tmp_path: Path) -> None:
    url = server.add(
        "/dl",
        b"x",
        disposition="attachment; filename=\"fallback.bin\"; filename*=UTF-8''na%C3%AFve%20%E6%A8%A1%E5%9E%8B.bin",
    )
    result = asyncio.run(download(url, dir=tmp_path))
    assert result.path == tmp_path / "naïve 模型.bin"


def test_a_server_supplied_name_cannot_leave_the_folder(server: LocalHTTPServer, tmp_path: Path) -> None:
    inside = tmp_path / "models"
    url = server.add("/evil", b"#!/bin/sh", disposition='attachment; filename="../../evil.sh"')
    result = asyncio.run(download(url, dir=inside))
    assert result.path == inside / "evil.sh"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.sh", "models"]


@pytest.mark.parametrize("where", ["both", "neither"])
def test_dir_and_path_together_or_neither_is_a_user_error(tmp_path: Path, where: str) -> None:
    kwargs = {"dir": tmp_path, "path": tmp_path / "f"} if where == "both" else {}
    with pytest.raises(BadParamError, match=f"exactly one of dir .* or path .*, got {where}") as info:
        asyncio.run(download("http://127.0.0.1:9/f", **kwargs))  # type: ignore[arg-type]
    assert isinstance(info.value, UserError)


# --- skip if it exists ---------------------------------------------------------------------------------------


def test_an_existing_path_is_skipped_without_a_request(server: LocalHTTPServer, tmp_path: Path) -> None:
    url = server.add("/model.bin", b"new content")
    target = tmp_path / "model.bin"
    target.write_bytes(b"mine")
    logs: list[str] = []

    result = asyncio.run(download(url, path=target, on_log=logs.append))

    assert result == DownloadResult(path=target, skipped=True, bytes=4, resumed_from=0)
    assert target.read_bytes() == b"mine"
    assert logs == [f"[Download Skipped] File already exists: {target}"]
    assert server.requests_for("/model.bin") == []


def test_dir_form_skips_the_file_the_server_names(server: LocalHTTPServer, tmp_path: Path) -> None:
    # The name is only known from the response, so the engine asks, then closes the body unread.
    url = server.add("/dl/77", _body(4 * MB), disposition='attachment; filename="vae.pt"')
    (tmp_path / "vae.pt").write_bytes(b"kept")
    logs: list[str] = []

    result = asyncio.run(download(url, dir=tmp_path, on_log=logs.append))

    assert result.skipped and result.path == tmp_path / "vae.pt"
    assert (tmp_path / "vae.pt").read_bytes() == b"kept"
    assert any(line.startswith("[Download Skipped]") for line in logs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vae.pt"]


# --- resume ---------------------------------------------------------------------------------------------------


def test_a_dropped_connection_resumes_without_resending_what_arrived(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(2 * MB)
    url = server.add("/big.bin", data, faults=[Drop(after=700_000)])
    logs: list[str] = []

    result = asyncio.run(download(url, path=tmp_path / "big.bin", on_log=logs.append, backoff_s=FAST_BACKOFF_S))

    assert (tmp_path / "big.bin").read_bytes() == data
    first, second = server.requests_for("/big.bin")
    assert (first.range, first.body_bytes) == (None, 700_000)
    assert (second.range, second.status) == ("bytes=700000-", 206)
    assert server.body_bytes_sent("/big.bin") == len(data)
    assert result.resumed_from == 0  # nothing was on disk when this call began
    assert any(line.startswith("[Retrying] 1/10") for line in logs)


def test_a_partial_left_by_an_earlier_call_is_resumed(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(2 * MB)
    url = server.add("/m.bin", data, faults=[Drop(after=1_200_000)])
    target = tmp_path / "m.bin"

    with pytest.raises(DownloadError) as info:
        asyncio.run(download(url, path=target, retries=0))
    assert info.value.bytes_done == 1_200_000
    assert "gave up after 1 attempt" in str(info.value) and "kept and resumed" in str(info.value)
    assert not target.exists() and (tmp_path / "m.bin.partial").stat().st_size == 1_200_000

    result = asyncio.run(download(url, path=target))

    assert result == DownloadResult(path=target, skipped=False, bytes=len(data), resumed_from=1_200_000,
                                    sha256=hashlib.sha256(data).hexdigest())
    assert target.read_bytes() == data
    assert server.requests_for("/m.bin")[-1].range == "bytes=1200000-"
    assert server.body_bytes_sent("/m.bin") == len(data)


def test_dir_form_resumes_its_partial_with_a_range_request(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(MB)
    url = server.add("/x", data, disposition='attachment; filename="ckpt.bin"')
    (tmp_path / "ckpt.bin.partial").write_bytes(data[:400_000])

    result = asyncio.run(download(url, dir=tmp_path))

    assert result.path.read_bytes() == data and result.resumed_from == 400_000
    assert [r.range for r in server.requests_for("/x")] == [None, "bytes=400000-"]


def test_a_complete_partial_is_moved_into_place_without_a_body(server: LocalHTTPServer, tmp_path: Path) -> None:
    # An earlier run received every byte but stopped before the move; the server answers 416.
    data = _body(MB)
    url = server.add("/done.bin", data)
    (tmp_path / "done.bin.partial").write_bytes(data)

    result = asyncio.run(download(url, path=tmp_path / "done.bin"))

    assert result.bytes == len(data) and (tmp_path / "done.bin").read_bytes() == data
    assert [(r.status, r.body_bytes) for r in server.requests_for("/done.bin")] == [(416, 0)]


def test_a_server_that_ignores_range_makes_it_start_over(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(2 * MB)
    url = server.add("/norange.bin", data, ignore_range=True, faults=[Drop(after=500_000)])
    logs: list[str] = []

    asyncio.run(download(url, path=tmp_path / "f.bin", on_log=logs.append, backoff_s=FAST_BACKOFF_S))

    assert (tmp_path / "f.bin").read_bytes() == data
    assert [(r.range, r.status) for r in server.requests_for("/norange.bin")] == [
        (None, 200),
        ("bytes=500000-", 200),
    ]
    assert any(line.startswith("[Download Restarted]") for line in logs)


def test_a_body_of_unknown_size_is_resumed_too(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(MB)
    url = server.add("/stream.bin", data, chunked=True, faults=[Drop(after=300_000)])
    events: list[DownloadProgress] = []

    result = asyncio.run(
        download(url, path=tmp_path / "s.bin", on_progress=events.append, backoff_s=FAST_BACKOFF_S)
    )

    assert result.path.read_bytes() == data
    assert [r.range for r in server.requests_for("/stream.bin")] == [None, "bytes=300000-"]
    assert server.body_bytes_sent("/stream.bin") == len(data)
    assert events[-1].total == len(data)  # the 206's Content-Range told the size


def test_a_cancelled_download_keeps_its_partial_for_the_next_call(server: LocalHTTPServer, tmp_path: Path) -> None:
    # A stopped script cancels its download; the bytes it got must not be fetched again.
    data = _body(4 * MB)
    url = server.add("/c.bin", data, chunk_delay_s=0.1)  # 1.6 s in all: time to cancel midway on a busy machine
    target = tmp_path / "c.bin"

    async def cancel_midway() -> None:
        task = asyncio.create_task(download(url, path=target))
        while server.body_bytes_sent("/c.bin") < 1_500_000:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    kept = (tmp_path / "c.bin.partial").stat().st_size
    assert kept > 0 and not target.exists()

    result = asyncio.run(download(url, path=target))

    assert result.resumed_from == kept and target.read_bytes() == data
    assert server.requests_for("/c.bin")[-1].range == f"bytes={kept}-"


def test_a_redirected_download_is_named_after_the_url_asked_for(server: LocalHTTPServer, tmp_path: Path) -> None:
    # Release assets redirect to opaque storage URLs; the name the launcher wrote is the useful one.
    server.add("/objects/8f3a9c", b"binary")
    url = server.add("/releases/download/v1/tool.tar.gz", b"", redirect_to="/objects/8f3a9c?sig=abc")

    result = asyncio.run(download(url, dir=tmp_path))

    assert result.path == tmp_path / "tool.tar.gz" and result.path.read_bytes() == b"binary"


# --- watchdog and retries ------------------------------------------------------------------------------------


def test_the_stall_watchdog_aborts_a_silent_attempt_and_resumes(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(MB)
    url = server.add("/slow.bin", data, faults=[Stall(after=300_000, seconds=30)])
    logs: list[str] = []
    started = time.monotonic()

    asyncio.run(
        download(url, path=tmp_path / "s.bin", on_log=logs.append, stall_timeout_s=0.3, backoff_s=FAST_BACKOFF_S)
    )

    assert time.monotonic() - started < 5
    assert (tmp_path / "s.bin").read_bytes() == data
    assert server.requests_for("/slow.bin")[1].range == "bytes=300000-"
    assert any("stalled: no data for 0.3 s" in line for line in logs)


def test_server_errors_and_429_are_retried_then_succeed(server: LocalHTTPServer, tmp_path: Path) -> None:
    url = server.add("/flaky.bin", b"finally", faults=[Status(500), Status(503), Status(429)])
    logs: list[str] = []

    result = asyncio.run(download(url, path=tmp_path / "f", on_log=logs.append, backoff_s=FAST_BACKOFF_S))

    assert result.path.read_bytes() == b"finally"
    assert [r.status for r in server.requests_for("/flaky.bin")] == [500, 503, 429, 200]
    retries = [line for line in logs if line.startswith("[Retrying]")]
    assert [line.split(" in ")[0] for line in retries] == ["[Retrying] 1/10", "[Retrying] 2/10", "[Retrying] 3/10"]
    assert "HTTP 503" in retries[1]


def test_backoff_doubles_between_attempts(server: LocalHTTPServer, tmp_path: Path) -> None:
    url = server.add("/flaky.bin", b"ok", faults=[Status(500), Status(500), Status(500)])
    logs: list[str] = []
    asyncio.run(download(url, path=tmp_path / "f", on_log=logs.append, backoff_s=0.05))
    delays = [float(re.search(r" in ([\d.]+) s:", line).group(1)) for line in logs if "[Retrying]" in line]  # type: ignore[union-attr]
    assert delays == [0.05, 0.1, 0.2]


def test_it_gives_up_after_its_retries_with_a_clear_error(server: LocalHTTPServer, tmp_path: Path) -> None:
    url = server.add("/down.bin", b"never", faults=[Status(502)] * 5)

    with pytest.raises(DownloadError) as info:
        asyncio.run(download(url, path=tmp_path / "down.bin", retries=2, backoff_s=FAST_BACKOFF_S))

    message = str(info.value)
    assert message.startswith(f"download of {url} failed: HTTP 502 Bad Gateway (gave up after 3 attempts); ")
    assert "check the URL and the network" in message
    assert len(server.requests_for("/down.bin")) == 3
    assert list(tmp_path.iterdir()) == []


def test_a_404_fails_at_once_and_leaves_no_file(server: LocalHTTPServer, tmp_path: Path) -> None:
    url = server.url("/missing.safetensors")
    started = time.monotonic()

    with pytest.raises(DownloadError) as info:
        asyncio.run(download(url, dir=tmp_path / "models"))

    assert time.monotonic() - started < 1
    assert not isinstance(info.value, UserError)
    assert str(info.value) == (
        f"download of {url} failed: HTTP 404 Not Found; the file is not at that address; check the URL"
    )
    assert len(server.requests_for("/missing.safetensors")) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_file_larger_than_the_free_disk_is_refused_before_writing(server: LocalHTTPServer, tmp_path: Path) -> None:
    url = server.add("/huge.bin", b"", content_length=10**15)

    with pytest.raises(DiskFullError) as info:
        asyncio.run(download(url, path=tmp_path / "huge.bin"))

    assert isinstance(info.value, OSError) and isinstance(info.value, DownloadError)
    assert re.search(r"needs 1000 TB, /\S* has [\d.]+ [kMGT]?B free; free space or set PINOKIOCLOUD_PERSIST$",
                     str(info.value))
    assert info.value.needed == 10**15
    assert len(server.requests_for("/huge.bin")) == 1  # not retried
    assert list(tmp_path.iterdir()) == []


# --- concurrency, lists, progress ------------------------------------------------------------------------------


def test_two_concurrent_downloads_of_one_target_fetch_it_once(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(2 * MB)
    url = server.add("/shared.bin", data, chunk_delay_s=0.02)
    target = tmp_path / "shared.bin"

    async def both() -> list[DownloadResult]:
        return list(await asyncio.gather(download(url, path=target), download(url, path=target)))

    results = asyncio.run(both())

    assert sorted(r.skipped for r in results) == [False, True]
    assert target.read_bytes() == data
    assert len(server.requests_for("/shared.bin")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.bin"]


def test_download_many_fetches_each_url_in_order_into_the_folder(server: LocalHTTPServer, tmp_path: Path) -> None:
    urls = [server.add("/a.bin", b"a"), server.add("/b.bin", b"bb", disposition="attachment; filename=c.bin")]
    results = asyncio.run(download_many(urls, dir=tmp_path))
    assert [(r.path.name, r.bytes) for r in results] == [("a.bin", 1), ("c.bin", 2)]
    assert [r.path for r in server.requests] == ["/a.bin", "/b.bin"]


def test_progress_lines_look_like_the_original() -> None:
    event = DownloadProgress("u", Path("f"), bytes_done=1_230_000_000, total=10_000_000_000, speed_bps=20_000_000)
    assert event.line() == "[12.3%] 1.2 GB/10 GB (20 MB/s)"
    unknown = DownloadProgress("u", Path("f"), bytes_done=512, total=None, speed_bps=1_500)
    assert unknown.line() == "512 B (1.5 kB/s)"


def test_progress_events_are_throttled_and_end_with_a_final_one(server: LocalHTTPServer, tmp_path: Path) -> None:
    data = _body(5 * MB)
    url = server.add("/p.bin", data, chunk_delay_s=0.05)  # 20 chunks: about 1 s
    events: list[DownloadProgress] = []
    started = time.monotonic()

    asyncio.run(download(url, path=tmp_path / "p.bin", on_progress=events.append))

    elapsed = time.monotonic() - started
    assert 2 <= len(events) <= elapsed / 0.5 + 2
    assert all(re.fullmatch(r"\[\d+\.\d%\] [\d.]+ [kMG]?B/5 MB \([\d.]+ [kMG]?B/s\)", e.line()) for e in events)
    assert [e.bytes_done for e in events] == sorted(e.bytes_done for e in events)
    last = events[-1]
    assert last.done and not any(e.done for e in events[:-1])
    assert (last.bytes_done, last.total) == (len(data), len(data))
    assert last.line().startswith("[100.0%] 5 MB/5 MB (")


# --- the check --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_interrupted_200mb_download_resumes_without_refetching(server: LocalHTTPServer, tmp_path: Path) -> None:
    size = 200 * 1024 * 1024
    body = GeneratedBody(size, seed=2024)
    drop_at = 97 * 1024 * 1024 + 12_345  # around the middle, not on a block edge
    url = server.add("/model-200mb.safetensors", body, faults=[Drop(after=drop_at)])
    target = tmp_path / "model.safetensors"
    started = time.monotonic()

    # One connection, so the drop lands where it was put (tests/downloads/test_parallel.py covers several).
    result = asyncio.run(download(url, path=target, backoff_s=FAST_BACKOFF_S, connections=1))

    elapsed = time.monotonic() - started
    sent = server.body_bytes_sent("/model-200mb.safetensors")
    print(f"\n200 MB download with one drop: {elapsed:.2f} s, {sent - size} bytes re-sent")
    assert result.bytes == size == target.stat().st_size
    assert [r.range for r in server.requests_for("/model-200mb.safetensors")] == [None, f"bytes={drop_at}-"]
    assert size <= sent <= size + 64 * 1024
    assert _sha(target) == body.sha256()
