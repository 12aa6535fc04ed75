"""Telling what serves an app must not overflow a small server's listen backlog: ``python -m http.server``
listens with a backlog of 5, and a burst of ten probes at once had the kernel drop a connection and retry it
a second later, so every status read of such an app (and the moment it showed ``online``) waited a second."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from pinokiocloud.share.detect import detect_web_ui
from tests.helpers.cli import free_port


def test_a_server_with_a_backlog_of_five_is_told_apart_without_waiting_for_a_dropped_connection(
        tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"

        async def detect() -> float:
            deadline = time.monotonic() + 30
            while await detect_web_ui(local_url=url) is None:  # the server starts
                assert time.monotonic() < deadline, "the server never answered"
                await asyncio.sleep(0.1)
            slowest = 0.0
            for _ in range(10):
                began = time.monotonic()
                found = await detect_web_ui(local_url=url, ports=[port])
                slowest = max(slowest, time.monotonic() - began)
                assert found is not None and found.kind == "http"
            return slowest

        slowest = asyncio.run(detect())
    finally:
        server.terminate()
        server.wait(10)
    assert slowest < 0.8, f"a detection took {slowest:.2f} s: a connection was dropped and retried"
