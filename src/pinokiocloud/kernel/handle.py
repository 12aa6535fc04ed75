"""What a method gets to act on its run: the ``RunHandle``.

A method never sees the runner. It talks to its run through this narrow handle (events, questions, paths,
environment, ports, processes, background work, other scripts), so the runner can change without reading
every method family, and a method's reach is written down in one place.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from pinokiocloud.errors import PinokioCloudError
from pinokiocloud.kernel.bridge import reply
from pinokiocloud.kernel.context import KernelContext
from pinokiocloud.kernel.events import RunEvent
from pinokiocloud.kernel.ports import PortPool
from pinokiocloud.kernel.prompter import KeyStore, Prompter
from pinokiocloud.kernel.run import Answers, Run
from pinokiocloud.kernel.scripts import load_script

if TYPE_CHECKING:
    from pinokiocloud.kernel.bridge import NodeSidecar
    from pinokiocloud.procs.supervisor import ManagedProcess

__all__ = ["Background", "Jump", "MethodError", "RunHandle", "RunHost"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class MethodError(Exception):
    """A method's failure, in words for the user (the runner adds script and step and fails the run)."""


@dataclass(frozen=True, slots=True)
class Jump:
    """A method's answer that also moves the run: go to step ``index`` next (``None`` ends the action), with
    ``value`` as that step's ``input``. Built by ``RunHandle.jump``; the step loop reads it."""

    index: int | None
    value: object = None


