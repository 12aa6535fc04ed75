"""Run events (spec §4.2): what happened in a run, as JSON-ready records, in order.

The runner publishes; subscribers get new events as they happen, and the log keeps a bounded history per
run in memory so a client that connects late can replay it. Bounded in bytes, not only in count: one
``stream`` event can carry a quarter of a megabyte when an app floods its terminal, so 5000 of them would
hold a gigabyte. A live run keeps its newest ``LIVE_BYTES_PER_RUN``; a finished one shrinks to
``FINISHED_BYTES_PER_RUN``, and only the newest ``FINISHED_RUNS_KEPT`` finished runs keep any. Older
events live in the store (and the raw output in the run's log file): ``replay`` reads them from an
attached ``EventSource``, so a follower still gets every stored event, in order, without gaps.

Each live subscriber (an SSE follower, the share watcher …) has an ``EventQueue`` bounded to
``SUBSCRIBER_MAX_EVENTS``: the runner publishes on the event loop and never waits for a reader, so a slow
client loses the oldest terminal output (``stream`` events) first, never a ``state`` event, instead of
growing the daemon's memory without end.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from pinokiocloud.procs.memory import HeapTrimmer

__all__ = [
    "END_TYPE",
    "EVENTS_PER_RUN",
    "FINISHED_BYTES_PER_RUN",
    "FINISHED_RUNS_KEPT",
    "FLUSH_WAIT_S",
    "LIVE_BYTES_PER_RUN",
    "SUBSCRIBER_MAX_EVENTS",
    "EventLog",
    "EventQueue",
    "EventSource",
    "RunEvent",
    "event_size",
]

EVENTS_PER_RUN = 5000
"""At most this many events per run in memory, whatever their size."""
LIVE_BYTES_PER_RUN = 4 * 1024 * 1024
"""Payload kept in memory for a run that is still going (what a late follower gets without the store)."""
FINISHED_BYTES_PER_RUN = 256 * 1024
"""Payload kept in memory for a finished run (its tail, for ``logs`` and a quick replay)."""
FINISHED_RUNS_KEPT = 64
"""Finished runs that keep an in-memory history at all; older ones are replayed from the store only."""
END_TYPE = "stop"
"""The last event of a run (``Runner._end``)."""
FLUSH_WAIT_S = 3.0
"""How long ``replay`` waits for the store to catch up with events already dropped from memory."""
REPLAY_PAGE = 200
"""Events read from the store per query while replaying (bounds what one replay holds at once)."""
SUBSCRIBER_MAX_EVENTS = 2000
"""Events one subscriber may have waiting before the oldest droppable ones go (see ``EventQueue``)."""
DROPPED_FIRST = "stream"
"""Terminal output: the run's log file and the store keep it, so a slow follower can do without some."""
NEVER_DROPPED = "state"
"""A run's state changes: a follower that missed one would show a wrong state, so they always get through."""
_EVENT_OVERHEAD = 200
"""Rough bytes of one event's objects besides its payload."""


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

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class EventSource(Protocol):
    """Where older events are kept (``store.db.Store``): rows saved under the ``seq`` this log gave them."""

    def events(self, run_key: str, *, after: int = 0, types: Iterable[str] | None = None,
               limit: int = ...) -> list[dict[str, Any]]: ...


def event_size(data: object) -> int:
    """Rough bytes an event's payload holds: the lengths of its strings (``raw`` output above all)."""
    if isinstance(data, (str, bytes)):
        return len(data)
    if isinstance(data, dict):
        return sum(event_size(v) if isinstance(v, (str, bytes, dict, list)) else 8 for v in data.values())
    if isinstance(data, list):
        return sum(event_size(v) if isinstance(v, (str, bytes, dict, list)) else 8 for v in data)
    return 8


