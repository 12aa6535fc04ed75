"""The download queue: every download of every app goes through one per home, so the user can see them.

A concurrency limit (``PINOKIOCLOUD_DOWNLOAD_CONCURRENCY``, default 3) keeps twenty model files from
splitting one link twenty ways; priorities put the download a script step is waiting on
(:data:`PRIORITY_STEP`) before background fetches; :meth:`DownloadQueue.cancel` ends one (its partial is
kept for a later resume); listeners get an event with bytes, rate and ETA at most every
``PROGRESS_INTERVAL_S`` per download, and on every change of state.

The daemon creates the queue of its home and :func:`install`s it; code below the server layer (the
``fs.download`` method) finds it with :func:`queue_for`, which makes a default one where no daemon runs.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pinokiocloud.downloads.engine import PROGRESS_INTERVAL_S, DownloadProgress
from pinokiocloud.errors import BadParamError, DownloadCancelledError, DownloadNotFoundError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "PRIORITY_BACKGROUND",
    "PRIORITY_STEP",
    "DownloadCancelledError",
    "DownloadQueue",
    "QueuedDownload",
    "Reporter",
    "install",
    "queue_for",
    "uninstall",
]

DEFAULT_CONCURRENCY = 3
PRIORITY_STEP = 0
"""A script step waits for this download: it goes first."""
PRIORITY_BACKGROUND = 10
KEEP_FINISHED = 50
"""Finished downloads listed after they end (the newest ones)."""

State = Literal["queued", "running", "done", "failed", "cancelled"]
_T = TypeVar("_T")


@dataclass
class QueuedDownload:
    """One download as the queue shows it (``to_json`` is what the API, CLI and events carry)."""

    id: str
    url: str
    path: str | None
    app: str | None
    priority: int
    kind: str = "http"
    state: State = "queued"
    bytes: int = 0
    total: int | None = None
    rate_bps: float = 0.0
    eta_s: float | None = None
    connections: int = 0
    sha256: str | None = None
    error: str | None = None
    queued_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def percent(self) -> float | None:
        return 100.0 * self.bytes / self.total if self.total else None

    def to_json(self) -> dict[str, object]:
        """The entry as the API sends it (the ``Download`` model of server/models.py)."""
        return {"id": self.id, "url": self.url, "path": self.path, "app": self.app, "priority": self.priority,
                "kind": self.kind, "state": self.state, "bytes": self.bytes, "total": self.total,
                "percent": self.percent, "rate_bps": self.rate_bps, "eta_s": self.eta_s,
                "connections": self.connections, "sha256": self.sha256, "error": self.error,
                "queued_at": self.queued_at, "started_at": self.started_at, "finished_at": self.finished_at}


Listener = Callable[[QueuedDownload], None]


class Reporter:
    """Handed to the work a queue runs: feeds its progress into the queue's entry and events."""

    def __init__(self, queue: DownloadQueue, entry: QueuedDownload) -> None:
        self._queue = queue
        self.entry = entry
        self._last = 0.0

    def progress(self, p: DownloadProgress) -> None:
        entry = self.entry
        entry.path = str(p.path) if str(p.path) not in ("", ".") else entry.path
        entry.bytes, entry.total, entry.rate_bps = p.bytes_done, p.total, p.speed_bps
        entry.eta_s, entry.connections = p.eta_s, p.connections
        if p.sha256 is not None:
            entry.sha256 = p.sha256
        now = time.monotonic()
        if p.done or now - self._last >= PROGRESS_INTERVAL_S:
            self._last = now
            self._queue._announce(entry)


