"""Sharing through the daemon: an app's web UI behind the passcode gateway. The only tunnel provider
allowed here points at a closed loopback port, so the share falls back to the local gateway URL
(tunnels themselves are tested end to end in tests/share/)."""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pinokiocloud.config import Settings
from pinokiocloud.server import create_app

SERVER = """
import http.server, socketserver
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = b"<h1>shared app</h1>" if self.path in ("/", "/?") else b"not here"
        self.send_response(200 if self.path in ("/", "/?") else 404)
        self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
with socketserver.TCPServer(("127.0.0.1", 0), H) as d:
    print(f"Running on http://127.0.0.1:{d.server_address[1]}", flush=True)
    d.serve_forever()
"""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def api(tmp_path: Path, node_modules: Path) -> Iterator[TestClient]:
    home = tmp_path / "pinokio"
    app = home / "api" / "web"
    app.mkdir(parents=True)
    (app / "server.py").write_text(SERVER)
    (app / "pinokio.js").write_text("module.exports = { menu: [{ default: true, text: 'Start', href: 'start.js' }] }")
    (app / "start.js").write_text(
        "module.exports = { daemon: true, run: [{ method: 'shell.run', params: { message: 'python3 server.py', "
        "on: [{ event: '/http://[0-9.:]+/', done: true }] } }, { method: 'local.set', params: { url: "
        "'{{input.event[0]}}' } }] }")
    env = {"PINOKIO_HOME": str(home), "PATH": os.environ["PATH"], "PINOKIOCLOUD_NODE_MODULES": str(node_modules),
           "PINOKIOCLOUD_SHARE_PROVIDERS": "ssh", "PINOKIOCLOUD_SSH_TARGET": "nobody@127.0.0.1",
           "PINOKIOCLOUD_SSH_PORT": str(_closed_port())}
    settings = dataclasses.replace(Settings.from_env(env))
    with TestClient(create_app(settings), base_url=f"http://127.0.0.1:{settings.port}") as client:
        client.headers["Authorization"] = f"Bearer {settings.token_file.read_text().strip()}"
        yield client


def _online(api: TestClient, name: str) -> None:
    deadline = time.monotonic() + 30
    while api.get(f"/api/apps/{name}").json()["state"] != "online":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_an_app_is_shared_behind_the_passcode_and_unshared_when_it_stops(api: TestClient) -> None:
    assert api.get("/api/apps/web/share").status_code == 404
    refused = api.post("/api/apps/web/share", json={})
    assert refused.status_code == 400 and "is not running" in refused.json()["error"]["message"]

    api.post("/api/apps/web/start")
    _online(api, "web")
    info = api.post("/api/apps/web/share", json={"passcode": "open-sesame"}).json()
    assert info["public_url"] is None and info["state"] == "local-only"  # the one tunnel cannot be reached
    assert "ssh" in str(info["attempts"])
    gateway = info["local_url"]
    assert httpx.get(gateway, timeout=10).status_code == 401
    assert httpx.get(gateway, auth=("any", "wrong"), timeout=10).status_code == 401
    page = httpx.get(gateway, auth=("any", "open-sesame"), timeout=10)
    assert page.status_code == 200 and "shared app" in page.text
    assert info["qr_png_base64"]
    assert [s["app"] for s in api.get("/api/shares").json()["data"]] == ["web"]

    api.post("/api/apps/web/stop", json={})
    deadline = time.monotonic() + 15
    while api.get("/api/apps/web/share").status_code != 404:
        assert time.monotonic() < deadline, "the share of a stopped app was not removed"
        time.sleep(0.1)


def test_status_reports_the_detected_web_ui(api: TestClient) -> None:
    api.post("/api/apps/web/start")
    _online(api, "web")
    status = api.get("/api/apps/web").json()
    assert status["web_ui"]["url"] == status["ready_url"] and status["web_ui"]["source"] == "local.url"
    assert status["web_ui"]["kind"] == "http"  # a plain HTTP server, not one of the known app servers
    api.post("/api/apps/web/stop", json={})