class _History:
    __slots__ = ("dropped_upto", "events", "finished", "size")

    def __init__(self) -> None:
        self.events: deque[tuple[RunEvent, int]] = deque()
        self.size = 0
        self.dropped_upto = 0
        """The ``seq`` of the newest event no longer in memory (0: none dropped)."""
        self.finished = False

    def trim(self, max_events: int, max_bytes: int) -> int:
        """Drop the oldest events beyond the bounds (the newest one always stays); bytes let go."""
        freed = 0
        while len(self.events) > 1 and (len(self.events) > max_events or self.size > max_bytes):
            event, size = self.events.popleft()
            self.size -= size
            freed += size
            self.dropped_upto = event.seq
        return freed


def _from_row(row: dict[str, Any]) -> RunEvent:
    return RunEvent(row["run_id"], row["type"], row["data"], row["step"], row["total"], row["ts"], row["seq"],
                    row["attempt"])


class EventQueue(asyncio.Queue[RunEvent]):
    """A subscriber's queue that drops instead of blocking or growing: with ``limit`` events waiting, a new
    event first pushes out the oldest ``stream`` event, else the oldest event that is not a ``state`` event.
    ``state`` events are never dropped (a queue holding nothing else grows past ``limit``: a run changes
    state a handful of times). ``limit`` 0: unbounded, for a consumer that must see everything and drains
    at once (the store's writer). ``dropped`` counts what a slow reader missed."""

    _queue: deque[RunEvent]

    def __init__(self, limit: int = SUBSCRIBER_MAX_EVENTS, *, types: Collection[str] | None = None) -> None:
        super().__init__()  # asyncio's own bound would make put_nowait raise; the bound is ours
        self.limit = limit
        self.types = frozenset(types) if types is not None else None
        """Only events of these types are queued (``None``: all)."""
        self.dropped = 0

    def _init(self, maxsize: int) -> None:
        self._queue = deque()

    def offer(self, event: RunEvent) -> None:
        """Queue ``event`` (when its type is wanted), making room by the rule above; never blocks."""
        if self.types is not None and event.type not in self.types:
            return
        if self.limit and len(self._queue) >= self.limit and self._drop_one():
            self.dropped += 1
        self.put_nowait(event)

    def _drop_one(self) -> bool:
        victim = next((e for e in self._queue if e.type == DROPPED_FIRST), None)
        if victim is None:
            victim = next((e for e in self._queue if e.type != NEVER_DROPPED), None)
        if victim is None:
            return False
        self._queue.remove(victim)
        self.task_done()  # keeps ``join`` counting only what is still queued
        return True


