"""One run of a script: its record (``Run``), its life (``RunState`` and the table of legal moves) and the
typed summary the daemon shows for it (``RunSummary``).

Like ``procs.states`` for processes, the table is the one place that says how a run may move; the runner's
``_set_state`` is the only writer of ``Run.state`` and checks it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

if TYPE_CHECKING:
    from pinokiocloud.procs.supervisor import ManagedProcess

__all__ = ["ALIVE", "READY", "RUN_TRANSITIONS", "Answers", "Run", "RunState", "RunSummary", "Stoppable",
           "can_move"]

Answers: TypeAlias = "dict[str, object]"
"""The values a user gave for a form, by field key (launcher JSON: any value)."""


class RunState(str, Enum):
    STARTING = "starting"  # loading the script, checking required variables
    RUNNING = "running"  # executing steps
    IDLE = "idle"  # a daemon that finished its steps and keeps its processes
    DONE = "done"  # a non-daemon that finished
    FAILED = "failed"  # a step failed
    CRASHED = "crashed"  # a daemon's process exited on its own
    STOPPED = "stopped"  # stopped by the user or a script


ALIVE = frozenset({RunState.STARTING, RunState.RUNNING, RunState.IDLE})
READY = frozenset({RunState.IDLE, RunState.DONE})

RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    # loaded; or the load, a required variable or a tool failed; or stopped while asking
    RunState.STARTING: frozenset({RunState.RUNNING, RunState.FAILED, RunState.STOPPED}),
    # the steps ended (daemon: idle, else done), a step failed, a server died before its ready signal, a stop
    RunState.RUNNING: frozenset({RunState.IDLE, RunState.DONE, RunState.FAILED, RunState.CRASHED,
                                 RunState.STOPPED}),
    # a daemon keeps serving until its process dies on its own or someone stops it
    RunState.IDLE: frozenset({RunState.CRASHED, RunState.STOPPED}),
    RunState.DONE: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CRASHED: frozenset(),
    RunState.STOPPED: frozenset(),
}
"""Legal moves of a run. A run ends once: a restart is a new ``Run``, so the end states lead nowhere."""


def can_move(old: RunState, new: RunState) -> bool:
    """Whether ``old -> new`` is a legal transition of a run."""
    return new in RUN_TRANSITIONS[old]


class Stoppable(Protocol):
    """Something a run owns that must go when the run ends (a process, a proxy …)."""

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What the daemon shows of one run (the API's run object)."""

    id: str
    key: str
    path: str
    uri: str
    state: str
    daemon: bool
    step: int
    total: int
    error: str | None
    exit_code: int | None
    restarts: int
    caller: str | None
    started_at: float
    ended_at: float | None

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(eq=False)
class Run:
    id: str
    path: Path
    uri: str
    cwd: Path
    action: str
    args: object
    caller: str | None = None
    interactive: bool = False
    answers: deque[Answers] = field(default_factory=deque)
    reuse_answers: Answers | None = None
    state: RunState = RunState.STARTING
    daemon: bool = False
    total: int = 0
    current: int = 0
    result: object = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    resources: list[Stoppable] = field(default_factory=list)
    on_stop: object = None
    """The script's ``on.stop`` request(s), run by ``stop()`` before the processes go."""
    step_ids: list[str | None] = field(default_factory=list)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    shells: dict[str, ManagedProcess] = field(default_factory=dict)
    """Shells of this run that are still alive, by shell id (for writing to their stdin)."""
    exit_code: int | None = None
    last_lines: list[str] = field(default_factory=list)
    """The last lines of the run's most recently ended process (shown when the run crashes)."""
    restarts: int = 0
    pending_input: asyncio.Future[Answers] | None = None
    pending_request: dict[str, object] | None = None
    task: asyncio.Task[None] | None = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    """Unique per run (the id repeats when a script runs again)."""

    @property
    def is_alive(self) -> bool:
        return self.state in ALIVE

    @property
    def is_ready(self) -> bool:
        return self.state in READY

    def snapshot(self) -> RunSummary:
        return RunSummary(id=self.id, key=self.key, path=str(self.path), uri=self.uri, state=self.state.value,
                          daemon=self.daemon, step=self.current, total=self.total, error=self.error,
                          exit_code=self.exit_code, restarts=self.restarts, caller=self.caller,
                          started_at=self.started_at, ended_at=self.ended_at)

    def summary(self) -> dict[str, object]:
        """``snapshot()`` as JSON (the shape the API and the CLI have always read)."""
        return self.snapshot().to_json()
