"""DNS rebinding and anonymous callers: the daemon answers only requests addressed to 127.0.0.1:<port> or
localhost:<port>, and without its token it says no more than that it is alive."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from pinokiocloud.config import Settings
from pinokiocloud.server import create_app
from tests.security.conftest import Running


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[tuple[TestClient, str]]:
    home = tmp_path_factory.mktemp("host") / "pinokio"
    settings = Settings.from_env({"PINOKIO_HOME": str(home), "PATH": os.environ["PATH"],
                                  "PINOKIOCLOUD_NODE_MODULES": str(node_modules)})
    with TestClient(create_app(settings), base_url=f"http://127.0.0.1:{settings.port}") as client:
        yield client, settings.token_file.read_text().strip()


@pytest.mark.parametrize("host", ["evil.com", "evil.com:42000", "127.0.0.1.nip.io:42000", "127.0.0.1:1",
                                  "localhost", ""])
def test_a_foreign_host_header_gets_nothing_even_with_the_token(api: tuple[TestClient, str], host: str) -> None:
    client, token = api
    for path in ("/health", "/docs", "/openapi.json", "/api/apps", "/api/settings"):
        answer = client.get(path, headers={"Host": host, "Authorization": f"Bearer {token}"})
        assert answer.status_code == 421, (host, path, answer.status_code)
        assert token not in answer.text and "version" not in answer.text and "pinokio" not in answer.text.lower()


def test_loopback_names_are_answered(api: tuple[TestClient, str]) -> None:
    client, token = api
    port = client.base_url.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        assert client.get("/api/apps", headers={"Host": host, "Authorization": f"Bearer {token}"}).status_code == 200


def test_health_without_the_token_is_liveness_only(api: tuple[TestClient, str], tmp_path: Path) -> None:
    client, token = api
    anonymous = client.get("/health").json()
    assert set(anonymous) == {"ok", "version"} and anonymous["ok"] is True
    owner = client.get("/health", headers={"Authorization": f"Bearer {token}"}).json()
    assert owner["home"].endswith("pinokio") and owner["pid"] == os.getpid()
    assert set(client.get("/health", headers={"Authorization": "Bearer wrong"}).json()) == {"ok", "version"}
    # a client can check it talks to its own daemon without handing the token over
    proof = client.get("/health", params={"challenge": "n0nce"}).json()["proof"]
    assert proof == hmac.new(token.encode(), b"n0nce", hashlib.sha256).hexdigest()


def test_the_api_schema_and_docs_need_the_token(api: tuple[TestClient, str]) -> None:
    client, token = api
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, params={"token": "wrong"}).status_code == 401, path
    assert "/api/apps" in client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()["paths"]
    page = client.get("/docs", params={"token": token})
    assert page.status_code == 200 and f"/openapi.json?token={token}" in page.text  # the page's own fetch works
    assert client.get("/redoc", params={"token": token}).status_code == 200


def test_the_real_daemon_refuses_a_rebound_name(running: Running) -> None:
    answer = httpx.get(f"{running.url}/health", headers={"Host": "evil.com"}, timeout=5)
    assert answer.status_code == 421 and "home" not in answer.text
    assert httpx.get(f"{running.url}/health", timeout=5).json().keys() == {"ok", "version"}
