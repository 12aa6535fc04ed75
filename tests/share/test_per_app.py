"""One share lane per app: a slow tunnel for one app (the cloudflared stand-in told to wait before it reports
its URL) does not hold up another app's share, while two shares of one app take turns.

The daemon test goes through the real path: two launchers whose ``local.set`` shares (Pinokio's
``PINOKIO_SHARE_CLOUDFLARE``), a real daemon, real app servers, the stand-in behind a loopback edge."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pinokiocloud.config import Settings
from pinokiocloud.server import create_app
from pinokiocloud.share import ShareState
from pinokiocloud.share.probe import probe
from tests.share.conftest import run
from tests.share.edge import Edge, make_standin
from tests.share.origin import PAGE, Origin
from tests.share.test_manager import _manager, _settings

SLOW_S = 10.0
"""How long the slow stand-in waits before it reports its URL."""


async def _until(check: object, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (check() if callable(check) else check):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.slow
def test_a_slow_share_does_not_hold_up_another_apps_and_one_apps_shares_take_turns(tmp_path: Path) -> None:
    marker = tmp_path / "slow-once"

    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            manager = _manager(_settings(tmp_path, edge, STANDIN_DELAY_S=str(SLOW_S), STANDIN_SLOW_ONCE=str(marker)))
            try:
                slow = asyncio.create_task(manager.share("slow", origin.url, providers=["cloudflare"]))
                await _until(marker.exists)  # the slow app's client runs and waits
                loop = asyncio.get_running_loop()
                began = loop.time()
                fast = await manager.share("fast", origin.url, providers=["cloudflare"])
                assert fast.state is ShareState.ONLINE and loop.time() - began < SLOW_S / 2
                still = manager.get("slow")
                assert not slow.done() and still is not None and still.state is ShareState.STARTING

                # two shares of one app at once take turns: the second replaces the first, which is gone
                first_try, second_try = await asyncio.gather(
                    manager.share("fast", origin.url, providers=["cloudflare"], passcode="first-strong-pass-1"),
                    manager.share("fast", origin.url, providers=["cloudflare"], passcode="second-strong-pass-2"))
                current = manager.get("fast")
                assert current is not None and current.passcode == "second-strong-pass-2"
                assert current.local_url == second_try.local_url != first_try.local_url
                assert [s.app for s in manager.shares()].count("fast") == 1
                with pytest.raises(httpx.ConnectError):  # the first one's gateway was closed, not left open
                    httpx.get(first_try.local_url, timeout=3)
                assert first_try.client_pid is not None and first_try.client_pid != current.client_pid
                assert not _alive(first_try.client_pid)

                slow_info = await slow
                assert slow_info.state is ShareState.ONLINE
            finally:
                await manager.close()

    run(scenario())


@pytest.mark.slow
def test_remembered_shares_come_back_side_by_side(tmp_path: Path) -> None:
    delay_s = 4.0

    async def scenario() -> None:
        async with Origin() as origin, Edge() as edge:
            first = _manager(_settings(tmp_path, edge))
            for name in ("one", "two"):
                await first.share(name, origin.url, providers=["cloudflare"])
            await first.close()
            second = _manager(_settings(tmp_path, edge, STANDIN_DELAY_S=str(delay_s)))  # every client is slow now
            try:
                loop = asyncio.get_running_loop()
                began = loop.time()
                restored = await second.restore()
                took = loop.time() - began
                assert sorted(r.app for r in restored) == ["one", "two"]
                assert all(r.state is ShareState.ONLINE for r in restored)
                assert delay_s <= took < 2 * delay_s, took  # one after the other would take two delays
            finally:
                await second.close()

    run(scenario())


def test_shares_starting_together_get_a_gateway_port_each(tmp_path: Path) -> None:
    """From ``PINOKIOCLOUD_SHARE_PORT`` on, each share takes the next port no other share and no other program
    holds (here another program listens on the second one)."""
    base = _free_port()
    other = socket.socket()
    other.bind(("127.0.0.1", base + 1))
    other.listen()

    async def scenario() -> None:
        async with Origin() as origin:
            manager = _manager(_settings(tmp_path, None, PINOKIOCLOUD_SHARE_PORT=str(base)))
            try:
                shares = await asyncio.gather(*(manager.share(name, origin.url, providers=[])
                                                for name in ("one", "two", "three")))
                ports = sorted(int(s.local_url.rsplit(":", 1)[1]) for s in shares)
                assert len(set(ports)) == 3 and ports[0] >= base and base + 1 not in ports
                for info in shares:  # each gateway is its own, behind its own passcode
                    page = await probe(info.local_url + "/", headers={"Authorization": f"Bearer {info.passcode}"})
                    assert page.status == 200 and page.text == PAGE
            finally:
                await manager.close()

    try:
        run(scenario())
    finally:
        other.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---- through the daemon: share-on-local.set of two apps ----

SERVER = """
import http.server, socketserver
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = b"<h1>app</h1>"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
with socketserver.TCPServer(("127.0.0.1", 0), H) as d:
    print(f"Running on http://127.0.0.1:{d.server_address[1]}", flush=True)
    d.serve_forever()
