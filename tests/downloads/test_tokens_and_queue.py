"""Tokens reach only their own service across redirects; the queue limits, orders, cancels and reports."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from pinokiocloud.cli.downloads import render_progress
from pinokiocloud.downloads import (
    PRIORITY_BACKGROUND,
    PRIORITY_STEP,
    DownloadCancelledError,
    DownloadQueue,
    QueuedDownload,
    Reporter,
    Tokens,
    download,
)
from pinokiocloud.server.models import JsonObject, RunEvent
from tests.downloads.servers import File, FileServer, Redirect, body

MB = 1_000_000


@pytest.fixture
def via_proxy(srv: FileServer, monkeypatch: pytest.MonkeyPatch) -> FileServer:
    """The loopback server plays every host: http:// URLs go to it as a proxy (absolute-form requests)."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{srv.port}")
    return srv


def _auth_by_host(srv: FileServer) -> list[tuple[str, str | None]]:
    return [(s.headers["host"], s.headers.get("authorization")) for s in srv.seen]


def test_the_hf_token_goes_to_hugging_face_and_is_dropped_at_the_cdn(via_proxy: FileServer, tmp_path: Path) -> None:
    via_proxy.add("/blob/1", File(b"weights"))
    via_proxy.add("/org/m/resolve/main/w.bin", Redirect("http://cdn-lfs.example.org/blob/1"))
    tokens = Tokens(hf="hf_secret", civitai="civ_secret")
    asyncio.run(download("http://huggingface.co/org/m/resolve/main/w.bin", path=tmp_path / "w.bin", tokens=tokens))
    assert (tmp_path / "w.bin").read_bytes() == b"weights"
    assert _auth_by_host(via_proxy) == [("huggingface.co", "Bearer hf_secret"), ("cdn-lfs.example.org", None)]


def test_the_civitai_token_goes_to_civitai_only(via_proxy: FileServer, tmp_path: Path) -> None:
    via_proxy.add("/files/9", File(b"lora"))
    via_proxy.add("/api/download/models/9", Redirect("http://evil.example.com/files/9"))
    via_proxy.add("/plain.bin", File(b"x"))
    tokens = Tokens(hf="hf_secret", civitai="civ_secret")
    asyncio.run(download("http://civitai.com/api/download/models/9", path=tmp_path / "l.bin", tokens=tokens))
    asyncio.run(download("http://example.net/plain.bin", path=tmp_path / "p.bin", tokens=tokens))
    assert _auth_by_host(via_proxy) == [("civitai.com", "Bearer civ_secret"), ("evil.example.com", None),
                                        ("example.net", None)]


def test_a_callers_authorization_header_stays_on_the_first_host(via_proxy: FileServer, tmp_path: Path) -> None:
    via_proxy.add("/b", File(b"x"))
    via_proxy.add("/a", Redirect("http://other.example.org/b"))
    asyncio.run(download("http://files.example.org/a", path=tmp_path / "x", headers={"Authorization": "Bearer mine"}))
    assert _auth_by_host(via_proxy) == [("files.example.org", "Bearer mine"), ("other.example.org", None)]


# --- the queue ---------------------------------------------------------------------------------------------


def test_the_queue_limits_orders_by_priority_and_reports(srv: FileServer, tmp_path: Path) -> None:
    data = body(3 * MB)
    url = srv.add("/slow.bin", File(data, rate_bps=3 * MB))
    quick = srv.add("/quick.bin", File(b"q"))
    queue = DownloadQueue(concurrency=1)
    started: list[str] = []
    events: list[dict[str, object]] = []

    async def main() -> None:
        async def fetch(u: str, name: str, reporter: Reporter) -> None:
            started.append(name)
            await download(u, path=tmp_path / name, on_progress=reporter.progress)

        def job(u: str, name: str, priority: int) -> asyncio.Task[None]:
            return asyncio.create_task(queue.run(lambda r: fetch(u, name, r), url=u, path=tmp_path / name,
                                                 priority=priority,
                                                 on_update=lambda e: events.append(e.to_json())))

        first = job(url, "first.bin", PRIORITY_STEP)
        await asyncio.sleep(0.2)
        background = job(quick, "bg.bin", PRIORITY_BACKGROUND)
        step = job(quick, "step.bin", PRIORITY_STEP)
        await asyncio.sleep(0.2)
        states = {e.path and Path(e.path).name: e.state for e in queue.list()}
        assert states == {"first.bin": "running", "bg.bin": "queued", "step.bin": "queued"}
        await asyncio.gather(first, background, step)

    asyncio.run(main())
    assert started == ["first.bin", "step.bin", "bg.bin"]  # the waiting step before the background fetch
    assert all(e.state == "done" for e in queue.list())
    running = [e for e in events if e["state"] == "running" and e["bytes"] and str(e["path"]).endswith("first.bin")]
    assert running and all(isinstance(e["rate_bps"], float) for e in running)
    assert any(e["eta_s"] is not None and float(e["eta_s"]) > 0 for e in running)  # type: ignore[arg-type]
    event: RunEvent = {"run_id": "r1", "type": "download", "data": cast(JsonObject, running[-1]), "step": None,
                       "total": None, "ts": 0.0, "seq": 1, "attempt": "demo"}
    line = render_progress(event)
    assert line is not None and "first.bin running" in line and "ETA" in line


def test_cancel_ends_a_running_download_and_keeps_its_partial(srv: FileServer, tmp_path: Path) -> None:
    data = body(4 * MB)
    url = srv.add("/c.bin", File(data, rate_bps=2 * MB))
    queue = DownloadQueue()
    entry: list[QueuedDownload] = []

    async def main() -> None:
        task = asyncio.create_task(queue.run(
            lambda r: download(url, path=tmp_path / "c.bin", on_progress=r.progress), url=url,
            on_update=lambda e: entry.append(e)))
        while not entry or entry[-1].bytes < MB:
            await asyncio.sleep(0.05)
        queue.cancel(entry[-1].id)
        with pytest.raises(DownloadCancelledError, match="cancelled by the user"):
            await task

    asyncio.run(main())
    assert entry[-1].state == "cancelled"
    assert (tmp_path / "c.bin.partial").stat().st_size >= MB and not (tmp_path / "c.bin").exists()
    with pytest.raises(Exception, match="has already ended"):
        queue.cancel(entry[-1].id)
