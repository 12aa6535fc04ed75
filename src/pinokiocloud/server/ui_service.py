"""The dashboard as the daemon runs it: Streamlit behind an auth gateway on the UI port, and no other door.

The daemon owns the Streamlit process like any other (DESIGN §1 rule 1): `pinokiocloud up` asks for it,
`down` or a daemon stop takes it away. Visitors meet the same passcode/token gateway as shared apps.

Streamlit itself (``pinokiocloud.ui.server``) listens on a loopback port but answers only under a secret
path made for each start, which only the gateway's target URL knows; its XSRF and CORS protection are on
and it refuses WebSockets from other origins. Before the dashboard is announced, :func:`open_doors` lists
every listening socket of the daemon and of the dashboard's processes and knocks without credentials; any
that answers stops the start (fail closed).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import socket
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import psutil

from pinokiocloud.errors import UiUnavailableError
from pinokiocloud.kernel.ports import find_free_port
from pinokiocloud.procs import ManagedProcess
from pinokiocloud.share import generate_passcode, load_gateway
from pinokiocloud.ui.server import SECRET_ENV

if TYPE_CHECKING:
    import httpx

    from pinokiocloud.share import Gateway

__all__ = ["DEFAULT_UI_PORT", "UI_APP", "OpenDoor", "UiService", "UiUnavailableError", "open_doors"]

DEFAULT_UI_PORT = 8501
UI_APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"
START_TIMEOUT_S = 60.0
KNOCK_TIMEOUT_S = 2.0
KNOCK_PATHS = ("/", "/_stcore/health", "/openapi.json", "/docs")
"""What a visitor without credentials tries on each listening port: pages, Streamlit's health, API docs."""


@dataclass(frozen=True, slots=True)
class OpenDoor:
    """A listening socket of ours that answered without credentials (or a Unix socket others may open)."""

    address: str
    pid: int
    process: str
    answer: str

    def sentence(self) -> str:
        return (f"{self.address} (pid {self.pid}, {self.process}) {self.answer} without authentication; "
                "stop whatever serves it, then start the dashboard again")


def _processes(own: list[int], trees: list[int]) -> list[psutil.Process]:
    """``own`` alone (the daemon: its children are apps, whose servers are theirs to guard) and ``trees``
    with all their descendants (the dashboard's processes)."""
    found: dict[int, psutil.Process] = {}
    for pid in [*own, *trees]:
        try:
            proc = psutil.Process(pid)
            found[pid] = proc
            if pid in trees:
                found.update({c.pid: c for c in proc.children(recursive=True)})
        except psutil.Error:
            continue
    return list(found.values())


def _listening(own: list[int], trees: list[int]) -> tuple[list[tuple[str, int, int, str]], list[OpenDoor]]:
    """(host to knock on, port, pid, process name) of every listening TCP socket, and Unix sockets whose
    folder others may enter. Blocking (/proc reads): run it in a thread."""
    tcp: list[tuple[str, int, int, str]] = []
    doors: list[OpenDoor] = []
    for proc in _processes(own, trees):
        try:
            name = proc.name()
            connections = proc.net_connections(kind="all")
        except psutil.Error:
            continue
        for conn in connections:
            if conn.family == socket.AF_UNIX:
                path = conn.laddr if isinstance(conn.laddr, str) else ""
                if path and conn.status in (psutil.CONN_LISTEN, psutil.CONN_NONE) and _others_may_open(Path(path)):
                    doors.append(OpenDoor(path, proc.pid, name, "is a Unix socket other users may open, and "
                                                               "it answers"))
                continue
            if conn.status != psutil.CONN_LISTEN or not conn.laddr:
                continue
            ip = conn.laddr.ip
            host = ("[::1]" if ip in ("::", "::1") else f"[{ip}]") if ":" in ip else (
                "127.0.0.1" if ip == "0.0.0.0" else ip)
            tcp.append((host, conn.laddr.port, proc.pid, name))
    return tcp, doors


def _others_may_open(path: Path) -> bool:
    try:
        folder = path.parent.stat()
    except OSError:
        return False
    return bool(stat.S_IMODE(folder.st_mode) & 0o077)


async def _knock(http: httpx.AsyncClient, host: str, port: int) -> str | None:
    """What an unauthenticated visitor gets, when it is more than a refusal."""
    import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

    for path in KNOCK_PATHS:
        try:
            response = await http.get(f"http://{host}:{port}{path}", headers={"Host": f"127.0.0.1:{port}"})
        except (httpx.HTTPError, OSError):
            return None  # not HTTP, or not answering: nothing for a visitor either
        if response.status_code < 400:
            return f"answers {path} with HTTP {response.status_code}"
    return None


async def open_doors(own: list[int], trees: list[int]) -> list[OpenDoor]:
    """Every listening socket of the processes ``own`` and of ``trees`` (with their children) that lets a
    visitor in without credentials. Apps' own servers are not ours to judge (many have no login at all).

    The daemon's API (401 without its token, ``/health`` aside, which says only that it is alive), the
    gateways (401 or a login page with 401) and the guarded Streamlit (404 off its secret path) all
    refuse; anything else that answers a page is a side entrance.
    """
    import httpx

    tcp, doors = await asyncio.to_thread(_listening, own, trees)
    async with httpx.AsyncClient(timeout=KNOCK_TIMEOUT_S, trust_env=False, follow_redirects=False) as http:
        answers = await asyncio.gather(*(_knock(http, host, port) for host, port, _, _ in tcp))
    doors.extend(OpenDoor(f"{host}:{port}", pid, name, answer)
                 for (host, port, pid, name), answer in zip(tcp, answers, strict=True) if answer is not None)
    return doors


