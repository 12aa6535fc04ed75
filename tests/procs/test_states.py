"""The lifecycle table: every state is alive or finished, and finished is final."""

from __future__ import annotations

from pinokiocloud.procs import ALIVE, FINISHED, TRANSITIONS, ProcState
from pinokiocloud.procs.states import can_move


def test_every_state_is_alive_or_finished_and_finished_states_are_final() -> None:
    assert set(ProcState) == ALIVE | FINISHED and not ALIVE & FINISHED
    assert all(not TRANSITIONS[state] for state in FINISHED)
    assert all(TRANSITIONS[state] for state in ALIVE)


def test_only_a_stop_leads_to_stopped_or_killed_and_a_stop_cannot_end_as_a_crash() -> None:
    assert can_move(ProcState.RUNNING, ProcState.CRASHED)
    assert not can_move(ProcState.RUNNING, ProcState.KILLED)
    assert not can_move(ProcState.STOPPING, ProcState.CRASHED)
    assert can_move(ProcState.STOPPING, ProcState.KILLED)
    assert not can_move(ProcState.EXITED, ProcState.RUNNING)
