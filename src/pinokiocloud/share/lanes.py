"""One lane per app: share work for one app runs one piece at a time, in order; different apps never wait
for each other.

Starting a share is slow (a race of tunnel clients, up to ``attempt_timeout_s``), so work that waited in
one line for every app let one app's race hold up every other app's share and unshare. A lane is a FIFO
lock of its own per app, made when the app has work and dropped when it has none (a daemon that shares
many apps over its life keeps no lock per name it ever saw).

- ``await lanes.run(app, job)`` runs ``job()`` in the caller's task once the app's earlier work is done,
  and returns its result (a cancelled caller cancels its job, as with a lock).
- ``lanes.submit(app, job)`` queues ``job`` without waiting: one task per app works through the app's
  queue, each job through ``run`` (so it also waits for direct callers ahead of it). A job's exception goes
  to ``on_error``; the next job still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = ["AppLanes", "Job"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[], Awaitable[None]]
"""A piece of work queued with :meth:`AppLanes.submit`."""


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    """Callers holding or waiting for the lock; the lane is dropped when this falls to 0."""
    queue: deque[Job] = field(default_factory=deque)
    worker: asyncio.Task[None] | None = None


def _log_error(app: str, exc: BaseException) -> None:
    log.error("share work for %s failed", app, exc_info=exc)


class AppLanes:
    """Per-app serialisation for one event loop. ``await close()`` cancels queued and running submissions."""

    def __init__(self, *, name: str = "share", on_error: Callable[[str, BaseException], None] = _log_error) -> None:
        self.name = name
        self.on_error = on_error
        self._lanes: dict[str, _Lane] = {}

    def busy(self, app: str) -> bool:
        """Whether ``app`` has work running or waiting."""
        lane = self._lanes.get(app)
        return lane is not None and (lane.users > 0 or bool(lane.queue))

    def __len__(self) -> int:
        """Apps with work running or waiting."""
        return len(self._lanes)

    async def run(self, app: str, job: Callable[[], Awaitable[T]]) -> T:
        """Wait for ``app``'s earlier work, then run ``job()`` here and return what it returns."""
        lane = self._lanes.setdefault(app, _Lane())
        lane.users += 1
        try:
            async with lane.lock:
                return await job()
        finally:
            lane.users -= 1
            self._drop_if_idle(app, lane)

    def submit(self, app: str, job: Job) -> None:
        """Queue ``job`` behind ``app``'s earlier work and return at once."""
        lane = self._lanes.setdefault(app, _Lane())
        lane.queue.append(job)
        if lane.worker is None:
            lane.worker = asyncio.get_running_loop().create_task(self._work(app, lane), name=f"{self.name} {app}")

    async def close(self) -> None:
        """Cancel every queued and running submission and wait for them to end."""
        workers = [lane.worker for lane in self._lanes.values() if lane.worker is not None]
        for lane in self._lanes.values():
            lane.queue.clear()
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def _work(self, app: str, lane: _Lane) -> None:
        try:
            while lane.queue:
                job = lane.queue.popleft()
                try:
                    await self.run(app, job)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one failed job must not stop the app's later work
                    self.on_error(app, exc)
        finally:
            lane.worker = None
            self._drop_if_idle(app, lane)

    def _drop_if_idle(self, app: str, lane: _Lane) -> None:
        if lane.users == 0 and not lane.queue and lane.worker is None and self._lanes.get(app) is lane:
            del self._lanes[app]
