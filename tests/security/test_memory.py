"""Bounded memory: a run that prints hundreds of megabytes leaves the daemon's RSS where it was, and the
event history a follower replays still comes whole from the store."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pinokiocloud.client import Client
from pinokiocloud.config import Settings
from pinokiocloud.kernel.events import EventLog, RunEvent
from pinokiocloud.procs.logfiles import LOG_MAX_ENV, folder_size
from pinokiocloud.store.db import Store

pytestmark = pytest.mark.slow

FLOOD_MB = 300
"""Output of the big run. 1 GB takes about 85 s on a 2-core machine and behaves the same (RSS is bounded
by the history caps, not by the output): see the report of issue 12."""
RSS_SLACK_MB = 50
LOG_CAP_MB = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def daemon(tmp_path: Path, node_modules: Path) -> Iterator[tuple[Client, psutil.Process, Path]]:
    home = tmp_path / "pinokio"
    env = {**os.environ, "PINOKIO_HOME": str(home), "PINOKIOCLOUD_PORT": str(_free_port()),
           "PINOKIOCLOUD_UI_PORT": str(_free_port()), "PINOKIOCLOUD_NODE_MODULES": str(node_modules),
           LOG_MAX_ENV: str(LOG_CAP_MB)}
    client = Client(Settings.from_env(env))
    client.ensure_daemon()
    proc = psutil.Process(int((home / "daemon.pid").read_text()))
    yield client, proc, home
    proc.terminate()
    proc.wait(30)


def _flood_app(folder: Path, megabytes: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "pinokio.js").write_text('module.exports = { title: "Flood", menu: [{ text: "Flood", href: '
                                       '"flood.js" }] }\n')
    (folder / "install.js").write_text('module.exports = { run: [{ method: "log", params: { text: "ok" } }] }\n')
    for name, size in (("flood.js", megabytes), ("warm.js", 2)):
        command = f"yes {'x' * 99} | head -c {size * 1000 * 1000}; echo; echo THE-END"
        (folder / name).write_text('module.exports = { run: [{ method: "shell.run", params: { message: '
                                   + json.dumps(command) + " } }] }\n")
    return folder


def _wait_finished(client: Client, key: str, timeout_s: float = 240) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout_s
    while True:
        info = client.run_info(key)
        if info["state"] not in ("starting", "running", "stopping"):
            return info
        assert time.monotonic() < deadline, info
        time.sleep(0.2)


def test_rss_returns_to_idle_after_a_run_that_prints_hundreds_of_megabytes(
        daemon: tuple[Client, psutil.Process, Path], tmp_path: Path) -> None:
    client, proc, home = daemon
    client.install(str(_flood_app(tmp_path / "flood", FLOOD_MB)), name="flood")
    small = client.run("flood", script="warm.js")  # warm every code path once, then measure idle
    _wait_finished(client, small["key"])
    time.sleep(1)
    idle = proc.memory_info().rss
    peak = idle
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        big = client.run("flood", script="flood.js")
        info = _wait_finished(client, big["key"])
    finally:
        done.set()
        sampler.join()
    seconds = time.monotonic() - started
    time.sleep(1)
    after = proc.memory_info().rss
    mib = 1024 * 1024
    print(f"\n{FLOOD_MB} MB output in {seconds:.1f} s: daemon RSS idle {idle / mib:.0f} MiB, "
          f"peak {peak / mib:.0f} MiB, after {after / mib:.0f} MiB")
    assert info["state"] == "done", info
    assert after - idle <= RSS_SLACK_MB * mib, (idle / mib, peak / mib, after / mib)
    assert client.logs("flood", tail=1) == ["THE-END"], "the newest output must still be there"
    shell_logs = home / "logs" / "shell" / "flood"
    assert folder_size(shell_logs) <= LOG_CAP_MB * 1024 * 1024


async def _replay_all(log: EventLog, run_id: str, attempt: str) -> list[RunEvent]:
    return [event async for event in log.replay(run_id, attempt=attempt)]


def test_replay_gives_every_stored_event_of_a_run_memory_has_let_go(tmp_path: Path) -> None:
    """The wiring the daemon uses: events saved under their own seq, the log attached to the store. A
    finished run keeps a few kilobytes in memory, yet a late follower replays all of its output, in order,
    also the events that memory dropped before the store had saved them."""
    store = Store(tmp_path / "state.db")
    store.add_events([("older-run", "x.js", "stream", None, None, 1.0, {"raw": "from an earlier daemon"})])
    log = EventLog(live_bytes=4096, finished_bytes=1024)
    log.attach(store, last_seq=store.last_event_seq())
    queue = log.subscribe(None)

    def flush() -> None:
        rows = []
        while not queue.empty():
            e = queue.get_nowait()
            rows.append((e.seq, e.attempt, e.run_id, e.type, e.step, e.total, e.ts, e.data))
        store.add_numbered_events(rows)

    async def body() -> None:
        chunk = "y" * 500
        for i in range(300):
            log.publish(RunEvent("app/start.js", "stream", {"raw": f"{i:04d}{chunk}\n"}, attempt="k1"))
            if i == 150:
                flush()  # the rest is saved only while the replay below waits for it
        log.publish(RunEvent("app/start.js", "stop", {"state": "done"}, attempt="k1"))
        assert len(log.history("app/start.js", attempt="k1")) < 10
        asyncio.get_running_loop().call_later(0.3, flush)
        events = await _replay_all(log, "app/start.js", "k1")
        text = "".join(e.data["raw"] for e in events if e.type == "stream")
        assert [line[:4] for line in text.splitlines()] == [f"{i:04d}" for i in range(300)]
        assert events[-1].type == "stop"
        assert [e.seq for e in events] == sorted({e.seq for e in events})
        assert events[0].seq > 1, "new events are numbered above those of an earlier daemon"

    asyncio.run(asyncio.wait_for(body(), 20))
    store.close()
