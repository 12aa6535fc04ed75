"""The life of a run is a table (``kernel.run.RUN_TRANSITIONS``) and the runner refuses moves outside it."""

from __future__ import annotations

import pytest

from pinokiocloud.kernel.run import ALIVE, RUN_TRANSITIONS, Run, RunState, can_move
from tests.kernel.runner_helpers import Harness, refused_moves


def _states(h: Harness, run: Run) -> list[str]:
    return [e.data["state"] for e in h.events(run, "state")]


def test_the_table_covers_every_state_and_an_ended_run_goes_nowhere() -> None:
    assert set(RUN_TRANSITIONS) == set(RunState)
    for state in RunState:
        if state in ALIVE:
            assert RUN_TRANSITIONS[state] - ALIVE, f"{state} can never end"
        else:
            assert RUN_TRANSITIONS[state] == frozenset(), f"{state} is an end: a restart is a new run"
    assert can_move(RunState.RUNNING, RunState.IDLE) and not can_move(RunState.IDLE, RunState.RUNNING)


def test_a_daemon_moves_running_idle_stopped(h: Harness) -> None:
    run = h.run("d.js", """
        module.exports = { daemon: true, run: [{ method: "log", params: { text: "up" } }] }
    """)
    assert run.state is RunState.IDLE
    h.stop(run)
    assert _states(h, run) == ["running", "idle", "stopped"]


def test_a_failing_step_moves_running_failed_once(h: Harness) -> None:
    run = h.run("f.js", """
        module.exports = { run: [{ method: "fs.read", params: { path: "missing.txt" } }] }
    """)
    h.stop(run)  # stopping an ended run changes nothing
    assert run.state is RunState.FAILED and _states(h, run) == ["running", "failed"]


def test_an_illegal_move_is_refused_and_the_run_keeps_its_state(h: Harness,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    run = h.run("a.js", """
        module.exports = { run: [{ method: "log", params: { text: "hi" } }] }
    """)
    assert run.state is RunState.DONE
    ended_at = run.ended_at

    async def move() -> bool:
        return h.runner._set_state(run, RunState.RUNNING)

    assert h.sidecar.run(move()) is False
    assert run.state is RunState.DONE and run.ended_at == ended_at
    assert _states(h, run) == ["running", "done"]  # no event claims the run is running again
    assert refused_moves(caplog.records) == [f"illegal run state change done -> running refused for {run.id}"]
    caplog.clear()  # the refusal was the point of this test
