"""The queue through the daemon's API (TestClient over a real Daemon): list, progress, cancel, the run's events."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pinokiocloud.config import Settings
from pinokiocloud.server import create_app
from tests.downloads.servers import File, FileServer, body

MB = 1_000_000


@pytest.fixture
def api(tmp_path: Path, node_modules: Path) -> Iterator[TestClient]:
    home = tmp_path / "pinokio"
    settings = dataclasses.replace(Settings.from_env({"PINOKIO_HOME": str(home), "PATH": "/usr/bin:/bin",
                                                      "PINOKIOCLOUD_NODE_MODULES": str(node_modules)}))
    with TestClient(create_app(settings), base_url=f"http://127.0.0.1:{settings.port}") as client:
        client.headers["Authorization"] = f"Bearer {settings.token_file.read_text().strip()}"
        yield client


def _wait_for(api: TestClient, check: Any, timeout: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data: list[dict[str, Any]] = api.get("/api/downloads").json()["data"]
        if check(data):
            return data
        time.sleep(0.05)
    raise AssertionError(f"timed out; last listing: {data}")


def test_a_running_download_is_listed_with_progress_and_can_be_cancelled(
        api: TestClient, srv: FileServer, tmp_path: Path) -> None:
    url = srv.add("/big.safetensors", File(body(6 * MB), rate_bps=MB))
    folder = tmp_path / "pinokio" / "api" / "dl"
    folder.mkdir(parents=True)
    (folder / "pinokio.js").write_text("module.exports = { title: 'D', menu: [] }")
    (folder / "get.js").write_text(f'module.exports = {{ run: [{{ method: "fs.download", '
                                   f'params: {{ uri: "{url}", dir: "models" }} }}] }}')
    run = api.post("/api/apps/dl/run", json={"script": "get.js"}).json()

    listing = _wait_for(api, lambda d: d and d[0]["state"] == "running" and d[0]["bytes"] > 0
                        and d[0]["eta_s"] is not None)
    [entry] = listing
    assert (entry["app"], entry["url"], entry["total"]) == ("dl", url, 6 * MB)
    assert entry["rate_bps"] > 0 and entry["path"].endswith("models/big.safetensors")

    cancelled = api.post(f"/api/downloads/{entry['id']}/cancel")
    assert cancelled.status_code == 200
    _wait_for(api, lambda d: d[0]["state"] == "cancelled")
    again = api.post(f"/api/downloads/{entry['id']}/cancel")
    assert again.status_code == 400 and "has already ended (cancelled)" in again.json()["error"]["message"]
    unknown = api.post("/api/downloads/d999/cancel")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "DownloadNotFoundError"

    with api.stream("GET", f"/api/runs/{run['key']}/events") as stream:
        events = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    downloads = [e["data"] for e in events if e["type"] == "download"]
    assert downloads[-1]["state"] == "cancelled" and any(d["bytes"] for d in downloads)
    failed = [r for r in api.get("/api/runs").json()["data"] if r["key"] == run["key"]]
    assert failed and "cancelled by the user" in str(failed[0].get("error"))
    assert (folder / "models" / "big.safetensors.partial").stat().st_size > 0  # kept for a resume
