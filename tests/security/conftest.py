"""One real daemon (``pinokiocloud serve``) with its dashboard up, for the security tests: its environment
carries an ngrok token that must reach no app, and its home holds a small web app to share."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.dashboard import Daemon, daemon_env, free_port

ENV_NGROK_TOKEN = "ngrok-token-from-the-environment-7d1f"
WEB_SERVER = """
import http.server, socketserver
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = b"<h1>shared app</h1>"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
with socketserver.TCPServer(("127.0.0.1", 0), H) as d:
    print(f"Running on http://127.0.0.1:{d.server_address[1]}", flush=True)
    d.serve_forever()
"""


@dataclass
class Running:
    daemon: Daemon
    token: str
    ui: dict[str, Any]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.daemon.port}"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.url + path, headers={"Authorization": f"Bearer {self.token}"},
                             timeout=60, **kwargs)


def write_apps(home: Path) -> None:
    """``web`` (a server whose URL becomes its web UI) and ``envdump`` (writes its shell's environment)."""
    web = home / "api" / "web"
    web.mkdir(parents=True)
    (web / "server.py").write_text(WEB_SERVER)
    (web / "pinokio.js").write_text("module.exports = { menu: [{ default: true, text: 'Start', href: 'start.js' }] }")
    (web / "start.js").write_text(
        "module.exports = { daemon: true, run: [{ method: 'shell.run', params: { message: 'python3 server.py', "
        "on: [{ event: '/http://[0-9.:]+/', done: true }] } }, { method: 'local.set', params: { url: "
        "'{{input.event[0]}}' } }] }")
    dump = home / "api" / "envdump"
    dump.mkdir(parents=True)
    (dump / "pinokio.js").write_text("module.exports = { menu: [{ default: true, text: 'Dump', href: 'dump.js' }] }")
    (dump / "dump.js").write_text("module.exports = { run: [{ method: 'shell.run', params: { message: "
                                  "'env > env.txt' } }] }")


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[Running]:
    home = tmp_path_factory.mktemp("security") / "pinokio"
    write_apps(home)
    env = {**daemon_env(home, node_modules), "PINOKIOCLOUD_UI_PORT": str(free_port()),
           "NGROK_AUTHTOKEN": ENV_NGROK_TOKEN}
    daemon = Daemon(home, int(env["PINOKIOCLOUD_PORT"]), env)
    daemon.start()
    try:
        with daemon.client() as client:
            client.ensure_daemon()  # it answers (start() returns once the daemon holds the home's lock)
        token = daemon.settings.token_file.read_text().strip()
        ui = httpx.post(f"http://127.0.0.1:{daemon.port}/api/ui", headers={"Authorization": f"Bearer {token}"},
                        timeout=90)
        assert ui.status_code == 200, ui.text
        yield Running(daemon, token, ui.json())
    finally:
        daemon.stop()
