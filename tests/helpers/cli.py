"""The real ``pinokiocloud`` command against a real daemon in a temporary PINOKIO_HOME, plus small launchers
written on the spot (for tests of the daemon's life: locks, crashes, restarts)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from pinokiocloud.home_lock import lock_holder

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "pinokiocloud"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_launcher(folder: Path, scripts: dict[str, str], *, menu: str | None = None) -> Path:
    """A launcher folder: ``pinokio.js`` (by default: Install until ``installed.txt`` exists or when there is no
    install.js, then Start) and the given scripts."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pinokio.js").write_text(menu or """
module.exports = { title: "Test", menu: async (kernel, info) =>
  info.exists("install.js") && !info.exists("installed.txt")
    ? [{ default: true, text: "Install", href: "install.js" }]
    : [{ default: true, text: "Start", href: "start.js" }, { text: "Install", href: "install.js" }]
}
""")
    for name, body in scripts.items():
        (folder / name).write_text(body)
    return folder


class Cli:
    """``pinokiocloud`` with its own home and ports; ``close()`` stops the daemon and its watchdog."""

    def __init__(self, home: Path, node_modules: Path) -> None:
        self.home = home
        self.port = free_port()
        self.env = {**os.environ, "PINOKIO_HOME": str(home), "PINOKIOCLOUD_PORT": str(self.port),
                    "PINOKIOCLOUD_UI_PORT": str(free_port()),
                    "PINOKIOCLOUD_SHARE_PROVIDERS": "ssh", "PINOKIOCLOUD_SSH_TARGET": "nobody@127.0.0.1",
                    "PINOKIOCLOUD_SSH_PORT": str(free_port()),
                    "PINOKIOCLOUD_NODE_MODULES": str(node_modules), "UV_PYTHON_DOWNLOADS": "never",
                    "UV_CACHE_DIR": str(REPO / ".cache" / "tests" / "uv")}
        self.env.pop("PINOKIOCLOUD_DEBUG", None)

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=self.env, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(BIN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, stdin=subprocess.DEVNULL)

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def daemon_pid(self) -> int | None:
        holder = lock_holder(self.home)
        return holder.pid if holder is not None else None

    def kill_daemon(self, sig: signal.Signals) -> None:
        """Send the daemon ``sig`` and wait until it has exited (after SIGKILL its apps' processes outlive it)."""
        pid = self.daemon_pid()
        assert pid is not None, f"no daemon owns {self.home}"
        os.kill(pid, sig)
        deadline = time.monotonic() + 30
        while True:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    return
            except psutil.NoSuchProcess:
                return
            assert time.monotonic() < deadline, "the daemon did not exit"
            time.sleep(0.1)

    def wait_daemon(self, *, other_than: int | None = None, timeout: float = 60) -> int:
        """The pid of the ready daemon that owns the home (a new one when ``other_than`` is given)."""
        deadline = time.monotonic() + timeout
        while True:
            holder = lock_holder(self.home)
            if holder is not None and holder.ready and holder.pid is not None and holder.pid != other_than:
                return holder.pid
            assert time.monotonic() < deadline, f"no ready daemon for {self.home} (holder: {holder})"
            time.sleep(0.1)

    def wait_state(self, name: str, wanted: set[str], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            status = self.json("status", name)
            if status["state"] in wanted:
                return status
            assert time.monotonic() < deadline, status
            time.sleep(0.3)

    def serve_processes(self) -> list[psutil.Process]:
        """Every ``serve`` of this home (whoever started it)."""
        found = []
        for proc in psutil.process_iter(["cmdline", "environ"]):
            cmdline = proc.info.get("cmdline") or []
            environ = proc.info.get("environ") or {}
            if any("pinokiocloud.server.serve" in part or part == "serve" for part in cmdline) \
                    and environ.get("PINOKIO_HOME") == str(self.home):
                found.append(proc)
        return found

    def close(self) -> None:
        """Stop the daemon the way a user would (SIGTERM: the watchdog lets it go), then make sure."""
        pid = self.daemon_pid()
        if pid is not None and psutil.pid_exists(pid):
            os.kill(pid, signal.SIGTERM)
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).wait(30)
        deadline = time.monotonic() + 10
        while lock_holder(self.home) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        for proc in self.serve_processes():
            proc.kill()
