"""The status sampler: every app's status sampled in one background task (usage, liveness, the port check,
the web UI) and read by every client, so ``GET /api/apps`` costs a dictionary read, not a process scan per
app per request.

Reads stay true: every event a run publishes (except its terminal output) marks its app changed, and a
read of a changed app checks it again at once (one check, shared by every reader waiting on it). So a
start, a stop or a crash shows in the very next read; only what no event announces (a server that stops
answering on its port while its process lives) waits for the next sample, ``SAMPLE_INTERVAL_S`` away.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pinokiocloud.apps.status import (
    AppState,
    AppStatus,
    AppUsage,
    app_state,
    port_answers,
    ready_url,
    recorded_summary,
)
from pinokiocloud.apps.webui import WebUICache
from pinokiocloud.kernel.events import DROPPED_FIRST, EventQueue
from pinokiocloud.kernel.runner import Run, Runner
from pinokiocloud.store import AppRecord, RunRecord, Store

__all__ = ["SAMPLE_INTERVAL_S", "StatusSampler"]

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_S = 1.0
"""Pause between two samples of every app (state, port check, web UI)."""
USAGE_MAX_AGE_S = 2.0
"""An app's process usage is read again when older than this (or its running scripts changed). Reading it
walks ``/proc`` (tens of milliseconds of CPU per app), so it is the one part not redone every second."""


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the store says about an app (read off the loop)."""

    record: AppRecord | None
    last: RunRecord | None
    """Its last recorded run, read only when this daemon holds no run of it."""
    restart: str


@dataclass(frozen=True, slots=True)
class _Entry:
    gen: int
    """The app's generation when its facts were read: the entry is current while the app's stays the same."""
    status: AppStatus


