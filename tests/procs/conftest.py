"""Fixtures for supervisor tests: real child processes, their events, and a check that none outlive a test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest

from pinokiocloud.procs import TREE_TAG_ENV, EventKind, ManagedProcess, ProcEvent

T = TypeVar("T")
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
"""The machine sets PYTHONUNBUFFERED (testing-recipes §0); without it only the PTY keeps Python prompt."""
TEST_TIMEOUT_S = 10.0

Spawn = Callable[..., Awaitable[ManagedProcess]]


def run(coro: Coroutine[Any, Any, T], timeout_s: float = TEST_TIMEOUT_S) -> T:
    """Run one test's async body; a hang fails the test instead of the whole session."""
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


class Recorder:
    """An ``on_event`` callback that keeps every event and lets a test wait for output."""

    def __init__(self) -> None:
        self.events: list[ProcEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: ProcEvent) -> None:
        self.events.append(event)
        self._changed.set()

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if e.kind is EventKind.OUTPUT)

    @property
    def data(self) -> bytes:
        return b"".join(e.data for e in self.events if e.kind is EventKind.OUTPUT)

    def kinds(self) -> list[EventKind]:
        return [e.kind for e in self.events]

    async def expect(self, pattern: str, timeout_s: float = 2.0) -> re.Match[str]:
        """Wait until the plain-text output matches ``pattern``."""

        async def poll() -> re.Match[str]:
            while True:
                match = re.search(pattern, self.text)
                if match:
                    return match
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(poll(), timeout_s)


def tagged(tag: str) -> list[psutil.Process]:
    """Live processes carrying a supervisor tag, wherever they are in the process table."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TREE_TAG_ENV) == tag and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def gone(pid: int) -> bool:
    """The PID has ended (a zombie under a PID 1 that does not reap counts as ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """``await spawn(argv, **kw)`` starts a real process in ``tmp_path``. After the test every process
    carrying one of the tags is killed, and the test fails if there were any: tests clean up themselves."""
    started: list[ManagedProcess] = []

    async def _spawn(argv: Sequence[str], *, env: Mapping[str, str] | None = None, **kw: Any) -> ManagedProcess:
        kw.setdefault("cwd", tmp_path)
        proc = await ManagedProcess.spawn(argv, env=CHILD_ENV if env is None else env, **kw)
        started.append(proc)
        return proc

    yield _spawn
    left = [p for proc in started for p in tagged(proc.tag)]
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.send_signal(signal.SIGKILL)
    psutil.wait_procs(left, timeout=2)
    assert not left, f"processes left behind: {[p.pid for p in left]}"
