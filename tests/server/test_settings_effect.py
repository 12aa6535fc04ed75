"""Every setting the API and the dashboard accept changes what the daemon does next (not just what it says
back): the share provider tried first, the ngrok token the ngrok agent gets, the Hugging Face token app shells
read. The tunnels are the cloudflared and ngrok STAND-INS (tests/share/standins), reached through a loopback
edge, so nothing leaves the machine."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient

from pinokiocloud.config import Settings
from pinokiocloud.server import create_app
from tests.security.conftest import write_apps
from tests.share.edge import Edge, make_standin


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    """The stand-ins' public hostnames, routed on a loop of its own (the daemon's runs in TestClient's thread)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    the_edge = Edge()
    asyncio.run_coroutine_threadsafe(the_edge.__aenter__(), loop).result(10)
    yield the_edge
    asyncio.run_coroutine_threadsafe(the_edge.__aexit__(None, None, None), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, node_modules: Path, edge: Edge) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("settings") / "pinokio"
    write_apps(home)
    bin_dir = home.parent / "standin-bin"
    env = {"PINOKIO_HOME": str(home), "PATH": os.environ["PATH"], "PINOKIOCLOUD_NODE_MODULES": str(node_modules),
           "PINOKIOCLOUD_SHARE_PROVIDERS": "cloudflare,ngrok",
           "PINOKIOCLOUD_CLOUDFLARED": str(make_standin(bin_dir, "cloudflared")),
           "PINOKIOCLOUD_NGROK": str(make_standin(bin_dir, "ngrok")), "PINOKIOCLOUD_SHARE_RESOLVE": edge.resolve}
    settings = Settings.from_env(env)
    with TestClient(create_app(settings), base_url=f"http://127.0.0.1:{settings.port}") as client:
        client.headers["Authorization"] = f"Bearer {settings.token_file.read_text().strip()}"
        client.post("/api/apps/web/start")
        deadline = time.monotonic() + 60
        while client.get("/api/apps/web").json()["state"] != "online":
            assert time.monotonic() < deadline, "the web app never came online"
            time.sleep(0.1)
        yield client


def _share(api: TestClient) -> dict[str, Any]:
    api.delete("/api/apps/web/share")
    answer = api.post("/api/apps/web/share", json={})
    assert answer.status_code == 200, answer.text
    info: dict[str, Any] = answer.json()
    return info


def test_the_default_provider_is_what_a_later_share_tries_first(api: TestClient) -> None:
    first = _share(api)
    assert first["provider"] == "cloudflare" and first["state"] == "online"  # the configured order
    assert api.patch("/api/settings", json={"share_provider": "ngrok", "ngrok_authtoken": "tok-from-settings"}
                     ).json()["share_order"][:2] == ["ngrok", "cloudflare"]
    second = _share(api)
    assert second["provider"] == "ngrok" and second["state"] == "online"
    agent = psutil.Process(second["client_pid"]).environ()
    assert agent["NGROK_AUTHTOKEN"] == "tok-from-settings"  # the saved token is what the agent runs with
    assert api.patch("/api/settings", json={"share_provider": ""}).json()["share_provider"] is None
    third = _share(api)
    assert third["provider"] == "cloudflare"
    assert "NGROK_AUTHTOKEN" not in psutil.Process(third["client_pid"]).environ()  # cloudflared never sees it
    api.delete("/api/apps/web/share")


def test_a_changed_ngrok_token_is_the_one_the_next_agent_gets(api: TestClient) -> None:
    api.patch("/api/settings", json={"share_provider": "ngrok", "ngrok_authtoken": "bad"})  # the stand-in refuses it
    refused = _share(api)
    assert refused["provider"] == "cloudflare"
    assert refused["attempts"][0]["provider"] == "ngrok"
    assert str(refused["attempts"][0]["reason"]).startswith("authentication failed")
    api.patch("/api/settings", json={"ngrok_authtoken": "good-again"})
    accepted = _share(api)
    assert accepted["provider"] == "ngrok"
    assert psutil.Process(accepted["client_pid"]).environ()["NGROK_AUTHTOKEN"] == "good-again"
    api.patch("/api/settings", json={"share_provider": ""})
    api.delete("/api/apps/web/share")


def test_an_unknown_provider_is_refused_and_nothing_changes(api: TestClient) -> None:
    before = api.get("/api/settings").json()
    answer = api.patch("/api/settings", json={"share_provider": "ngrokk"})
    assert answer.status_code == 400 and "did you mean 'ngrok'?" in answer.json()["error"]["message"]
    assert api.get("/api/settings").json() == before


def test_the_hf_token_is_what_app_shells_read_and_persist_says_it_is_not_used_yet(api: TestClient,
                                                                                    tmp_path: Path) -> None:
    home = Path(api.get("/health").json()["home"])
    api.patch("/api/settings", json={"hf_token": "hf_from_settings"})
    dump = home / "api" / "envdump" / "env.txt"
    (home / "api" / "envdump" / "dump.js").write_text(
        "module.exports = { run: [{ method: 'shell.run', params: { message: 'cat \"$HF_TOKEN_PATH\" > env.txt' } }] }")
    api.post("/api/apps/envdump/run", json={})
    deadline = time.monotonic() + 30
    while not dump.is_file() or not dump.read_text():
        assert time.monotonic() < deadline, "the app's shell did not read the token file"
        time.sleep(0.1)
    assert dump.read_text() == "hf_from_settings"
    folder = tmp_path / "drive"
    folder.mkdir()
    settings = api.patch("/api/settings", json={"persist": str(folder)}).json()
    assert settings["persist"] == str(folder) and settings["persist_in_use"] is False