"""
START = ("module.exports = { daemon: true, run: [{ method: 'shell.run', params: { message: 'python3 server.py', "
         "on: [{ event: '/http://[0-9.:]+/', done: true }] } }, { method: 'local.set', params: { url: "
         "'{{input.event[0]}}' } }] }")


class _EdgeThread:
    """The loopback edge on a loop of its own, for a test whose daemon runs in TestClient's thread."""

    def __enter__(self) -> Edge:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.edge = Edge()
        asyncio.run_coroutine_threadsafe(self.edge.__aenter__(), self.loop).result(10)
        return self.edge

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.edge.__aexit__(None, None, None), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def daemon(tmp_path: Path, node_modules: Path) -> Iterator[TestClient]:
    home = tmp_path / "pinokio"
    for name in ("slow", "fast"):
        app = home / "api" / name
        app.mkdir(parents=True)
        (app / "server.py").write_text(SERVER)
        (app / "pinokio.js").write_text("module.exports = { menu: [{ default: true, text: 'Start', href: 'start.js' }] }")
        (app / "start.js").write_text(START)
        (app / "ENVIRONMENT").write_text("PINOKIO_SHARE_CLOUDFLARE=true\n")  # the launcher asks to be shared
    with _EdgeThread() as edge:
        env = {"PINOKIO_HOME": str(home), "PATH": os.environ["PATH"], "PINOKIOCLOUD_NODE_MODULES": str(node_modules),
               "PINOKIOCLOUD_PORT": str(_free_port()), "PINOKIOCLOUD_PLATFORM": "local",
               "PINOKIOCLOUD_SHARE_PROVIDERS": "cloudflare",
               "PINOKIOCLOUD_CLOUDFLARED": str(make_standin(tmp_path / "bin", "cloudflared")),
               "PINOKIOCLOUD_SHARE_RESOLVE": edge.resolve, "STANDIN_DELAY_S": str(SLOW_S),
               "STANDIN_SLOW_ONCE": str(tmp_path / "slow-once")}
        settings = Settings.from_env(env)
        with TestClient(create_app(settings), base_url=f"http://127.0.0.1:{settings.port}") as client:
            client.headers["Authorization"] = f"Bearer {settings.token_file.read_text().strip()}"
            yield client


def _share_state(api: TestClient, name: str) -> str | None:
    answer = api.get(f"/api/apps/{name}/share")
    return str(answer.json()["state"]) if answer.status_code == 200 else None


@pytest.mark.slow
def test_one_apps_slow_local_set_share_does_not_hold_up_anothers(daemon: TestClient, tmp_path: Path) -> None:
    api = daemon
    api.post("/api/apps/slow/start")
    deadline = time.monotonic() + 30
    while not (tmp_path / "slow-once").exists():  # the slow app's share race has begun
        assert time.monotonic() < deadline, "the slow app's local.set did not start a share"
        time.sleep(0.05)
    api.post("/api/apps/fast/start")
    while _share_state(api, "fast") != "online":
        assert time.monotonic() < deadline, f"fast: {api.get('/api/apps/fast/share').json()}"
        time.sleep(0.1)
    assert _share_state(api, "slow") == "starting"  # still waiting for its tunnel, and fast did not wait for it
    while _share_state(api, "slow") != "online":
        assert time.monotonic() < deadline + SLOW_S, f"slow: {api.get('/api/apps/slow/share').json()}"
        time.sleep(0.1)
    gateways = [api.get(f"/api/apps/{name}/share").json()["local_url"] for name in ("slow", "fast")]
    assert all(httpx.get(url, timeout=5).status_code == 401 for url in gateways)  # behind the passcode
    for name in ("slow", "fast"):
        api.post(f"/api/apps/{name}/stop", json={})
    deadline = time.monotonic() + 20
    while _share_state(api, "slow") is not None or _share_state(api, "fast") is not None:
        assert time.monotonic() < deadline, "the shares of stopped apps were not removed"
        time.sleep(0.1)
    # gone from the list means ended: both gateways are closed and each share said so
    for url in gateways:
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)
    ended = [e["app"] for e in api.get("/api/shares/events").json()["data"] if e["kind"] == "stopped"]
    assert sorted(ended) == ["fast", "slow"]