class DownloadQueue:
    """Runs downloads at most ``concurrency`` at a time, lowest priority number first, FIFO within one."""

    def __init__(self, *, concurrency: int = DEFAULT_CONCURRENCY,
                 setting: Callable[[str], Any] | None = None) -> None:
        self.setting = setting
        """Reads a daemon setting (``civitai_token``); None where no daemon runs."""
        if concurrency < 1:
            raise BadParamError(f"the download concurrency must be 1 or more, got {concurrency}")
        self.concurrency = concurrency
        self._running = 0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count(1)
        self._entries: dict[str, QueuedDownload] = {}
        self._tasks: dict[str, asyncio.Future[Any]] = {}
        self._queued: dict[str, asyncio.Future[None]] = {}
        self._cancelled: set[str] = set()
        self._finished: deque[str] = deque()
        self._listeners: list[Listener] = []

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *,
                     setting: Callable[[str], Any] | None = None) -> DownloadQueue:
        raw = environ.get("PINOKIOCLOUD_DOWNLOAD_CONCURRENCY", "").strip()
        if not raw:
            return cls(setting=setting)
        if not raw.isdigit() or int(raw) < 1:
            raise BadParamError(f"PINOKIOCLOUD_DOWNLOAD_CONCURRENCY must be a whole number of 1 or more, got {raw!r}")
        return cls(concurrency=int(raw), setting=setting)

    # what the user sees ---------------------------------------------------------------------------------

    def list(self) -> list[QueuedDownload]:
        """Running, then queued (in the order they will start), then finished (newest first)."""
        order = {"running": 0, "queued": 1}
        return sorted(self._entries.values(),
                      key=lambda e: (order.get(e.state, 2), e.priority if e.state == "queued" else 0,
                                     -(e.finished_at or 0), e.queued_at))

    def get(self, download_id: str) -> QueuedDownload:
        entry = self._entries.get(download_id)
        if entry is None:
            raise DownloadNotFoundError(download_id)
        return entry

    def cancel(self, download_id: str) -> QueuedDownload:
        """End a queued or running download; the step waiting for it fails with a clear message."""
        entry = self.get(download_id)
        if entry.state not in ("queued", "running"):
            raise BadParamError(f"download {download_id} has already ended ({entry.state}); nothing to cancel")
        self._cancelled.add(download_id)
        waiter = self._queued.get(download_id)
        if waiter is not None and not waiter.done():
            waiter.set_exception(self._cancelled_error(entry))
        task = self._tasks.get(download_id)
        if task is not None:
            task.cancel()
        return entry

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every change; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # running work ------------------------------------------------------------------------------------

    async def run(self, work: Callable[[Reporter], Awaitable[_T]], *, url: str, path: Path | None = None,
                  app: str | None = None, priority: int = PRIORITY_STEP, kind: str = "http",
                  on_update: Listener | None = None) -> _T:
        """Queue ``work`` (one download), wait for a slot, run it and return what it returns.

        ``on_update`` also gets this download's events (a run's event stream). Raises
        :class:`DownloadCancelledError` when the user cancels it; cancelling the caller cancels the work.
        """
        entry = QueuedDownload(id=f"d{next(self._seq)}", url=url, path=str(path) if path else None, app=app,
                               priority=priority, kind=kind)
        self._entries[entry.id] = entry
        unsubscribe = self.subscribe(lambda e: on_update(e) if e is entry and on_update is not None else None)
        self._announce(entry)
        try:
            await self._acquire(entry)
            try:
                entry.state, entry.started_at = "running", time.time()
                self._announce(entry)
                task = asyncio.ensure_future(work(Reporter(self, entry)))
                self._tasks[entry.id] = task
                try:
                    result = await asyncio.shield(task)
                except asyncio.CancelledError:
                    if not task.done():
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
                    if entry.id in self._cancelled and task.cancelled():
                        raise self._cancelled_error(entry) from None
                    raise
                self._end(entry, "done")
                return result
            finally:
                self._tasks.pop(entry.id, None)
                self._release()
        except DownloadCancelledError:
            self._end(entry, "cancelled", "cancelled by the user")
            raise
        except asyncio.CancelledError:
            self._end(entry, "cancelled", "the run that wanted it was stopped")
            raise
        except BaseException as exc:
            self._end(entry, "failed", str(exc) or type(exc).__name__)
            raise
        finally:
            unsubscribe()

    async def close(self) -> None:
        """Cancel everything (the daemon is stopping); partials stay for the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for _, _, waiter in self._waiters:
            waiter.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # internals -----------------------------------------------------------------------------------------

    def _cancelled_error(self, entry: QueuedDownload) -> DownloadCancelledError:
        return DownloadCancelledError(entry.url, entry.bytes, f"cancelled by the user (download {entry.id})",
                                      hint="run the step again to resume it; what was received is kept")

    async def _acquire(self, entry: QueuedDownload) -> None:
        if self._running < self.concurrency and not self._waiters:
            self._running += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (entry.priority, next(self._seq), waiter))
        self._queued[entry.id] = waiter
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release()  # the slot came just as we were cancelled: hand it on
            else:
                self._waiters = [w for w in self._waiters if w[2] is not waiter]
                heapq.heapify(self._waiters)
            raise
        finally:
            self._queued.pop(entry.id, None)

    def _release(self) -> None:
        while self._waiters:
            _, _, waiter = heapq.heappop(self._waiters)
            if not waiter.done():
                waiter.set_result(None)  # the slot passes straight to it
                return
        self._running -= 1

    def _end(self, entry: QueuedDownload, state: State, error: str | None = None) -> None:
        entry.state, entry.finished_at = state, time.time()
        if error is not None:
            entry.error = error
        if state == "done":
            entry.rate_bps, entry.eta_s, entry.connections = 0.0, 0.0, 0
        self._cancelled.discard(entry.id)
        self._finished.append(entry.id)
        while len(self._finished) > KEEP_FINISHED:
            self._entries.pop(self._finished.popleft(), None)
        self._announce(entry)

    def _announce(self, entry: QueuedDownload) -> None:
        for listener in list(self._listeners):
            listener(entry)


_QUEUES: dict[Path, DownloadQueue] = {}


def install(home: Path, queue: DownloadQueue) -> None:
    """Make ``queue`` the one every download of ``home`` goes through (the daemon does this on start)."""
    _QUEUES[Path(home).absolute()] = queue


def uninstall(home: Path, queue: DownloadQueue) -> None:
    if _QUEUES.get(Path(home).absolute()) is queue:
        del _QUEUES[Path(home).absolute()]


def queue_for(home: Path) -> DownloadQueue:
    """The queue of ``home``: the daemon's, or a default one made on first use where no daemon runs."""
    key = Path(home).absolute()
    found = _QUEUES.get(key)
    if found is None:
        found = _QUEUES[key] = DownloadQueue()
    return found