class StatusSampler:
    """Current status of every app, for any number of readers."""

    def __init__(self, runner: Runner, store: Store, home: Path, *, names: Callable[[], list[str]],
                 app_of: Callable[[Path], str | None], restart_mode: Callable[[str], str],
                 output: Callable[[str], Awaitable[str]], web_uis: WebUICache,
                 interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.runner = runner
        self.store = store
        self.home = home
        self.interval_s = interval_s
        self.web_uis = web_uis
        self._list_names = names
        self._app_of = app_of
        self._restart_mode = restart_mode
        self._output = output
        self._counter = itertools.count(1)
        self._gen: dict[str, int] = {}
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, tuple[int, asyncio.Task[AppStatus]]] = {}
        self._names: tuple[str, ...] | None = None
        self._names_key: int | None = None
        """``api/``'s mtime when the names were listed: a folder added or removed changes it."""
        self._app_of_id: dict[str, str | None] = {}
        self._usage: dict[str, tuple[tuple[str, ...], int, float, AppUsage]] = {}
        """Per app: the running scripts and shells it was read for, the app's generation then, when, and
        the reading."""
        self.usage_max_age_s = USAGE_MAX_AGE_S
        self._queue: EventQueue | None = None
        self._task: asyncio.Task[None] | None = None
        self.samples = 0
        """Samples taken so far (tests and benchmarks read it)."""

    # ---- lifecycle (the daemon's) ----

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Follow the runner's events and sample every ``interval_s``, until ``stop``."""
        if self.running:
            return
        self._queue = self.runner.events.subscribe(None)
        self._task = asyncio.create_task(self._loop(), name="status sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._queue is not None:
            self.runner.events.unsubscribe(self._queue)
            self._queue = None
        for _, task in list(self._inflight.values()):
            task.cancel()

    async def _loop(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:  # one bad sample must not end sampling; the next read checks again itself
                log.exception("sampling app status failed")
            await asyncio.sleep(self.interval_s)

    # ---- reads ----

    def touch(self, name: str | None = None) -> None:
        """We changed ``name`` (``None``: the set of installed apps): its next read checks it again."""
        if name is None:
            self._names = None
            return
        self._gen[name] = next(self._counter)

    async def read_all(self) -> list[AppStatus]:
        """Every installed app, as current as the rule in the module's docstring says."""
        names = await self._current_names()
        if not self.running:  # not sampling (a manager without its daemon): check each now
            return [await self.check(n) for n in names]
        self._drain()
        stale = [n for n in names if not self._is_current(n)]
        if stale:
            await asyncio.gather(*(self._recheck(n) for n in stale))
        return [self._entries[n].status for n in names if n in self._entries]

    async def read(self, name: str) -> AppStatus:
        """One app (its folder checked by the caller)."""
        if not self.running:
            return await self.check(name)
        self._drain()
        if self._is_current(name):
            return self._entries[name].status
        return await self._recheck(name)

    async def check(self, name: str) -> AppStatus:
        """A fresh check of one app, now (also kept for the readers after)."""
        gen = self._gen.get(name, 0)
        facts = await asyncio.to_thread(self._facts, name, bool(self._runs_by_app().get(name)))
        status = await self._compute(name, self._runs_by_app().get(name, []), facts)
        self._keep(name, gen, status)
        return status

    def _is_current(self, name: str) -> bool:
        entry = self._entries.get(name)
        return entry is not None and entry.gen == self._gen.get(name, 0)

    async def _recheck(self, name: str) -> AppStatus:
        """``check``, shared by every reader that wants the same generation of the app."""
        gen = self._gen.get(name, 0)
        inflight = self._inflight.get(name)
        if inflight is None or inflight[0] != gen:
            task = asyncio.create_task(self.check(name), name=f"status of {name}")
            self._inflight[name] = inflight = (gen, task)
            task.add_done_callback(functools.partial(self._settled, name))
        return await asyncio.shield(inflight[1])  # a reader that goes away does not cancel the others' check

    def _settled(self, name: str, task: asyncio.Task[AppStatus]) -> None:
        if self._inflight.get(name, (0, None))[1] is task:
            del self._inflight[name]
        if not task.cancelled() and task.exception() is not None:
            log.debug("checking %s failed: %s", name, task.exception())

    def _keep(self, name: str, gen: int, status: AppStatus) -> None:
        entry = self._entries.get(name)
        if entry is None or entry.gen <= gen:  # a slower, older check never overwrites a newer one
            self._entries[name] = _Entry(gen, status)

    def _drain(self) -> None:
        """Mark the apps whose runs published something since the last look (output does not count)."""
        if self._queue is None:
            return
        changed: set[str] = set()
        while not self._queue.empty():
            event = self._queue.get_nowait()
            if event.type == DROPPED_FIRST:
                continue
            changed.add(event.run_id)
            run = self.runner.runs.get(event.run_id)
            if run is not None and run.caller:  # a run started by ``script.start`` keeps its caller's app live
                changed.add(run.caller)
        for run_id in changed:
            app = self._app_of_run(run_id)
            if app is not None:
                self.touch(app)

    def _app_of_run(self, run_id: str) -> str | None:
        if run_id not in self._app_of_id:
            self._app_of_id[run_id] = self._app_of(Path(run_id.split("?", 1)[0]))
        return self._app_of_id[run_id]

    async def _current_names(self) -> tuple[str, ...]:
        """The installed apps; listed again when ``api/`` changed, we installed or removed one, or a
        sample ran (a launcher file that appeared inside an app's folder)."""
        try:
            key: int | None = (self.home / "api").stat().st_mtime_ns
        except OSError:
            key = None
        if self._names is None or key != self._names_key:
            self._names = tuple(await asyncio.to_thread(self._list_names))
            self._names_key = key
        return self._names

    # ---- samples ----

    async def sample(self) -> None:
        """Check every app once: what the sampler does every ``interval_s``."""
        self._drain()
        self._names = None
        names = await self._current_names()
        gens = {n: self._gen.get(n, 0) for n in names}
        by_app = self._runs_by_app()
        facts = await asyncio.to_thread(lambda: {n: self._facts(n, bool(by_app.get(n))) for n in names})
        by_app = self._runs_by_app()  # runs may have started while the store was read
        for name in names:  # one app after the other: one thread walks /proc at a time, the loop keeps the GIL
            await self._read_usage(name, [r for r in by_app.get(name, []) if r.is_alive])
        found = await asyncio.gather(*(self._compute(n, by_app.get(n, []), facts[n]) for n in names),
                                     return_exceptions=True)
        for name, status in zip(names, found, strict=True):
            if isinstance(status, AppStatus):
                self._keep(name, gens[name], status)
            elif isinstance(status, Exception):
                log.debug("sampling %s failed: %s", name, status)
        for gone in set(self._entries) - set(names):
            del self._entries[gone]
            self._usage.pop(gone, None)
        self.samples += 1

    async def _read_usage(self, name: str, alive: Sequence[Run]) -> AppUsage:
        """The app's process usage: the last reading while it is young and nothing happened to the app since
        (no event, the same scripts and shells); else read now, so a server that just came up shows its port."""
        keys = tuple(f"{r.key}:{shell}" for r in alive for shell in r.shells) or tuple(r.key for r in alive)
        if not keys:
            return AppUsage()
        gen = self._gen.get(name, 0)
        cached = self._usage.get(name)
        now = time.monotonic()
        if cached is not None and cached[:2] == (keys, gen) and now - cached[2] < self.usage_max_age_s:
            return cached[3]
        usage = AppUsage.total([await self.runner.usage(r.id) for r in alive])
        self._usage[name] = (keys, gen, now, usage)
        return usage

    def _runs_by_app(self) -> dict[str, list[Run]]:
        """The runner's runs grouped by app, oldest first (one pass for every app)."""
        grouped: dict[str, list[Run]] = {}
        for run in sorted(self.runner.runs.values(), key=lambda r: r.started_at):
            app = self._app_of_run(run.id)
            if app is not None:
                grouped.setdefault(app, []).append(run)
        return grouped

    def _facts(self, name: str, has_runs: bool) -> _Facts:
        """The store's part of an app's status (blocking: called in a thread)."""
        last = None
        if not has_runs:
            records = self.store.runs(app=name, limit=1)
            last = records[0] if records else None
        return _Facts(self.store.app(name), last, self._restart_mode(name))

    async def _compute(self, name: str, runs: Sequence[Run], facts: _Facts) -> AppStatus:
        """An app's status from its runs (read first, all at once) and then what needs waiting for: the
        port check, its processes' usage, its web UI."""
        alive = [r for r in runs if r.is_alive]
        live = {r.id: self.runner.has_live_process(r) for r in alive}
        last = facts.last
        state = app_state(runs, live, last.state if last is not None else None)
        url = ready_url(runs, self.runner.memory_local)
        summaries: tuple[Mapping[str, object], ...] = tuple(r.summary() for r in (alive or runs[-1:]))
        if not summaries and last is not None:
            summaries = (recorded_summary(last),)
        error = runs[-1].error if runs else (last.error if last is not None else None)
        if state is AppState.ONLINE and url is not None and not await port_answers(url):
            state = AppState.STARTING  # a server that stopped listening is starting again, or hung: not online
        usage = await self._read_usage(name, alive)
        web_ui = None
        if alive:
            web_ui = await self.web_uis.get(name, local_url=url, ports=usage.ports, output=lambda: self._output(name))
        record = facts.record
        return AppStatus(name=name, path=str(self.home / "api" / name), source=record.source if record else None,
                         state=state, ready_url=url, web_ui=web_ui, runs=summaries, error=error,
                         autorestore=record.autorestore if record else True, restart=facts.restart, usage=usage)
