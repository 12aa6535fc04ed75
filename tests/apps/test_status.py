"""The state rule and the status record's JSON: one state per app, and the keys clients have always read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinokiocloud.apps.status import AppState, AppStatus, AppUsage, app_state, ready_url
from pinokiocloud.kernel.runner import Run, RunState

KEYS_BEFORE_THE_SPLIT = ["name", "path", "source", "state", "ready_url", "web_ui", "runs", "error", "autorestore",
                         "restart", "pids", "ports", "cpu_percent", "rss_bytes", "gpu_memory_mb"]


def _run(state: RunState, *, daemon: bool = True, name: str = "start.js", caller: str | None = None) -> Run:
    return Run(id=f"/home/api/app/{name}", path=Path(f"/home/api/app/{name}"), uri=name, cwd=Path("/home/api/app"),
               action="run", args={}, state=state, daemon=daemon, caller=caller)


def test_status_json_keeps_the_keys_and_order_the_api_always_had() -> None:
    status = AppStatus(name="a", path="/h/api/a", source=None, state=AppState.ONLINE, ready_url="http://127.0.0.1:1",
                       web_ui=None, runs=(), error=None, autorestore=True, restart="no",
                       usage=AppUsage((1, 2), (7860,), 3.5, 1024, None))
    data = status.to_json()
    assert list(data) == KEYS_BEFORE_THE_SPLIT
    assert data["state"] == "online" and data["pids"] == [1, 2] and data["ports"] == [7860]


def test_usage_of_several_scripts_adds_up() -> None:
    total = AppUsage.total([
        {"pids": [1], "ports": [80], "cpu_percent": 10.0, "rss_bytes": 100, "gpu_memory_mb": None},
        {"pids": [2, 3], "ports": [80, 81], "cpu_percent": 5.5, "rss_bytes": 50, "gpu_memory_mb": 300},
    ])
    assert total == AppUsage((1, 2, 3), (80, 81), 15.5, 150, 300)


@pytest.mark.parametrize(("runs", "live", "recorded", "expected"), [
    ([], {}, None, AppState.OFFLINE),
    ([], {}, "failed", AppState.FAILED),  # a restarted daemon still says the install failed
    ([], {}, "interrupted", AppState.CRASHED),
    ([_run(RunState.IDLE)], {"/home/api/app/start.js": True}, None, AppState.ONLINE),
    ([_run(RunState.IDLE)], {"/home/api/app/start.js": False}, None, AppState.CRASHED),  # idle, nothing serves
    ([_run(RunState.RUNNING)], {}, None, AppState.STARTING),
    ([_run(RunState.RUNNING, daemon=False, name="install.js")], {}, None, AppState.INSTALLING),
    # a script still loading (daemon or not is known once it loaded): a Start click never reads "installing"
    ([_run(RunState.STARTING, daemon=False, name="start.js")], {}, None, AppState.STARTING),
    # ... but a sub-script an install started with script.start is still the install
    ([_run(RunState.STARTING, daemon=False, name="models.js", caller="/home/api/app/install.js")], {}, None,
     AppState.INSTALLING),
    ([_run(RunState.CRASHED)], {}, "done", AppState.CRASHED),  # the run in memory beats the store
    ([_run(RunState.STOPPED)], {}, None, AppState.OFFLINE),
])
def test_one_state_per_app(runs: list[Run], live: dict[str, bool], recorded: str | None,
                           expected: AppState) -> None:
    assert app_state(runs, live, recorded) is expected


def test_only_a_rendered_url_of_a_running_script_is_ready() -> None:
    alive, ended = _run(RunState.IDLE), _run(RunState.STOPPED, name="old.js")
    assert ready_url([alive], {alive.id: {"url": "http://127.0.0.1:7860"}}) == "http://127.0.0.1:7860"
    assert ready_url([alive], {alive.id: {"url": "{{input.event[1]}}"}}) is None  # a server that died early
    assert ready_url([ended], {ended.id: {"url": "http://127.0.0.1:7860"}}) is None
