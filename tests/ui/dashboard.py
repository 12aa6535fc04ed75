"""Helpers for the dashboard's tests: a real daemon in a temporary PINOKIO_HOME, our fixture launchers
published as git repositories, and ways to open and read a page with Streamlit's AppTest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from streamlit.testing.v1 import AppTest

from pinokiocloud.client import Client
from pinokiocloud.config import Settings
from pinokiocloud.ui.common import PAGES

REPO = Path(__file__).resolve().parents[2]
UI_APP = REPO / "src" / "pinokiocloud" / "ui" / "app.py"
FIXTURE_LAUNCHER = REPO / "tests" / "fixtures" / "launcher"
UI_FIXTURES = Path(__file__).resolve().parent / "fixtures"
APPTEST_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def publish_launcher(folder: Path, remote: Path) -> str:
    """A launcher folder as a git repository, so it installs by URL as real catalog entries do."""
    shutil.copytree(folder, remote)
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "-C", str(remote)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(remote)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "fixture launcher"], check=True)
    return f"file://{remote}"


def write_user_catalog(home: Path, fixture_url: str) -> None:
    """Catalog entries for our fixture launcher: one that fits any machine, one that needs a GPU no machine has,
    and one whose repository is missing."""
    common = {"url": fixture_url, "category": "tools", "complexity": "easy", "icon": "🧪"}
    apps = [
        {**common, "id": "fixture-web", "title": "Fixture Web App", "tags": ["fixture", "bottle"], "disk_gb": 0.1,
         "description": "PinokioCloud's own test launcher: a bottle web server."},
        {**common, "id": "fixture-huge", "title": "Fixture Huge", "tags": ["fixture", "huge"], "vram_gb": 640,
         "gpu": "nvidia", "description": "The same launcher, declared to need a 640 GB NVIDIA GPU."},
        {**common, "id": "fixture-gone", "title": "Fixture Gone", "tags": ["fixture", "gone"],
         "url": f"{fixture_url}-that-is-not-there", "description": "A launcher whose repository does not exist."},
    ]
    home.mkdir(parents=True, exist_ok=True)
    (home / "catalog.json").write_text(json.dumps({"version": 1, "apps": apps}))


@dataclass
class Daemon:
    home: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def client(self) -> Client:
        return Client(self.settings, autostart=False)

    def start(self) -> None:
        log = (self.home / "serve.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "pinokiocloud.cli.main", "serve"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=str(self.home))
        deadline = time.monotonic() + 60
        with self.client() as client:
            while not client.is_up():
                assert self.proc.poll() is None, (self.home / "serve.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the daemon did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        pid = self.proc.pid if self.proc is not None else _pid_from_file(self.home)
        if pid is None or not psutil.pid_exists(pid):
            return
        os.kill(pid, signal.SIGTERM)
        try:
            psutil.Process(pid).wait(30)
        except psutil.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)

    def wait(self, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 120) -> dict[str, Any]:
        """Poll the app's status until ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                status = client.status(name)
                if predicate(status):
                    return status
                assert time.monotonic() < deadline, f"{name} never got there: {status}"
                time.sleep(0.2)


def _pid_from_file(home: Path) -> int | None:
    try:
        return int((home / "daemon.pid").read_text())
    except (OSError, ValueError):
        return None


def daemon_env(home: Path, node_modules: Path) -> dict[str, str]:
    env = {**os.environ, "PINOKIO_HOME": str(home), "PINOKIOCLOUD_PORT": str(free_port()),
           "PINOKIOCLOUD_NODE_MODULES": str(node_modules), "UV_PYTHON_DOWNLOADS": "never",
           "UV_CACHE_DIR": str(REPO / ".cache" / "tests" / "uv"),
           "PINOKIOCLOUD_SHARE_PROVIDERS": "lan"}
    env.pop("PINOKIOCLOUD_DEBUG", None)
    return env


def open_page(page: str, *, selected_app: str | None = None) -> AppTest:
    """The dashboard from its entry point (My apps), switched to ``page`` (``library``, ``app``, …)."""
    at = AppTest.from_file(str(UI_APP), default_timeout=APPTEST_TIMEOUT_S)
    if selected_app is not None:
        at.session_state["selected_app"] = selected_app
    at.run()
    assert not at.exception, at.exception
    if page != "home":
        at.switch_page(PAGES[page]).run()
        assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Everything the page says in markdown, captions, alerts, titles and code, as one string."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "error", "warning", "info", "success",
                 "code", "toast"):
        parts.extend(str(e.value) for e in getattr(at, kind))
    return "\n".join(parts)


def button(at: AppTest, label: str) -> Any:
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r}; buttons: {[b.label for b in at.button]}"
    return found[0]