class Background:
    """Tasks that outlive the code that started them (a watch, a scheduled stop or restart). Holds a reference
    to each until it ends (the loop keeps only weak ones), and hands any exception to ``on_error``."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def spawn(self, coro: Coroutine[object, object, object], name: str,
              on_error: Callable[[BaseException], None] | None = None) -> asyncio.Task[object]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[object]) -> None:
            self._tasks.discard(t)
            if t.cancelled():
                return
            exc = t.exception()
            if exc is None:
                return
            if on_error is not None:
                on_error(exc)
            else:
                log.error("background task %s failed", name, exc_info=exc)

        task.add_done_callback(done)
        return task

    def __len__(self) -> int:
        return len(self._tasks)


class RunHost(Protocol):
    """What a handle needs from whoever runs scripts (the ``Runner``): written as a protocol so that the
    handle, and through it every method, depends on these members only."""

    home: Path
    environ: dict[str, str]
    sidecar: NodeSidecar
    ports: PortPool
    prompter: Prompter
    background: Background
    memory_local: dict[str, dict[str, object]]
    memory_global: dict[str, dict[str, object]]

    def resolve(self, uri: str, cwd: Path) -> Path | None: ...
    def env_for(self, script: Path) -> dict[str, str]: ...
    def context(self, envs: Mapping[str, str] | None = None) -> KernelContext: ...
    def emit(self, run: Run, type_: str, data: object = None, *, step: int | None = None,
             total: int | None = None) -> RunEvent: ...
    def log_path(self, run: Run, step: int, index: int) -> Path: ...
    def watch(self, run: Run, proc: ManagedProcess, command: str) -> None: ...
    def trigger(self, run: Run, action: str, value: object) -> None: ...
    def find(self, id_: str) -> Run | None: ...
    async def start(self, script: Path, *, args: object = None, uri: str | None = None,
                    caller: str | None = None, interactive: bool = False) -> Run: ...
    async def stop(self, id_: str) -> Run | None: ...
    async def wait(self, run: Run) -> object: ...


class RunHandle:
    """One step of one run, as a method sees it."""

    def __init__(self, host: RunHost, run: Run, step: int, total: int,
                 step_ids: list[str | None] | None = None) -> None:
        self._host = host
        self.run = run
        """The run's record (path, id, cwd, args, its shells and resources): data, not the runner."""
        self.step = step
        self.total = total
        self.step_ids: list[str | None] = step_ids if step_ids is not None else []
        """The ``id`` of each step of the running action (for ``jump {id}``)."""

    # ---- what the run shows ----

    @property
    def home(self) -> Path:
        return self._host.home

    def emit(self, type_: str, data: object = None) -> None:
        self._host.emit(self.run, type_, data, step=self.step, total=self.total)

    def print(self, text: str) -> None:
        """Write to the run's terminal, as the original's ``ondata({raw})``."""
        self.emit("stream", {"raw": text if text.endswith("\n") else text + "\r\n"})

    async def ask(self, request: Mapping[str, object], *, method: str | None) -> Answers:
        """A form the user answers (or answers given in advance); blocks the step until then."""
        return await self._host.prompter.ask(self.run, request, step=self.step, method=method)

    # ---- where and with what ----

    def resolve(self, uri: str, cwd: Path | None = None) -> Path:
        path = self._host.resolve(uri, cwd or self.run.cwd)
        if path is None:
            raise MethodError(f"{uri} names an app that is not cloned under {self.home / 'api'}")
        return path

    def env(self) -> dict[str, str]:
        """The script's merged environment: the daemon's, the home's ENVIRONMENT, the app's."""
        return self._host.env_for(self.run.path)

    @property
    def daemon_env(self) -> Mapping[str, str]:
        """The daemon's own environment (shells build theirs from it; ``exec`` uses it as is)."""
        return self._host.environ

    def memory(self, scope: str) -> dict[str, object]:
        """The run's ``local`` or ``global`` memory (created empty)."""
        store = self._host.memory_local if scope == "local" else self._host.memory_global
        return store.setdefault(self.run.id, {})

    @property
    def keys(self) -> KeyStore:
        """``<HOME>/key.json`` (its one writer)."""
        return self._host.prompter.keys

    def port(self) -> int:
        """A free TCP port, held for this run so no other run is handed it."""
        return self._host.ports.take(self.run.key)

    def log_path(self, index: int) -> Path:
        """Where shell ``index`` of this step writes its raw output."""
        return self._host.log_path(self.run, self.step, index)

    # ---- the sidecar ----

    async def load(self, file: Path) -> object:
        """A JSON or JS file as data (JS evaluated by the sidecar, a function export called)."""
        return (await load_script(self._host.sidecar, file, self._host.context())).data

    async def render(self, template: object, scope: Mapping[str, object]) -> object:
        """A template rendered with ``scope`` as its variables (``notify``'s ``{{event}}``)."""
        rendered = reply(await self._host.sidecar.call("render", {"template": template, "vars": dict(scope),
                                                                  "context": self._host.context().to_wire()}),
                         "render")
        return rendered.get("value")

    # ---- processes and background work ----

    def watch(self, proc: ManagedProcess, command: str) -> None:
        """A process that outlives its step (``done``): when it exits on its own while the daemon run is
        alive, the run is crashed (and restarted when the app's policy says so)."""
        self._host.watch(self.run, proc, command)

    def trigger(self, action: str, value: object) -> None:
        """``on[].trigger``: run another action of the script beside this one (spec §3.1.6)."""
        self._host.trigger(self.run, action, value)

    def spawn(self, coro: Coroutine[object, object, object], name: str) -> asyncio.Task[object]:
        """Work that goes on after the step returns. Its task is kept until it ends, and an exception it
        raises becomes an ``error`` event of this run instead of vanishing."""
        run, host = self.run, self._host

        def failed(exc: BaseException) -> None:
            if not isinstance(exc, (PinokioCloudError, MethodError, OSError)):
                log.error("%s of %s failed", name, run.id, exc_info=exc)
            host.emit(run, "error", {"message": f"{name}: {exc}"}, step=self.step, total=self.total)

        return host.background.spawn(coro, f"{name} ({run.id})", failed)

    async def run_blocking(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)`` in a worker thread: disk trees, hashing and waits never block the loop."""
        return await asyncio.to_thread(functools.partial(fn, *args, **kwargs))

    def jump(self, index: int | None, value: object = None) -> Jump:
        """Return this from a method to go to step ``index`` next (``None`` ends the action)."""
        return Jump(index, value)

    # ---- other scripts ----

    def find(self, id_: str) -> Run | None:
        """The latest run of a script id."""
        return self._host.find(id_)

    def is_running(self, id_: str) -> bool:
        run = self._host.find(id_)
        return bool(run and run.is_alive)

    async def start(self, script: Path, *, args: object = None, uri: str | None = None,
                    child: bool = True) -> Run:
        """Start another script; ``child``: as this run's child (its caller, its answers in order)."""
        started = await self._host.start(script, args=args, uri=uri, caller=self.run.id if child else None,
                                         interactive=self.run.interactive)
        if child:
            started.answers = self.run.answers  # questions are answered in order across parent and children
            started.reuse_answers = self.run.reuse_answers
        return started

    async def stop(self, id_: str) -> None:
        await self._host.stop(id_)

    async def wait(self, run: Run) -> object:
        """Until ``run`` settles; its last result (None unless it finished or went idle)."""
        return await self._host.wait(run)
