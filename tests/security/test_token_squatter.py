"""A program that takes the daemon's port while the daemon is down never receives the daemon's token: the
client sends it only to the process that holds the home's lock and listens on its port (issue 12)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from pinokiocloud.config import Settings
from pinokiocloud.server.daemon import read_or_create_token
from tests.helpers.cli import Cli

pytestmark = pytest.mark.slow


class _Squatter(http.server.BaseHTTPRequestHandler):
    """Answers everything like a healthy daemon of the right home would, and writes down what it was sent."""

    seen: ClassVar[list[str]] = []
    home: ClassVar[str] = ""

    def _answer(self) -> None:
        type(self).seen.append(f"{self.command} {self.path} {self.headers.get('Authorization', '')}")
        body = json.dumps({"ok": True, "home": type(self).home, "version": "0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def cli(tmp_path: Path, node_modules: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path / "pinokio", node_modules)
    yield runner
    runner.close()


def test_a_squatter_on_the_daemon_port_never_gets_the_token(cli: Cli) -> None:
    token = read_or_create_token(Settings.from_env(cli.env).token_file)  # as an earlier daemon left it
    _Squatter.seen, _Squatter.home = [], str(cli.home)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", cli.port), _Squatter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = cli("ls", timeout=60)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 2 and f"port {cli.port} is in use by another program" in done.stderr
    assert not any(token in line for line in _Squatter.seen), _Squatter.seen
    assert not any("Bearer" in line for line in _Squatter.seen), _Squatter.seen
