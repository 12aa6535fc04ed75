from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.downloads.servers import FileServer
from tests.helpers.http_server import LocalHTTPServer


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    """A real HTTP server on 127.0.0.1 and a free port, stopped after the test."""
    srv = LocalHTTPServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def srv() -> Iterator[FileServer]:
    """The CDN-like file server of tests/downloads/servers.py on 127.0.0.1, stopped after the test."""
    server = FileServer().start()
    yield server
    server.stop()