class UiMemory(Protocol):
    """Where the dashboard keeps what must outlive a daemon: its passcode (hashed) and whether it is wanted."""

    def setting(self, key: str, default: object = None) -> object:
        """A value as it was put, or ``default`` (JSON: read it with ``isinstance``)."""

    def put_setting(self, key: str, value: object) -> None: ...


PASSCODE_HASHES = "ui_passcode_hashes"
PASSCODE_SINCE = "ui_passcode_since"
WANTED = "ui_wanted"


class UiService:
    def __init__(self, *, home: Path, environ: dict[str, str], daemon_port: int, ui_port: int,
                 token: str, memory: UiMemory) -> None:
        self.home = home
        self.environ = environ
        self.daemon_port = daemon_port
        self.ui_port = ui_port
        self.memory = memory
        """The store: a restarted daemon brings the dashboard back with the same passcode (only its scrypt
        hash is kept), so open tabs and shared links keep working until the user asks for a new one."""
        self.token = token
        """The daemon's API token. It never opens the dashboard: the gateway's link token and session key
        are derived from it (stable across restarts, so links and logins keep working) but reveal nothing of it."""
        self._proc: ManagedProcess | None = None
        self._gateway: Gateway | None = None
        self._lock = asyncio.Lock()
        self.internal_url: str | None = None
        """Streamlit's own address (what a public share of the dashboard points at)."""

    def _derived(self, purpose: str) -> str:
        return hmac.new(self.token.encode(), f"pinokiocloud-dashboard-{purpose}".encode(), hashlib.sha256).hexdigest()

    @property
    def link_token(self) -> str:
        """The secret of the dashboard's one-click link (``?token=``), not the daemon's API token."""
        return self._derived("link")

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.exit_code is None and self._gateway is not None

    @property
    def wanted(self) -> bool:
        """The dashboard was running when the daemon last stopped or died: bring it back on start."""
        return bool(self.memory.setting(WANTED, False))

    def info(self) -> dict[str, Any]:
        if not self.is_running or self._gateway is None:
            return {"running": False}
        return {"running": True, "url": self._gateway.url, "token_url": self._gateway.token_link(),
                "passcode": self._gateway.passcode, "passcode_since": self.memory.setting(PASSCODE_SINCE)}

    async def start(self, *, new_passcode: bool = False) -> dict[str, Any]:
        """Start the dashboard (or return it as it runs). Its passcode is the one it had before, known only
        as a hash (``passcode`` is then ``None``), unless there is none yet or ``new_passcode`` asks for one."""
        async with self._lock:
            if new_passcode:
                self.memory.put_setting(PASSCODE_HASHES, None)
                await self._stop()
            if self.is_running:
                return self.info()
            await self._stop()
            if not UI_APP.is_file():
                raise UiUnavailableError(f"{UI_APP} is missing from this installation")
            gateway_loading = asyncio.ensure_future(load_gateway())  # its import overlaps Streamlit's start
            port = find_free_port(start=self.ui_port + 1000)
            secret = secrets.token_urlsafe(24)  # in the environment only: `ps` shows argv to every user
            env = {**self.environ, "PINOKIO_HOME": str(self.home), "PINOKIOCLOUD_PORT": str(self.daemon_port),
                   SECRET_ENV: secret}
            argv = [sys.executable, "-m", "pinokiocloud.ui.server", f"--port={port}"]
            log_path = self.home / "logs" / "ui.log"
            self._proc = await ManagedProcess.spawn(argv, cwd=self.home, env=env, log_path=log_path, name="dashboard")
            target = f"http://127.0.0.1:{port}/{secret}"
            await self._wait_healthy(target)
            self.internal_url = target
            hashes = self.memory.setting(PASSCODE_HASHES)
            known = [str(h) for h in hashes] if isinstance(hashes, list) and hashes else None
            self._gateway = (await gateway_loading)(target, passcode=None if known else generate_passcode(),
                                                  passcode_hash=known, token=self.link_token,
                                                  session_key=self._derived("session"), port=self.ui_port,
                                                  name="dashboard", access_log=self.home / "logs" / "ui-access.log")
            try:
                await self._gateway.start()
            except OSError as exc:
                await self._stop()
                raise UiUnavailableError(f"port {self.ui_port} is taken ({exc.strerror}); "
                                         "set PINOKIOCLOUD_UI_PORT") from exc
            if not known:
                self.memory.put_setting(PASSCODE_HASHES, list(self._gateway.passcode_hashes))
                self.memory.put_setting(PASSCODE_SINCE, time.time())
            doors = await open_doors([os.getpid()], [self._proc.pid])
            if doors:
                await self._stop()
                raise UiUnavailableError(doors[0].sentence())
            self.memory.put_setting(WANTED, True)
            return self.info()

    async def _wait_healthy(self, target: str) -> None:
        import httpx

        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.exit_code is not None:
                    tail = self._proc.tail(800) if self._proc else ""
                    await self._stop()
                    raise UiUnavailableError(f"Streamlit exited: {tail.strip()[-400:]}")
                try:
                    if (await client.get(target + "/_stcore/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        await self._stop()
        raise UiUnavailableError(f"Streamlit did not answer within {START_TIMEOUT_S:g} s")

    async def stop(self, *, forget: bool = True) -> None:
        """Stop the dashboard; ``forget=False`` (the daemon shutting down or dying) keeps it wanted, so the
        next daemon brings it back."""
        async with self._lock:
            await self._stop()
            if forget:
                self.forget()

    def forget(self) -> None:
        """Do not bring the dashboard back when the next daemon starts (``down`` asked for everything off)."""
        self.memory.put_setting(WANTED, False)

    async def _stop(self) -> None:
        gateway, self._gateway = self._gateway, None
        proc, self._proc = self._proc, None
        if gateway is not None:
            await gateway.stop()
        if proc is not None:
            await proc.stop()
