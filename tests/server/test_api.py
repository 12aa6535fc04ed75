"""The daemon's HTTP API in-process (FastAPI TestClient over a real Daemon): auth, errors, runs, SSE."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typing_extensions
from fastapi.testclient import TestClient

from pinokiocloud.apps.catalog import CatalogEntry
from pinokiocloud.config import Settings
from pinokiocloud.downloads.queue import QueuedDownload
from pinokiocloud.kernel.events import RunEvent
from pinokiocloud.platform.report import MachineReport
from pinokiocloud.server import create_app, models
from pinokiocloud.share.manager import ShareEvent, ShareInfo
from pinokiocloud.store import blobs
from pinokiocloud.store.restore import AppRestore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "launcher"


@pytest.fixture
def api(tmp_path: Path, node_modules: Path) -> Iterator[TestClient]:
    home = tmp_path / "pinokio"
    settings = dataclasses.replace(Settings.from_env({"PINOKIO_HOME": str(home), "PATH": "/usr/bin:/bin",
                                                      "PINOKIOCLOUD_NODE_MODULES": str(node_modules)}))
    with TestClient(create_app(settings), base_url=f"http://127.0.0.1:{settings.port}") as client:
        client.headers["Authorization"] = f"Bearer {settings.token_file.read_text().strip()}"
        yield client


def _app(home: Path, name: str, scripts: dict[str, str]) -> None:
    folder = home / "api" / name
    folder.mkdir(parents=True)
    (folder / "pinokio.js").write_text("module.exports = { title: 'T', menu: [{ default: true, text: 'Go', "
                                       "href: 'go.js?mode=fast&x=1&x=2' }] }")
    for script, text in scripts.items():
        (folder / script).write_text(text)


def test_health_needs_no_token_and_everything_else_does(api: TestClient, tmp_path: Path) -> None:
    assert api.get("/health", headers={"Authorization": ""}).json()["ok"] is True
    assert api.get("/api/apps", headers={"Authorization": ""}).status_code == 401
    assert api.get("/api/apps", headers={"Authorization": "Bearer wrong"}).status_code == 401
    token_file = tmp_path / "pinokio" / "daemon.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert api.get("/api/apps").json() == {"data": [], "count": 0}
    assert api.get("/docs").status_code == 200


def test_malformed_bodies_get_422_with_a_message(api: TestClient) -> None:
    response = api.post("/api/apps", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "not valid" in response.json()["error"]["message"]
    response = api.post("/api/apps", json={"name": "x"})
    assert response.status_code == 422 and "src" in response.json()["error"]["message"]


def test_user_errors_are_4xx_with_type_and_message(api: TestClient) -> None:
    response = api.get("/api/apps/nope")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "AppNotFoundError"
    response = api.post("/api/apps", json={"src": "not-a-thing-anywhere"})
    assert response.status_code == 400 and response.json()["error"]["type"] == "InstallError"


def test_menu_params_become_args_and_two_starts_make_one_run(api: TestClient, tmp_path: Path) -> None:
    home = tmp_path / "pinokio"
    _app(home, "p", {"go.js": "module.exports = { daemon: true, run: [{ method: 'local.set', params: { args: "
                                "'{{JSON.stringify(args)}}' } }, { method: 'process.wait' }] }"})
    first = api.post("/api/apps/p/start").json()
    second = api.post("/api/apps/p/start").json()
    assert first["key"] == second["key"]  # the second client attaches to the same run
    deadline = time.monotonic() + 10
    while api.get("/api/apps/p").json()["state"] != "starting" and time.monotonic() < deadline:
        time.sleep(0.05)
    status = api.get("/api/apps/p").json()
    assert status["state"] == "starting" and len(status["runs"]) == 1
    app_runs = [r for r in api.get("/api/runs").json()["data"] if r["key"] == first["key"]]
    assert len(app_runs) == 1
    stopped = api.post("/api/apps/p/stop", json={}).json()
    assert [r["state"] for r in stopped["stopped"]] == ["stopped"]


def test_input_is_answered_through_the_api_and_events_stream(api: TestClient, tmp_path: Path) -> None:
    home = tmp_path / "pinokio"
    _app(home, "q", {"ask.js": "module.exports = { run: [{ method: 'input', params: { title: 'Name?', form: "
                                "[{ key: 'name' }] } }, { method: 'log', params: { text: 'hi {{input.name}}' } }] }"})
    run = api.post("/api/apps/q/run", json={"script": "ask.js", "interactive": True}).json()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = api.post(f"/api/runs/{run['key']}/input", json={"values": {"name": "ada"}})
        if response.status_code == 200:
            break
        time.sleep(0.05)
    assert response.status_code == 200
    with api.stream("GET", f"/api/runs/{run['key']}/events") as stream:
        events = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    kinds = [e["type"] for e in events]
    assert "input" in kinds and kinds[-1] == "stop"
    assert any(e["type"] == "stream" and e["data"]["raw"] == "hi ada\r\n" for e in events)
    logs = api.get("/api/apps/q/logs").json()["lines"]
    assert logs[-1] == "hi ada"


def test_remove_deletes_the_folder(api: TestClient, tmp_path: Path) -> None:
    home = tmp_path / "pinokio"
    shutil.copytree(FIXTURE, home / "api" / "fx")
    assert api.delete("/api/apps/fx").json() == {"name": "fx", "removed": True}
    assert not (home / "api" / "fx").exists()


def test_search_ranks_installed_apps_and_the_catalog(api: TestClient, tmp_path: Path) -> None:
    home = tmp_path / "pinokio"
    folder = home / "api" / "mycomfy"
    folder.mkdir(parents=True)
    (folder / "pinokio.json").write_text('{"title": "My Comfy", "description": "node based image workflows"}')
    (folder / "install.js").write_text("module.exports = { run: [{ method: 'log', params: { text: 'x' } }] }")
    hits = api.get("/api/search", params={"q": "comfy"}).json()["data"]
    ids = [(h["id"], h["source"]) for h in hits]
    assert ("mycomfy", "installed") in ids and ("comfyui", "catalog") in ids
    everything = api.get("/api/search").json()
    assert everything["count"] >= 9  # the installed app and every catalog entry
    catalog = api.get("/api/catalog").json()
    assert {"comfyui", "facefusion", "bria-rmbg"} <= {e["id"] for e in catalog["data"]}


def test_autorestore_can_be_turned_off_per_app_and_globally(api: TestClient, tmp_path: Path) -> None:
    home = tmp_path / "pinokio"
    shutil.copytree(FIXTURE, home / "api" / "fx")
    assert api.patch("/api/apps/fx", json={"autorestore": False}).json()["autorestore"] is False
    assert api.patch("/api/settings", json={"autorestore": False}).json()["autorestore"] is False
    assert api.get("/api/settings").json()["autorestore"] is False
    assert api.patch("/api/apps/nope", json={"autorestore": False}).status_code == 404


def test_settings_mask_tokens_and_write_the_hf_token_for_app_shells(api: TestClient, tmp_path: Path) -> None:
    changed = api.patch("/api/settings", json={"hf_token": "hf_abcdefghijkl", "share_provider": "ssh"}).json()
    assert changed["hf_token"] == "hf_a…kl" and changed["share_provider"] == "ssh"
    token_file = tmp_path / "pinokio" / "cache" / "HF_AUTH" / "token"
    assert token_file.read_text() == "hf_abcdefghijkl" and token_file.stat().st_mode & 0o777 == 0o600
    bad = api.patch("/api/settings", json={"persist": str(tmp_path / "no-such-drive")})
    assert bad.status_code == 400 and "is not a folder" in bad.json()["error"]["message"]


def test_live_readings_for_charts(api: TestClient) -> None:
    live = api.get("/api/system/live").json()
    assert live["memory"]["total"] > 0 and live["disk"]["free"] > 0 and isinstance(live["gpus"], list)


def test_every_run_keeps_its_own_final_state(api: TestClient, tmp_path: Path) -> None:
    home = tmp_path / "pinokio"
    _app(home, "d", {"serve.js": "module.exports = { daemon: true, run: [{ method: 'process.wait' }] }"})
    first = api.post("/api/apps/d/run", json={"script": "serve.js"}).json()
    api.post("/api/apps/d/stop", json={})
    second = api.post("/api/apps/d/run", json={"script": "serve.js"}).json()
    assert first["key"] != second["key"]
    time.sleep(0.6)  # the store is written in batches
    states = {r["key"]: r["state"] for r in api.get("/api/runs").json()["data"]}
    assert states[first["key"]] == "stopped" and states[second["key"]] in ("running", "starting")
    assert api.get(f"/api/runs/{first['key']}").json()["state"] == "stopped"
    api.post("/api/apps/d/stop", json={})


def test_the_system_report_is_the_doctor_report_with_tool_origins(api: TestClient) -> None:
    # the dashboard's System page reads this: tools as an app shell finds them, and where each comes from
    report = api.get("/api/system").json()
    assert report["tool_origins"]["conda"] and report["tool_origins"]["uv"]
    assert {"conda", "uv", "node"} <= {t["name"] for t in report["tools"] if t.get("path")}
    assert "persistent_root" in report["paths"] and report["processes"]["how"]


def test_the_catalog_says_what_each_bundle_holds(api: TestClient) -> None:
    entries = {e["id"]: e for e in api.get("/api/catalog").json()["data"]}
    assert "ffmpeg" in {c for t in entries["comfyui"]["bundle_tools"] for c in t["commands"]}
    assert entries["automatic1111"]["bundle_tools"] == []


def _paths(value: object, at: str = "") -> set[str]:
    """Every key path in a JSON value (``.runs[].state``), to compare shapes, not readings."""
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in {f"{at}.{k}", *_paths(v, f"{at}.{k}")}}
    if isinstance(value, list):
        return {p for v in value for p in _paths(v, f"{at}[]")}
    return set()


def test_no_key_the_daemon_builds_is_lost_on_the_way_out(api: TestClient, tmp_path: Path) -> None:
    """The response models name every key: what the daemon's code puts in an answer is what the client gets
    (a key added to a builder but not to server/models.py would be dropped without a word)."""
    from pinokiocloud.server.routes import system

    _app(tmp_path / "pinokio", "p", {"go.js": "module.exports = { daemon: true, run: [{ method: 'shell.run', "
                                              "params: { message: 'python3 -u -m http.server 0' } }] }"})
    run = api.post("/api/apps/p/start").json()
    daemon, call = api.app.state.daemon, api.portal.call
    deadline = time.monotonic() + 10
    while not api.get("/api/apps/p").json()["pids"] and time.monotonic() < deadline:
        time.sleep(0.1)
    live = daemon.runner.by_key[run["key"]]
    built: dict[str, object] = {
        "/api/apps/p": {**call(daemon.apps.status, "p"), "share": None},
        "/api/apps": {"data": call(daemon.apps.all_status), "count": 1},
        "/api/apps/p/menu": call(daemon.apps.menu, "p"),
        f"/api/runs/{run['key']}": live.summary(),
        f"/api/runs/{run['key']}/usage": {"key": run["key"], **call(daemon.runner.usage, live.id)},
        "/api/ui": daemon.ui.info(),
        "/api/settings": call(system.get_settings, daemon),
        "/api/system": call(system.system, daemon),
        "/api/store": {**daemon.persistence.info(), "usage": {}},
        "/api/catalog": call(system.catalog, daemon),
    }
    for path, raw in built.items():
        served = api.get(path).json()
        if path == "/api/store":
            served["usage"] = {}
        lost = _paths(json.loads(json.dumps(raw, default=str))) - _paths(served)
        assert not lost, f"{path} lost {sorted(lost)}: name them in server/models.py"
    api.post("/api/apps/p/stop", json={})


@pytest.mark.parametrize(("source", "model", "computed"), [
    (ShareInfo, models.ShareInfo, {"url", "token_url", "is_healthy", "qr_png_base64"}),
    (ShareEvent, models.ShareEvent, set()),
    (QueuedDownload, models.Download, {"percent"}),
    (AppRestore, models.RestoreProgress, {"line"}),
    (blobs.BlobInfo, models.BlobInfo, set()),
    (blobs.StoreUsage, models.StoreUsage, {"saved_bytes"}),
    (blobs.GcResult, models.GcResult, set()),
    (blobs.VerifyProblem, models.VerifyProblem, set()),
    (MachineReport, models.MachineReport, {"paths"}),
    (RunEvent, models.RunEvent, set()),
    (CatalogEntry, models.CatalogEntry, {"bundle_tools"}),
], ids=lambda v: getattr(v, "__name__", ""))
def test_each_answer_model_names_the_fields_of_what_it_is_made_from(source: type, model: type,
                                                                   computed: set[str]) -> None:
    """Answers made from these dataclasses (``to_json``/``to_dict``/``asdict``) keep every field: a field added
    to one of them must be named in server/models.py too, or the response model would drop it."""
    fields = {f.name for f in dataclasses.fields(source)} - ({"origin"} if source is CatalogEntry else set())
    assert fields | computed == set(typing_extensions.get_type_hints(model))
