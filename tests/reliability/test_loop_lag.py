"""The daemon's event loop stays responsive while it copies and deletes big trees (issue 11 item 7).

A real daemon (`pinokiocloud serve`) installs a launcher folder that holds a 20,000-file tree, runs a script
that ``fs.copy``s the tree and ``fs.rm``s the copy, then removes the app, while a thread pings ``/health``.
Disk work on the loop would hold every ping for as long as the tree operation takes (seconds).
The pieces here are shared with ``benchmarks/bench_loop_lag.py``.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent / "pinokiocloud"
TREE_FILES = 20_000
FILES_PER_FOLDER = 200
PING_INTERVAL_S = 0.01
P99_LIMIT_MS = 50.0
TREE_SCRIPT = (
    "module.exports = { run: ["
    "{ method: 'fs.copy', params: { src: 'tree', dest: 'copy', options: { recursive: true } } },"
    "{ method: 'fs.rm', params: { path: 'copy' } } ] }"
)


def make_tree(root: Path, files: int = TREE_FILES) -> None:
    """``files`` small files in folders of FILES_PER_FOLDER: what a venv or a model repo looks like to rmtree."""
    for i in range(files):
        folder = root / f"d{i // FILES_PER_FOLDER:03d}"
        if i % FILES_PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.txt").write_bytes(b"x" * 64)


def make_launcher(folder: Path, files: int = TREE_FILES) -> None:
    """A launcher without an install flow (installing only copies it) whose tree.js copies and deletes ``tree``."""
    folder.mkdir(parents=True)
    (folder / "pinokio.js").write_text("module.exports = { title: 'Lag', menu: [] }")
    (folder / "tree.js").write_text(TREE_SCRIPT)
    make_tree(folder / "tree", files)


def count_files(root: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(root))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Pinger:
    """Pings ``/health`` from a thread; each sample is (time sent, latency in ms)."""

    url: str
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="health pinger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as client:
            while not self._stop.is_set():
                sent = time.perf_counter()
                client.get("/health").raise_for_status()
                self.samples.append((sent, (time.perf_counter() - sent) * 1000))
                self._stop.wait(PING_INTERVAL_S)

    def between(self, start: float, end: float) -> list[float]:
        return [ms for sent, ms in self.samples if start <= sent <= end]


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


class DaemonProcess:
    """``pinokiocloud serve`` on a free port for one home, with an authenticated client."""

    def __init__(self, home: Path, node_modules: Path, *, cwd: Path | None = None) -> None:
        self.home = home
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PINOKIO_HOME": str(home), "PINOKIOCLOUD_PORT": str(port),
               "PINOKIOCLOUD_NODE_MODULES": str(node_modules)}
        env.pop("PINOKIOCLOUD_DEBUG", None)
        home.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(BIN), "serve"], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.close()
                raise AssertionError(f"the daemon did not start: {err[-2000:]}")
            time.sleep(0.1)
        token = (home / "daemon.token").read_text().strip()
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=300)

    def wait_run(self, key: str, timeout_s: float = 120) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while True:
            run: dict[str, object] = self.client.get(f"/api/runs/{key}").json()
            if run["state"] not in ("starting", "running", "pending"):
                return run
            assert time.monotonic() < deadline, f"run {key} did not finish: {run}"
            time.sleep(0.05)

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@dataclass
class Phases:
    """perf_counter windows of each tree operation, for reading the pinger's samples."""

    windows: dict[str, tuple[float, float]] = field(default_factory=dict)

    def span(self) -> tuple[float, float]:
        return min(s for s, _ in self.windows.values()), max(e for _, e in self.windows.values())


def tree_work(daemon: DaemonProcess, source: Path, name: str = "lag") -> Phases:
    """Install ``source`` (a copy of its tree), run tree.js (fs.copy + fs.rm), then ``rm`` the app."""
    phases = Phases()
    api = daemon.home / "api"
    t0 = time.perf_counter()
    response = daemon.client.post("/api/apps", json={"src": str(source), "name": name})
    assert response.status_code == 201, response.text
    phases.windows["install from a folder"] = (t0, time.perf_counter())
    assert count_files(api / name / "tree") == TREE_FILES

    t0 = time.perf_counter()
    response = daemon.client.post(f"/api/apps/{name}/run", json={"script": "tree.js"})
    assert response.status_code == 201, response.text
    run = daemon.wait_run(str(response.json()["key"]))
    phases.windows["fs.copy + fs.rm"] = (t0, time.perf_counter())
    assert run["state"] == "done", run
    assert not (api / name / "copy").exists()  # copied, then deleted

    t0 = time.perf_counter()
    response = daemon.client.delete(f"/api/apps/{name}")
    assert response.status_code == 200, response.text
    phases.windows["rm APP"] = (t0, time.perf_counter())
    assert not (api / name).exists()
    return phases


@pytest.fixture
def daemon(tmp_path: Path, node_modules: Path) -> Iterator[DaemonProcess]:
    running = DaemonProcess(tmp_path / "pinokio", node_modules)
    yield running
    running.close()


def test_health_p99_stays_under_50_ms_while_trees_are_copied_and_deleted(daemon: DaemonProcess,
                                                                          tmp_path: Path) -> None:
    source = tmp_path / "big-launcher"
    make_launcher(source)
    pinger = Pinger(daemon.url)
    pinger.start()
    try:
        phases = tree_work(daemon, source)
    finally:
        pinger.stop()
    during = pinger.between(*phases.span())
    took = phases.span()[1] - phases.span()[0]
    assert len(during) >= 2, f"{len(during)} ping(s) answered in the {took:.1f} s of tree work"
    p99 = percentile(during, 99)
    assert p99 <= P99_LIMIT_MS, (f"/health p99 {p99:.0f} ms (max {max(during):.0f} ms) over {len(during)} pings "
                                 f"in {took:.1f} s while the daemon copied and deleted {TREE_FILES} files")
    assert len(during) >= 20, f"only {len(during)} pings answered in the {took:.1f} s of tree work"
