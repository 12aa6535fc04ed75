"""Run events (spec §4.2): what happened in a run, as JSON-ready records, in order.

The runner publishes; the log keeps a bounded history per run so a client that connects late can
replay it, and subscribers get new events as they happen.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EVENTS_PER_RUN", "EventLog", "RunEvent"]

EVENTS_PER_RUN = 5000


@dataclass(frozen=True, slots=True)
class RunEvent:
    run_id: str
    type: str
    """start | memory | step | stream | result | notify | input | web.open | info | error | stop | state …"""
    data: Any = None
    step: int | None = None
    total: int | None = None
    ts: float = field(default_factory=time.time)
    seq: int = 0
    attempt: str = ""
    """Which run of ``run_id`` this is (a script path is run many times; each run has its own key)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class EventLog:
    """Bounded per-run history plus live subscribers."""

    def __init__(self, per_run: int = EVENTS_PER_RUN) -> None:
        self._per_run = per_run
        self._history: dict[str, deque[RunEvent]] = {}
        self._subscribers: list[tuple[str | None, asyncio.Queue[RunEvent]]] = []
        self._seq = 0

    def publish(self, event: RunEvent) -> RunEvent:
        self._seq += 1
        stamped = RunEvent(event.run_id, event.type, event.data, event.step, event.total, event.ts, self._seq,
                           event.attempt)
        self._history.setdefault(event.run_id, deque(maxlen=self._per_run)).append(stamped)
        for run_filter, queue in self._subscribers:
            if run_filter is None or run_filter == event.run_id:
                queue.put_nowait(stamped)
        return stamped

    def history(self, run_id: str, *, types: set[str] | None = None, attempt: str | None = None) -> list[RunEvent]:
        events = list(self._history.get(run_id, ()))
        return [e for e in events
                if (types is None or e.type in types) and (attempt is None or e.attempt == attempt)]

    def subscribe(self, run_id: str | None = None) -> asyncio.Queue[RunEvent]:
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        self._subscribers.append((run_id, queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[RunEvent]) -> None:
        self._subscribers = [(r, q) for r, q in self._subscribers if q is not queue]

    def runs(self) -> Iterator[str]:
        return iter(list(self._history))
