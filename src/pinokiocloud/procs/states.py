"""Lifecycle states of a supervised process, the groups callers test against, and the legal moves.

Imports nothing from the project, so anything (runner, server, UI) can use the names without pulling in
the supervisor. ``ManagedProcess._set_state()`` is the only writer of a state and checks ``TRANSITIONS``.
"""

from __future__ import annotations

import enum

__all__ = ["ALIVE", "FINISHED", "TRANSITIONS", "ProcState", "can_move"]


class ProcState(str, enum.Enum):
    """Where one process is in its life. The four end states say *how* it ended, because the runner
    reports a server that died on its own (``CRASHED``) differently from one we stopped."""

    STARTING = "starting"
    """Created; the PTY is open and the command is being executed."""
    RUNNING = "running"
    """The command runs and its output is being read."""
    STOPPING = "stopping"
    """``stop()`` sent SIGTERM and waits for the grace period before SIGKILL."""
    EXITED = "exited"
    """Ended on its own with exit code 0."""
    CRASHED = "crashed"
    """Ended on its own with a non-zero exit code or a signal we did not send."""
    STOPPED = "stopped"
    """Ended after ``stop()`` asked, within the grace period."""
    KILLED = "killed"
    """``stop()`` had to SIGKILL it after the grace period."""


ALIVE = frozenset({ProcState.STARTING, ProcState.RUNNING, ProcState.STOPPING})
"""States in which the process may still run, write output and be signalled."""
FINISHED = frozenset({ProcState.EXITED, ProcState.CRASHED, ProcState.STOPPED, ProcState.KILLED})
"""End states: the exit code is known and every byte of output has been read."""

TRANSITIONS: dict[ProcState, frozenset[ProcState]] = {
    ProcState.STARTING: frozenset({ProcState.RUNNING}),
    ProcState.RUNNING: frozenset({ProcState.STOPPING, ProcState.EXITED, ProcState.CRASHED}),
    ProcState.STOPPING: frozenset({ProcState.STOPPED, ProcState.KILLED}),
    ProcState.EXITED: frozenset(),
    ProcState.CRASHED: frozenset(),
    ProcState.STOPPED: frozenset(),
    ProcState.KILLED: frozenset(),
}
"""Legal moves. A failed exec never gets a state: ``spawn()`` raises instead of returning a process."""


def can_move(old: ProcState, new: ProcState) -> bool:
    """Whether ``old -> new`` is a legal transition."""
    return new in TRANSITIONS[old]