class EventLog:
    """Bounded per-run history plus live subscribers; older events are replayed from an ``EventSource``."""

    def __init__(self, per_run: int = EVENTS_PER_RUN, *, live_bytes: int = LIVE_BYTES_PER_RUN,
                 finished_bytes: int = FINISHED_BYTES_PER_RUN, finished_runs: int = FINISHED_RUNS_KEPT) -> None:
        self._per_run = per_run
        self._live_bytes = live_bytes
        self._finished_bytes = finished_bytes
        self._finished_runs = finished_runs
        self._history: dict[tuple[str, str], _History] = {}
        self._attempts: dict[str, list[str]] = {}
        """Attempts of each run id that have a history, oldest first."""
        self._finished: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._subscribers: list[tuple[str | None, EventQueue]] = []
        self._seq = 0
        self._trimmer = HeapTrimmer()
        self.source: EventSource | None = None

    def attach(self, source: EventSource, *, last_seq: int) -> None:
        """Replay older events from ``source``. ``last_seq`` is the highest ``seq`` the source already
        holds (from earlier daemons): new events are numbered above it, so the source can save each event
        under its own ``seq`` and a replay joins the two without gaps or repeats."""
        self.source = source
        self._seq = max(self._seq, last_seq)

    @property
    def last_seq(self) -> int:
        return self._seq

    def publish(self, event: RunEvent) -> RunEvent:
        self._seq += 1
        stamped = RunEvent(event.run_id, event.type, event.data, event.step, event.total, event.ts, self._seq,
                           event.attempt)
        key = (event.run_id, event.attempt)
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = _History()
            self._attempts.setdefault(event.run_id, []).append(event.attempt)
        size = event_size(event.data) + _EVENT_OVERHEAD
        history.events.append((stamped, size))
        history.size += size
        ending = event.type == END_TYPE and not history.finished
        if ending:
            history.finished = True
            self._finished[key] = None
        freed = history.trim(self._per_run, self._finished_bytes if history.finished else self._live_bytes)
        if ending:
            freed += self._forget_old_runs()
        if freed:
            self._trimmer.freed(freed, force=ending)
        for run_filter, queue in self._subscribers:
            if run_filter is None or run_filter == event.run_id:
                queue.offer(stamped)
        return stamped

    def _forget_old_runs(self) -> int:
        freed = 0
        while len(self._finished) > self._finished_runs:
            key, _ = self._finished.popitem(last=False)
            history = self._history.pop(key, None)
            if history is not None:
                freed += history.size
            attempts = self._attempts.get(key[0], [])
            if key[1] in attempts:
                attempts.remove(key[1])
            if not attempts:
                self._attempts.pop(key[0], None)
        return freed

    def history(self, run_id: str, *, types: set[str] | None = None, attempt: str | None = None) -> list[RunEvent]:
        """The events still in memory (the newest of each run; ``replay`` adds the stored older ones)."""
        attempts = [attempt] if attempt is not None else self._attempts.get(run_id, [])
        events = [e for a in attempts if (h := self._history.get((run_id, a))) is not None for e, _ in h.events]
        if attempt is None and len(attempts) > 1:
            events.sort(key=lambda e: e.seq)
        return [e for e in events if types is None or e.type in types]

    def dropped_upto(self, run_id: str, attempt: str) -> int:
        """The ``seq`` of the newest event of that run that only the source still has (0: none)."""
        history = self._history.get((run_id, attempt))
        return history.dropped_upto if history is not None else 0

    def is_trimmed(self, run_id: str, attempt: str) -> bool:
        """Whether memory lacks some of the run's events (dropped, or the whole run forgotten)."""
        history = self._history.get((run_id, attempt))
        return history is None or history.dropped_upto > 0

    async def replay(self, run_id: str, *, attempt: str, after: int = 0,
                     page: int = REPLAY_PAGE) -> AsyncIterator[RunEvent]:
        """Every event of one run with ``seq`` above ``after``, oldest first: the stored ones memory no
        longer holds (read off the event loop, ``page`` at a time), then those in memory. When memory
        dropped events the store has not saved yet (it writes in batches), it waits up to
        ``FLUSH_WAIT_S`` for them rather than leave a hole."""
        last = after
        if self.source is not None and self.is_trimmed(run_id, attempt):
            waited = 0.0
            while True:
                rows = await asyncio.to_thread(self.source.events, attempt, after=last, limit=page)
                for row in rows:
                    if row["seq"] > last:
                        last = row["seq"]
                        yield _from_row(row)
                if len(rows) == page:
                    continue
                history = self._history.get((run_id, attempt))
                if history is None or last >= history.dropped_upto or waited >= FLUSH_WAIT_S:
                    break
                await asyncio.sleep(0.05)
                waited += 0.05
        history = self._history.get((run_id, attempt))
        if history is None:
            return
        for event in [e for e, _ in history.events if e.seq > last]:
            last = event.seq
            yield event

    def subscribe(self, run_id: str | None = None, *, limit: int = SUBSCRIBER_MAX_EVENTS,
                  types: Collection[str] | None = None) -> EventQueue:
        """New events of one run (``None``: of every run), bounded by ``limit`` (see ``EventQueue``)."""
        queue = EventQueue(limit, types=types)
        self._subscribers.append((run_id, queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[RunEvent]) -> None:
        self._subscribers = [(r, q) for r, q in self._subscribers if q is not queue]

    def runs(self) -> Iterator[str]:
        return iter(list(self._attempts))
