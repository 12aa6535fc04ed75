"""One door per surface: the dashboard is reachable only through its passcode gateway on the UI port.

A real daemon (``pinokiocloud serve``) with a real Streamlit dashboard: every socket the daemon and the
dashboard's processes listen on is knocked on without credentials, a WebSocket from another origin is
refused by the dashboard, and a start with a side door open fails closed.
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import psutil
import pytest

from pinokiocloud.server.ui_service import UiService, UiUnavailableError
from pinokiocloud.store import Store
from pinokiocloud.ui.server import SECRET_ENV
from tests.security.conftest import Running
from tests.ui.dashboard import free_port

PROBES = ("/", "/_stcore/health", "/_stcore/host-config", "/docs", "/openapi.json", "/api/apps", "/api/settings")


def _listeners(root: int) -> dict[int, tuple[int, list[str]]]:
    """port -> (pid, command line) of every listening TCP socket of ``root`` and its descendants, apps' own
    servers aside (they run in the apps' folders under api/, and guard themselves or not: not our door)."""
    found: dict[int, tuple[int, list[str]]] = {}
    procs = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    for proc in procs:
        try:
            if "/api/" in proc.cwd():
                continue
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found[conn.laddr.port] = (proc.pid, proc.cmdline())
        except psutil.Error:
            continue
    return found


def _dashboard(running: Running) -> tuple[int, int]:
    """(pid, port) of the Streamlit process."""
    assert running.daemon.proc is not None
    for port, (pid, cmdline) in _listeners(running.daemon.proc.pid).items():
        if "pinokiocloud.ui.server" in cmdline:
            return pid, port
    raise AssertionError("no dashboard process listens")


def test_no_socket_of_the_daemon_or_the_dashboard_answers_without_credentials(running: Running) -> None:
    assert running.daemon.proc is not None
    listeners = _listeners(running.daemon.proc.pid)
    ui_port = int(running.daemon.env["PINOKIOCLOUD_UI_PORT"])
    _, streamlit_port = _dashboard(running)
    assert {running.daemon.port, ui_port, streamlit_port} <= set(listeners)  # the three servers are all there
    for port in listeners:
        for path in PROBES:
            answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
            assert answer.status_code >= 400, f"port {port} answers {path} with {answer.status_code}"
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        if health.status_code < 400:
            assert port == running.daemon.port and set(health.json()) == {"ok", "version"}
    # the secret that opens the dashboard's own port is on no command line (`ps` shows those to every user)
    for _, cmdline in listeners.values():
        assert not any(running.ui["passcode"] in part for part in cmdline)
    pid, _ = _dashboard(running)
    secret = psutil.Process(pid).environ()[SECRET_ENV]
    assert all(secret not in part for part in psutil.Process(pid).cmdline())
    # with the secret path, the same port serves the dashboard: it is the gateway's way in, and only that
    assert httpx.get(f"http://127.0.0.1:{streamlit_port}/{secret}/_stcore/health", timeout=5).status_code == 200


async def _websocket(url: str, headers: dict[str, str], cookies: dict[str, str] | None = None) -> int:
    """The handshake's status: 101 when the socket opened."""
    async with aiohttp.ClientSession(cookies=cookies) as session:
        try:
            async with session.ws_connect(url, headers=headers, protocols=("streamlit",)) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def test_a_websocket_from_another_origin_cannot_drive_the_dashboard(running: Running) -> None:
    ui_port = int(running.daemon.env["PINOKIOCLOUD_UI_PORT"])
    gateway = f"http://127.0.0.1:{ui_port}"
    login = httpx.get(running.ui["token_url"], timeout=10)
    cookies = dict(login.cookies)
    assert login.status_code == 303 and cookies, "the token link did not log in"
    stream = f"ws://127.0.0.1:{ui_port}/_stcore/stream"
    own_page = {"Origin": gateway, "Sec-Fetch-Site": "same-origin"}
    evil_page = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    other_local_app = {"Origin": "http://127.0.0.1:7860", "Sec-Fetch-Site": "same-site"}
    assert asyncio.run(_websocket(stream, own_page, cookies)) == 101
    assert asyncio.run(_websocket(stream, evil_page, cookies)) == 403
    assert asyncio.run(_websocket(stream, other_local_app, cookies)) == 403
    assert asyncio.run(_websocket(stream, {"Origin": gateway})) == 401  # no session: the gateway stops it
    # on the dashboard's own port, even with its secret, only its own origin gets a socket
    pid, port = _dashboard(running)
    secret = psutil.Process(pid).environ()[SECRET_ENV]
    direct = f"ws://127.0.0.1:{port}/{secret}/_stcore/stream"
    assert asyncio.run(_websocket(direct, {"Origin": "http://evil.example"})) == 403
    assert asyncio.run(_websocket(direct, {"Origin": "http://localhost:7860"})) == 403
    assert asyncio.run(_websocket(direct, {"Origin": f"http://127.0.0.1:{port}"})) == 101


@pytest.fixture
def side_door() -> Iterator[int]:
    """An HTTP server in this process (the daemon's, in the next test) that answers anyone."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_dashboard_does_not_start_while_a_side_door_is_open(side_door: int, tmp_path: Path) -> None:
    ui_port = free_port()
    service = UiService(home=tmp_path, environ={"PATH": "/usr/bin:/bin"}, daemon_port=free_port(), ui_port=ui_port,
                        token="t" * 32, memory=Store(tmp_path / "state.db"))

    async def start() -> str:
        try:
            await service.start()
        except UiUnavailableError as exc:
            return str(exc)
        finally:
            await service.stop()
        return "started"

    message = asyncio.run(start())
    assert message.startswith(f"the dashboard could not start: 127.0.0.1:{side_door} (pid ")
    assert "answers / with HTTP 200 without authentication" in message
    with socket.socket() as s:
        s.bind(("127.0.0.1", ui_port))  # nothing was left listening on the UI port
