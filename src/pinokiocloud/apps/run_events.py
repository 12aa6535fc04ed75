"""The run events sink: every event the runner publishes saved to the store in batches, with the run's
record and its ``global`` memory, so a restarted daemon (and ``logs``) still knows what happened."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from pinokiocloud.errors import PinokioCloudError
from pinokiocloud.kernel.events import EventQueue, RunEvent
from pinokiocloud.kernel.runner import Run, Runner
from pinokiocloud.procs.logfiles import log_max_bytes
from pinokiocloud.store import RunRecord, Store

__all__ = ["FLUSH_INTERVAL_S", "EventSink"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.3
"""Events are written together at most this long after the first of a batch arrived."""
_RUN_CHANGES = ("state", "start", "stop", "error")
"""Event types after which the run's record is written again."""


class EventSink:
    """One subscriber of the runner's event log that writes what it gets to the store."""

    def __init__(self, runner: Runner, store: Store, app_of: Callable[[Path], str | None]) -> None:
        self.runner = runner
        self.store = store
        self._app_of = app_of
        self._queue: EventQueue | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: list[RunEvent] = []
        self._bytes_per_run = log_max_bytes()
        """A run that floods its output keeps its newest events in the store up to the log cap."""

    def open(self) -> None:
        """Number new events after the stored ones, read older ones back from the store, start writing."""
        self.runner.events.attach(self.store, last_seq=self.store.last_event_seq())
        self._queue = self.runner.events.subscribe(None, limit=0)  # the store keeps every event: unbounded
        self._task = asyncio.create_task(self._persist(), name="persist events")

    async def close(self) -> None:
        """Write what is still queued and stop."""
        await asyncio.sleep(0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.flush()
        if self._queue is not None:
            self.runner.events.unsubscribe(self._queue)

    async def _persist(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            self._pending.append(first)
            await asyncio.sleep(FLUSH_INTERVAL_S)
            while not self._queue.empty():
                self._pending.append(self._queue.get_nowait())
            self.flush()

    def flush(self) -> None:
        """Write every event received so far now (a reader of the store is about to look)."""
        events, self._pending = self._pending, []
        if self._queue is not None:
            while not self._queue.empty():
                events.append(self._queue.get_nowait())
        if not events:
            return
        try:
            self.store.add_numbered_events(
                ((e.seq, e.attempt, e.run_id, e.type, e.step, e.total, e.ts, e.data) for e in events),
                max_bytes_per_run=self._bytes_per_run)
            touched = {e.attempt for e in events if e.type in _RUN_CHANGES}
            for key in touched:  # by key: an older run of a script restarted meanwhile gets its end state too
                run = self.runner.by_key.get(key)
                if run is not None:
                    self.store.put_run(self.record(run))
            for run_id in {e.run_id for e in events}:
                self.store.put_memory("global", run_id, self.runner.memory_global.get(run_id))
        except PinokioCloudError:
            log.exception("could not persist %d events", len(events))

    def record(self, run: Run) -> RunRecord:
        return RunRecord(run.key, run.id, self._app_of(run.path), str(run.path), run.uri, run.action, run.args,
                         run.state.value, run.daemon, run.error, run.exit_code, run.caller, run.started_at,
                         run.ended_at)

    def stored_events(self, key: str, *, types: set[str] | None = None) -> list[dict[str, object]]:
        """A run's events, the ones not yet written included (they are written first)."""
        self.flush()
        return self.store.events(key, types=types)
