"""The daemon's OpenAPI document describes every answer, and the answers are what it says: a real daemon on
loopback (started by the real ``pinokiocloud``), its ``/openapi.json``, and its JSON read back through the
response models of ``server.models``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import TypeAdapter

from pinokiocloud.server.models import AppList, AppStatus, Health, Menu, RunList, SearchResult
from tests.helpers.cli import Cli, write_launcher

pytestmark = pytest.mark.slow

APP_KEYS = {"name", "path", "source", "state", "ready_url", "web_ui", "runs", "error", "autorestore", "restart",
            "pids", "ports", "cpu_percent", "rss_bytes", "gpu_memory_mb"}
"""The keys of an app's status as the API gave them before it had response models (clients read these)."""
RUN_KEYS = {"id", "key", "path", "uri", "state", "daemon", "step", "total", "error", "exit_code", "restarts",
            "caller", "started_at", "ended_at"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[tuple[Cli, httpx.Client]]:
    """A daemon with one app (``demo``) that ran its install script once."""
    root = tmp_path_factory.mktemp("openapi")
    cli = Cli(root / "pinokio", node_modules)
    launcher = write_launcher(root / "demo", {
        "install.js": 'module.exports = { run: [{ method: "fs.write", params: { path: "installed.txt", '
                      'text: "yes" } }] }',
        "start.js": 'module.exports = { run: [{ method: "log", params: { text: "hi" } }] }'})
    done = cli("install", str(launcher), "--name", "demo")
    assert done.returncode == 0, done.stdout + done.stderr
    token = (cli.home / "daemon.token").read_text().strip()
    with httpx.Client(base_url=f"http://127.0.0.1:{cli.port}", headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as http:
        yield cli, http
    cli.close()


def _resolve(schema: dict[str, object], components: dict[str, dict[str, object]]) -> dict[str, object]:
    ref = schema.get("$ref")
    return components[str(ref).rsplit("/", 1)[-1]] if isinstance(ref, str) else schema


def test_every_route_documents_its_answer_with_properties(daemon: tuple[Cli, httpx.Client]) -> None:
    _, http = daemon
    doc = http.get("/openapi.json").json()
    components = doc["components"]["schemas"]
    undocumented = []
    count = 0
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            count += 1
            ok = next((r for code, r in operation["responses"].items() if code.startswith("2")), {})
            contents = list((ok.get("content") or {}).values())
            schema = _resolve(contents[0].get("schema") or {}, components) if contents else {}
            if not schema.get("properties"):
                undocumented.append(f"{method.upper()} {path}")
    assert count >= 44, count  # every router is in the document (44 routes when this was written)
    assert not undocumented, undocumented
    events = doc["paths"]["/api/runs/{key}/events"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in events  # the stream says what it is, and each event's shape
    assert set(_resolve(events["text/event-stream"]["schema"], components)["properties"]) >= {"type", "seq", "data"}


def test_the_answers_are_the_documented_shapes_and_keep_their_keys(daemon: tuple[Cli, httpx.Client]) -> None:
    _, http = daemon
    apps = http.get("/api/apps").json()
    assert TypeAdapter(AppList).validate_python(apps, strict=True) == apps  # valid, and nothing converted
    assert apps["count"] == 1 and set(apps["data"][0]) == APP_KEYS
    assert set(apps["data"][0]["runs"][0]) == RUN_KEYS

    status = http.get("/api/apps/demo").json()
    assert TypeAdapter(AppStatus).validate_python(status, strict=True) == status
    assert set(status) == APP_KEYS | {"share"} and status["share"] is None
    assert status["runs"][0]["state"] == "done"

    menu = http.get("/api/apps/demo/menu").json()
    assert TypeAdapter(Menu).validate_python(menu, strict=True) == menu
    assert [(i["text"], i["kind"]) for i in menu["menu"]] == [("Start", "script"), ("Install", "script")]
    assert menu["meta"]["title"] == "Test"  # the launcher's own keys come through

    runs = http.get("/api/runs").json()
    assert TypeAdapter(RunList).validate_python(runs, strict=True) == runs
    found = http.get("/api/search", params={"q": "test"}).json()
    assert TypeAdapter(SearchResult).validate_python(found, strict=True) == found
    assert "demo" in [h["id"] for h in found["data"]]
    health = http.get("/health", params={"challenge": "abc"}).json()
    assert TypeAdapter(Health).validate_python(health, strict=True) == health
    assert set(health) == {"ok", "version", "proof", "home", "pid"}
    assert set(http.get("/health", headers={"Authorization": ""}).json()) == {"ok", "version"}
