"""App status comes from one background sampler, yet a read never lags what happened to the app: a start,
a stop or a crash shows in the very next ``GET /api/apps``, without waiting for the next sample."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pinokiocloud.config import Settings
from pinokiocloud.server import create_app
from pinokiocloud.server.daemon import Daemon

SERVER = ("import http.server as h, socketserver as s\n"
          "class H(h.SimpleHTTPRequestHandler):\n    def log_message(self, *a): pass\n"
          "with s.TCPServer(('127.0.0.1', 0), H) as d:\n"
          "    print(f'Running on http://127.0.0.1:{d.server_address[1]}', flush=True); d.serve_forever()\n")
START = ("module.exports = { daemon: true, run: [{ method: 'shell.run', params: { message: 'python3 server.py', "
         "on: [{ event: '/http://[0-9.:]+/', done: true }] } }, "
         "{ method: 'local.set', params: { url: '{{input.event[0]}}' } }] }")


@pytest.fixture
def api(tmp_path: Path, node_modules: Path) -> Iterator[TestClient]:
    home = tmp_path / "pinokio"
    for name in ("web", "idle"):
        folder = home / "api" / name
        folder.mkdir(parents=True)
        (folder / "pinokio.js").write_text("module.exports = { title: 'T', menu: [{ default: true, text: 'Start', "
                                           "href: 'start.js' }] }")
        (folder / "start.js").write_text(START)
        (folder / "server.py").write_text(SERVER)
    settings = dataclasses.replace(Settings.from_env({"PINOKIO_HOME": str(home), "PATH": os.environ["PATH"],
                                                      "PINOKIOCLOUD_NODE_MODULES": str(node_modules)}))
    with TestClient(create_app(settings), base_url=f"http://127.0.0.1:{settings.port}") as client:
        client.headers["Authorization"] = f"Bearer {settings.token_file.read_text().strip()}"
        yield client


def _daemon(api: TestClient) -> Daemon:
    daemon: Daemon = api.app.state.daemon  # type: ignore[attr-defined]
    return daemon


def _listed(api: TestClient) -> dict[str, dict[str, object]]:
    return {a["name"]: a for a in api.get("/api/apps").json()["data"]}


def _wait(api: TestClient, name: str, state: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while (app := _listed(api)[name])["state"] != state:
        assert time.monotonic() < deadline, app
        time.sleep(0.05)
    return app


def _hold_samples(api: TestClient) -> int:
    """No more background samples from now on (the loop sleeps an hour after the one in progress)."""
    sampler = _daemon(api).apps.sampler
    sampler.interval_s = 3600
    seen = sampler.samples
    deadline = time.monotonic() + 10
    while sampler.samples == seen:  # the sample that starts the hour-long pause
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return sampler.samples


@pytest.mark.slow
def test_start_stop_and_a_crash_show_in_the_next_read_without_a_new_sample(api: TestClient) -> None:
    samples = _hold_samples(api)
    assert _listed(api)["web"]["state"] == "offline"
    api.post("/api/apps/web/start").raise_for_status()
    assert _listed(api)["web"]["state"] == "starting"  # at once: the run's start event marked the app
    online = _wait(api, "web", "online")
    assert online["ready_url"] and online["runs"][0]["state"] == "idle"  # type: ignore[index]
    pids = online["pids"]
    assert isinstance(pids, list) and pids  # usage is in the list too now, not only in /api/apps/NAME

    os.kill(pids[-1], signal.SIGKILL)  # the server dies on its own
    deadline = time.monotonic() + 10
    while (state := _listed(api)["web"]["state"]) == "online":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert state == "crashed"
    assert api.get("/api/apps/web").json()["state"] == "crashed"

    api.post("/api/apps/web/start").raise_for_status()
    _wait(api, "web", "online")
    api.post("/api/apps/web/stop", json={}).raise_for_status()
    stopped = _listed(api)["web"]
    assert stopped["state"] == "offline" and stopped["pids"] == [] and stopped["ready_url"] is None
    assert _listed(api)["idle"]["state"] == "offline"
    assert _daemon(api).apps.sampler.samples == samples  # all of it without one background sample


@pytest.mark.slow
def test_many_reads_share_one_sample_and_report_real_usage(api: TestClient) -> None:
    api.post("/api/apps/web/start").raise_for_status()
    _wait(api, "web", "online")
    samples = _hold_samples(api)
    seen = [_listed(api)["web"] for _ in range(200)]
    assert all(s == seen[0] for s in seen)  # nothing changed: every read is the same sampled status
    assert seen[0]["rss_bytes"] > 1_000_000 and seen[0]["ports"]  # type: ignore[operator]
    assert seen[0]["web_ui"] is not None  # detected once, by the sampler, for every reader
    detail = api.get("/api/apps/web").json()
    assert {k: v for k, v in detail.items() if k != "share"} == seen[0]
    assert _daemon(api).apps.sampler.samples == samples


@pytest.mark.slow
def test_a_setting_changed_through_the_api_shows_at_once(api: TestClient) -> None:
    _hold_samples(api)
    assert _listed(api)["idle"]["restart"] == "no"
    api.patch("/api/apps/idle", json={"restart": "on-failure", "autorestore": False}).raise_for_status()
    assert api.get("/api/apps/idle").json()["autorestore"] is False
    listed = _listed(api)["idle"]
    assert listed["restart"] == "on-failure" and listed["autorestore"] is False


HANGS = ("import os, socket, time\n"
         "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
         "print(f'Running on http://127.0.0.1:{s.getsockname()[1]}', flush=True)\n"
         "while not os.path.exists('hang'): time.sleep(0.05)\n"
         "s.close()\n"
         "while True: time.sleep(1)\n")


@pytest.mark.slow
def test_a_server_that_stops_listening_is_not_online_after_the_next_sample(api: TestClient, tmp_path: Path) -> None:
    folder = tmp_path / "pinokio" / "api" / "idle"
    (folder / "server.py").write_text(HANGS)
    api.post("/api/apps/idle/start").raise_for_status()
    _wait(api, "idle", "online")
    (folder / "hang").touch()  # its process lives on, but nothing answers on its port any more
    took = time.monotonic()
    app = _wait(api, "idle", "starting", timeout=10)
    assert time.monotonic() - took < 5 and app["pids"]  # a sample or two later; still its process
