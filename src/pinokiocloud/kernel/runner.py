"""The run/step algorithm of spec §4: runs keyed by script path, steps rendered in the sidecar and
executed by the methods, daemon vs non-daemon finish, errors, stop.

One improvement over the original (docs/compat.md): a step error marks the run **failed** (the
original leaves it "running" forever), keeps its events, and stops its processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from pinokiocloud.errors import InputRequiredError, PinokioCloudError, ProcessEndedError, ScriptLoadError, StepError
from pinokiocloud.kernel import methods as _methods  # noqa: F401  (registers every method)
from pinokiocloud.kernel.bridge import NodeSidecar
from pinokiocloud.kernel.context import KernelContext
from pinokiocloud.kernel.environment import (
    app_env_file,
    app_root,
    ensure_app_env,
    ensure_system_env,
    merged_env,
    set_env_values,
)
from pinokiocloud.kernel.events import EventLog, RunEvent
from pinokiocloud.kernel.keypath import set_path
from pinokiocloud.kernel.methods.base import METHODS, MethodContext, MethodError, MethodRequest, closest_method
from pinokiocloud.kernel.paths import resolve_uri, run_id
from pinokiocloud.kernel.ports import PORT_START, find_free_port
from pinokiocloud.kernel.ports import is_free as _port_is_free
from pinokiocloud.platform import SystemFacts
from pinokiocloud.procs.restart import RestartMode, RestartPolicy
from pinokiocloud.procs.supervisor import ExitKind

__all__ = ["ALIVE", "PORT_HOLD_S", "RestartPolicy", "Run", "RunState", "Runner", "Stoppable"]

PORT_POOL_SIZE = 4
PORT_HOLD_S = 60.0
"""How long a port handed to a script stays off-limits for others: time for its server to bind it."""

log = logging.getLogger(__name__)


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


class Stoppable(Protocol):
    """Something a run owns that must go when the run ends (a process, a proxy …)."""

    async def stop(self) -> None: ...


@dataclass(eq=False)
class Run:
    id: str
    path: Path
    uri: str
    cwd: Path
    action: str
    args: Any
    caller: str | None = None
    interactive: bool = False
    answers: deque[dict[str, Any]] = field(default_factory=deque)
    reuse_answers: dict[str, Any] | None = None
    state: RunState = RunState.STARTING
    daemon: bool = False
    total: int = 0
    current: int = 0
    result: Any = None
    error: str | None = None
    started_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    resources: list[Stoppable] = field(default_factory=list)
    on_stop: Any = None
    step_ids: list[str | None] = field(default_factory=list)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    shells: dict[str, Any] = field(default_factory=dict)
    """Shells of this run that are still alive, by shell id (for writing to their stdin)."""
    exit_code: int | None = None
    last_lines: list[str] = field(default_factory=list)
    """The last lines of the run's most recently ended process (shown when the run crashes)."""
    restarts: int = 0
    pending_input: asyncio.Future[dict[str, Any]] | None = None
    pending_request: dict[str, Any] | None = None
    task: asyncio.Task[None] | None = None
    key: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    """Unique per run (the id repeats when a script runs again)."""

    @property
    def is_alive(self) -> bool:
        return self.state in ALIVE

    @property
    def is_ready(self) -> bool:
        return self.state in READY

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "path": str(self.path), "uri": self.uri, "state": self.state.value,
                "daemon": self.daemon, "step": self.current, "total": self.total, "error": self.error,
                "exit_code": self.exit_code, "restarts": self.restarts,
                "caller": self.caller, "started_at": self.started_at, "ended_at": self.ended_at}


def _sanitized(value: Any) -> Any:
    """A step input for the memory event, without the (long) terminal transcript."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("stdout", "response")}
    return value


class Runner:
    """Owns every run, the `local`/`global` memory and the event log of one PINOKIO_HOME."""

    def __init__(
        self,
        sidecar: NodeSidecar,
        *,
        home: Path,
        system: SystemFacts,
        environ: Mapping[str, str],
        events: EventLog | None = None,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        self.sidecar = sidecar
        self.home = home
        self.system = system
        self.environ = dict(environ)
        self.events = events or EventLog()
        self.runs: dict[str, Run] = {}
        """The latest run of each id."""
        self.by_key: dict[str, Run] = {}
        """Every run this daemon started, by its unique key (an id is reused when a script runs again)."""
        self.memory_local: dict[str, dict[str, Any]] = {}
        self.memory_global: dict[str, dict[str, Any]] = {}
        self._queues: dict[tuple[str, str], asyncio.Lock] = {}
        self.restart_policy = restart_policy or RestartPolicy()
        """The default for every app; ``app_restart`` holds the apps' own choices."""
        self.app_restart: dict[str, RestartPolicy] = {}
        self._ports: dict[int, tuple[float, str]] = {}
        """Ports recently handed to scripts (``{{port}}``, ``kernel.port()``) until a server can bind them."""
        self._background: set[asyncio.Task[Any]] = set()

    # ---- facts for the sidecar and the methods ----

    def resolve(self, uri: str, cwd: Path) -> Path | None:
        return resolve_uri(uri, cwd, self.home)

    def env_for(self, script: Path) -> dict[str, str]:
        return merged_env(script, self.home, self.environ)

    def key_store(self) -> dict[str, Any]:
        try:
            data = json.loads((self.home / "key.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def reserve_ports(self, ports: Iterable[int], owner: str = "") -> None:
        until = time.monotonic() + PORT_HOLD_S
        for port in ports:
            self._ports[int(port)] = (until, owner)

    def reserved_ports(self, *, except_owner: str | None = None) -> set[int]:
        """Ports handed out in the last PORT_HOLD_S, and every port of a run that is still alive (its
        server may be between a stop and a restart, or not listening yet)."""
        now = time.monotonic()

        def held(until: float, owner: str) -> bool:
            run = self.by_key.get(owner)
            return until > now or (run is not None and run.is_alive)

        self._ports = {p: v for p, v in self._ports.items() if held(*v)}
        return {p for p, (_, owner) in self._ports.items() if owner != except_owner or not owner}

    def port_pool(self, owner: str, size: int = PORT_POOL_SIZE) -> list[int]:
        """Free ports for one run, decided here (one event loop, so two runs never get the same one) and
        handed to the sidecar: ``{{port}}`` is the first, ``kernel.port()`` takes from the same list. A run
        keeps its ports while they stay free, as the original's search from 42003 would give them again."""
        others = self.reserved_ports(except_owner=owner)
        pool: list[int] = []
        for port in sorted(p for p, (_, o) in self._ports.items() if o == owner):
            if len(pool) < size and port not in others and _port_is_free(port):
                pool.append(port)
        while len(pool) < size:
            pool.append(find_free_port(start=(pool[-1] + 1) if pool else PORT_START, reserved=others | set(pool)))
        pool.sort()
        self.reserve_ports(pool, owner)
        return pool

    def context(self, envs: Mapping[str, str] | None = None, *, port_pool: Iterable[int] = ()) -> KernelContext:
        return KernelContext(
            home=self.home, system=self.system, envs=envs if envs is not None else self.environ,
            running=[r.id for r in self.runs.values() if r.is_alive],
            ready=[r.id for r in self.runs.values() if r.is_ready],
            local=self.memory_local, global_=self.memory_global, key=self.key_store(),
            reserved_ports=sorted(self.reserved_ports()), port_pool=list(port_pool),
        )

    def emit(self, run: Run, type_: str, data: Any = None, *, step: int | None = None,
             total: int | None = None) -> RunEvent:
        return self.events.publish(RunEvent(run.id, type_, data, step, total, attempt=run.key))

    def log_path(self, run: Run, step: int, index: int) -> Path:
        """``<HOME>/logs/shell/<app>/<script>.<run key>.<step>.<n>.log``: the raw output of one shell."""
        name = f"{run.path.name}.{run.key}.{step}.{index}.log"
        return self.home / "logs" / "shell" / self._app_name(run.path) / name

    def _spawn_background(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def watch(self, run: Run, proc: Any, command: str) -> None:
        """A process that outlives its step (``done``): when it exits on its own while a daemon run is
        alive, the run is crashed (and restarted when the policy says so)."""
        self._spawn_background(self._watch(run, proc, command), f"watch {run.id}")

    def restart_policy_for(self, run: Run) -> RestartPolicy:
        """The policy of the app the script belongs to (its first folder under ``api/``), else the default."""
        app = self._app_name(run.path).split("/", 1)[0]
        return self.app_restart.get(app, self.restart_policy)

    async def _watch(self, run: Run, proc: Any, command: str) -> None:
        code = await proc.wait()
        for shell_id, shell in list(run.shells.items()):
            if shell is proc:
                run.shells.pop(shell_id, None)
        if proc.stopped_by_us or not run.is_alive or not run.daemon:
            return
        run.exit_code = code
        last = proc.tail(2000).strip().splitlines()[-10:]
        run.last_lines = last
        kind: ExitKind = proc.exit_kind()
        how = "exited too quickly" if kind is ExitKind.TOO_QUICK else "exited on its own"
        message = f"the process `{command}` {how} with code {code}"
        run.error = message + ("\n" + "\n".join(last) if last else "")
        self.emit(run, "error", {"message": run.error, "exit_code": code, "last_lines": last, "exit": kind.value})
        await self._end(run, RunState.CRASHED)
        policy = self.restart_policy_for(run)
        delay = policy.delay(kind, run.restarts, proc.runtime_s)
        if delay is None:
            if policy.mode is RestartMode.ON_FAILURE and kind is not ExitKind.OK:
                self.emit(run, "info", {"title": "Not restarting", "description": f"it crashed {run.restarts + 1} "
                                        f"time(s) in a row; the limit is {policy.max_attempts}"})
            return
        if proc.runtime_s >= policy.stable_after_s:
            run.restarts = 0  # it had been healthy: the count of crashes in a row starts over
        self.emit(run, "info", {"title": "Restarting", "description": f"restart in {delay:g} s "
                                f"({run.restarts + 1} of {policy.max_attempts})"})
        self._spawn_background(self._restart_later(run, delay), f"restart {run.id}")

    async def _restart_later(self, old: Run, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        if self.runs.get(old.id) is not old:  # stopped and started again by someone meanwhile
            return
        new = await self.start(old.path, args=old.args, uri=old.uri, cwd=old.cwd, caller=old.caller,
                               action=old.action, interactive=old.interactive)
        new.restarts = old.restarts + 1

    def trigger(self, run: Run, action: str, value: Any) -> None:
        """``on[].trigger``: run another action of the script beside the current one, sharing its id
        and memory, with ``input = {event, trigger}`` (spec §3.1.6)."""
        self._spawn_background(self._run_action(run, action, value), f"trigger {run.id} {action}")

    async def _run_action(self, run: Run, action: str, value: Any) -> None:
        cache_key = f"{run.key}:{action}"
        try:
            begin = await self.sidecar.call(
                "run_begin", {"run_id": cache_key, "path": str(run.path), "action": action,
                              "context": self.context(self.env_for(run.path)).to_wire()}, subject=str(run.path))
            await self._steps(run, action=action, cache_key=cache_key, value=value, ids=begin["ids"],
                              finish=False)
        except PinokioCloudError as exc:
            self.emit(run, "error", {"message": f"trigger {action}: {exc}"})
        finally:
            with contextlib.suppress(PinokioCloudError):
                await self.sidecar.call("run_end", {"run_id": cache_key})

    def write_input(self, id_: str, data: str, shell_id: str | None = None) -> None:
        """Type into a shell of a run (``input: true`` shells read it as their stdin)."""
        run = self.runs.get(id_)
        shells = run.shells if run else {}
        if not shells:
            raise MethodError(f"{id_} has no running shell to type into")
        proc = shells.get(shell_id) if shell_id else list(shells.values())[-1]
        if proc is None:
            raise MethodError(f"{id_} has no shell {shell_id}")
        proc.write(data)


    async def usage(self, id_: str, *, gpu: bool = False) -> dict[str, Any]:
        """What a run's live processes use now: CPU %, RSS and GPU memory of their trees, listening ports."""
        run = self.runs.get(id_)
        readings = [await proc.usage(gpu=gpu) for proc in (list(run.shells.values()) if run else [])]
        gpu_mb = [r.gpu_memory_mb for r in readings if r.gpu_memory_mb is not None]
        return {
            "pids": [pid for r in readings for pid in r.pids],
            "cpu_percent": sum(r.cpu_percent or 0.0 for r in readings),
            "rss_bytes": sum(r.rss_bytes for r in readings),
            "gpu_memory_mb": sum(gpu_mb) if gpu_mb else None,
            "ports": sorted({port for r in readings for port in r.ports}),
        }

    def is_running(self, id_: str) -> bool:
        run = self.runs.get(id_)
        return bool(run and run.is_alive)

    def _set_state(self, run: Run, state: RunState) -> None:
        run.state = state
        if state not in ALIVE:
            run.ended_at = time.time()
        self.emit(run, "state", {"state": state.value}, step=run.current, total=run.total)

    # ---- starting and waiting ----

    async def start(
        self,
        script: Path,
        *,
        args: Any = None,
        uri: str | None = None,
        cwd: Path | None = None,
        caller: str | None = None,
        session: str | None = None,
        action: str = "run",
        answers: Iterable[dict[str, Any]] | dict[str, Any] | None = None,
        interactive: bool = False,
    ) -> Run:
        """Start a run of ``script`` (an absolute path). An id that is already alive is returned as is."""
        path = script.resolve()
        if not path.is_file():
            raise ScriptLoadError(str(path), "no such file")
        id_ = run_id(path, session)
        existing = self.runs.get(id_)
        if existing is not None and existing.is_alive:
            return existing
        run = Run(id=id_, path=path, uri=uri or str(path), cwd=(cwd or path.parent).resolve(), action=action,
                  args=args if args is not None else {}, caller=caller, interactive=interactive)
        if isinstance(answers, dict):
            run.reuse_answers = answers
        elif answers is not None:
            run.answers.extend(answers)
        self.runs[id_] = run
        self.by_key[run.key] = run
        self.emit(run, "start", {"path": str(path), "uri": run.uri, "args": run.args, "caller": caller})
        run.task = asyncio.create_task(self._execute(run), name=f"run {id_}")
        return run

    async def wait(self, run: Run) -> Any:
        """Until the run settles: a non-daemon's end, a daemon's idle state, a failure or a stop.
        Returns the last step's result (None unless the run finished or went idle)."""
        await run.settled.wait()
        return run.result if run.is_ready else None

    async def run_to_end(self, script: Path, **kw: Any) -> Run:
        run = await self.start(script, **kw)
        await self.wait(run)
        return run

    # ---- the step loop ----

    async def _execute(self, run: Run) -> None:
        try:
            await self._prepare(run)
            await self._steps(run, action=run.action, cache_key=run.id, value=run.args, ids=run.step_ids)
        except asyncio.CancelledError:
            if run.is_alive:  # cancelled by something other than stop(): treat as a stop
                await self._end(run, RunState.STOPPED)
            raise
        except ProcessEndedError as exc:
            run.exit_code, run.last_lines = exc.exit_code, exc.last_lines
            if exc.crashed:
                await self._crash(run, str(exc))
            else:
                await self._fail(run, exc)
        except StepError as exc:
            await self._fail(run, exc)
        except PinokioCloudError as exc:
            await self._fail(run, StepError(str(run.path), run.current if run.total else None, None, str(exc)))
        except Exception as exc:  # a bug of ours must still end the run cleanly
            log.exception("run %s crashed", run.id)
            await self._fail(run, StepError(str(run.path), run.current, None, f"internal error: {exc!r}"))

    async def _prepare(self, run: Run) -> None:
        ensure_system_env(self.home)
        root = app_root(run.path, self.home)
        if root is not None:
            ensure_app_env(root, self.home)
        envs = self.env_for(run.path)
        try:
            begin = await self.sidecar.call(
                "run_begin", {"run_id": run.id, "path": str(run.path), "action": run.action,
                              "context": self.context(envs, port_pool=self.port_pool(run.key)).to_wire()},
                subject=str(run.path))
        except ScriptLoadError as exc:
            raise StepError(str(run.path), None, None, str(exc)) from exc
        self.reserve_ports(begin.get("ports") or [], run.key)
        run.total = begin["total"]
        run.daemon = bool(begin["daemon"])
        run.step_ids = begin["ids"]
        run.on_stop = begin["on_stop"]
        if begin.get("env"):
            await self._require_env(run, begin["env"], envs)
        if begin.get("requires"):  # bundles and legacy items: installed now, or named before any step runs
            from pinokiocloud.envs.tools import ToolsError, provide

            gpu = self.system.selected_gpu
            try:
                await provide(begin["requires"], home=self.home, env=envs, platform=self.system.platform,
                              arch=self.system.arch, gpu=gpu.name if gpu else None,
                              out=lambda text: self.emit(run, "stream", {"raw": text + "\r\n"}))
            except ToolsError as exc:
                raise StepError(str(run.path), None, None, str(exc)) from exc
        self._set_state(run, RunState.RUNNING)

    async def _steps(self, run: Run, *, action: str, cache_key: str, value: Any, ids: list[str | None],
                     finish: bool = True) -> None:
        """The step loop of one action. The run's own action ends the run (``finish``); an action
        started by a trigger runs beside it and just stops at its end."""
        index = 0
        total = 1
        while True:
            if not run.is_alive:
                return
            if finish:
                run.current = index
            envs = self.env_for(run.path)
            memory = {
                "input": value, "args": run.args, "local": self.memory_local.get(run.id, {}),
                "global": self.memory_global.get(run.id, {}), "cwd": str(run.cwd), "dirname": str(run.path.parent),
                "name": self._app_name(run.path), "uri": run.uri,
            }
            pool = self.port_pool(run.key)
            memory["port"] = pool[0]
            self.emit(run, "memory", {**memory, "input": _sanitized(value)}, step=index, total=total)
            try:
                rendered = await self.sidecar.call(
                    "run_step", {"run_id": cache_key, "path": str(run.path), "action": action, "index": index,
                                 "vars": memory, "context": self.context(envs, port_pool=pool).to_wire()},
                    subject=str(run.path))
            except ScriptLoadError as exc:
                raise StepError(str(run.path), index, None, str(exc)) from exc
            self.reserve_ports(rendered.get("ports") or [], run.key)
            total = rendered["total"]
            if finish:
                run.total = total
            rpc = rendered["step"]
            following = self._next_index(run, rpc, index, ids, total)
            if not rendered["runs"]:
                self.emit(run, "skip", {"step": rpc}, step=index, total=total)
                value = None
                following = index + 1 if index + 1 < total else None
            else:
                override: list[int | None] = []
                value = await self._call(run, rpc, index, value, rendered["inline"], override, cache_key, ids, total)
                if override:
                    following = override[0]
                if finish:
                    run.result = value
                await self._after_call(run, rpc, index, value)
            if not run.is_alive:
                return
            if following is None:
                if finish:
                    await self._finish(run)
                return
            if not isinstance(following, int) or isinstance(following, bool) or not 0 <= following < total:
                raise StepError(str(run.path), index, None,
                                f"next step {following!r} does not exist (the script has {total} steps)")
            index = following

    def _app_name(self, path: Path) -> str:
        try:
            return str(path.parent.relative_to(self.home / "api"))
        except ValueError:
            return path.parent.name

    def _next_index(self, run: Run, rpc: Any, index: int, ids: list[str | None], total: int) -> int | None:
        if isinstance(rpc, dict) and "next" in rpc:
            target = rpc["next"]
            if isinstance(target, str):
                if target not in ids:
                    raise StepError(str(run.path), index, rpc.get("method") if isinstance(rpc, dict) else None,
                                    f"next: no step has the id {target!r}")
                return ids.index(target)
            return target if target is None or isinstance(target, int) else index + 1
        return index + 1 if index + 1 < total else None

    async def _call(self, run: Run, rpc: Any, index: int, value: Any, inline: bool,
                    override: list[int | None], cache_key: str, ids: list[str | None], total: int) -> Any:
        if not isinstance(rpc, dict) or not rpc.get("method"):
            raise StepError(str(run.path), index, None, "missing RPC attribute: method")
        name = rpc["method"] if isinstance(rpc["method"], str) and not inline else "inline function"
        self.emit(run, "step", {"rpc": rpc}, step=index, total=total)
        ctx = MethodContext(self, run, index, total, override, ids)
        req = MethodRequest(method=name, params=rpc.get("params"), step=rpc, cwd=run.cwd, input=value,
                            args=run.args, current=index, total=total)
        try:
            if inline:
                result = await self._sidecar_method("run_call", run, cache_key, {"index": index}, req)
            elif rpc.get("uri") and isinstance(rpc.get("uri"), str):
                module = ctx.resolve(rpc["uri"])
                result = await self._sidecar_method("module_call", run, cache_key,
                                                    {"uri": str(module), "method": name}, req)
            else:
                fn = METHODS.get(name)
                if fn is None:
                    hint = closest_method(name)
                    suggestion = f"; did you mean {hint}?" if hint else ""
                    raise MethodError(f"RPC endpoint doesn't exist: {name}{suggestion}")
                if rpc.get("queue") is True:
                    async with self._queues.setdefault((str(run.path), name), asyncio.Lock()):
                        result = await fn(req, ctx)
                else:
                    result = await fn(req, ctx)
        except StepError:
            raise
        except (MethodError, PinokioCloudError) as exc:
            raise StepError(str(run.path), index, name, str(exc)) from exc
        except OSError as exc:
            target = f" ({exc.filename})" if exc.filename else ""
            raise StepError(str(run.path), index, name, f"{exc.strerror or exc}{target}") from exc
        self.emit(run, "result", {"result": _sanitized(result)}, step=index, total=total)
        if isinstance(result, dict) and result.get("error"):
            # Any method whose result carries `error` halts the run (spec §4.2): shell.run's matched
            # error patterns, exec's failed command.
            raise StepError(str(run.path), index, name, _describe_error(result))
        return result

    async def _sidecar_method(self, rpc_name: str, run: Run, cache_key: str, extra: dict[str, Any],
                              req: MethodRequest) -> Any:
        index = req.current
        wire_req = {"params": req.params, "cwd": str(run.cwd), "dirname": str(run.path.parent),
                    "input": req.input, "args": req.args, "current": index, "total": req.total,
                    "next": index + 1 if index + 1 < req.total else None,
                    "parent": {"id": run.id, "path": str(run.path), "uri": run.uri, "cwd": str(run.cwd)}}
        try:
            answer = await self.sidecar.call(rpc_name, {"run_id": cache_key, "req": wire_req, **extra,
                                                        "context": self.context(self.env_for(run.path)).to_wire()},
                                             subject=str(run.path))
        except ScriptLoadError as exc:  # the script's own code threw: say what and where
            where = ":".join(str(p) for p in (exc.file, exc.line, exc.column) if p is not None)
            raise MethodError(f"{exc.kind}: {exc.reason} (at {where})") from exc
        for event in answer.get("events", []):
            self.emit(run, event["type"], event["data"], step=index, total=req.total)
        return None if answer.get("undefined") else answer.get("result")

    async def _after_call(self, run: Run, rpc: dict[str, Any], index: int, result: Any) -> None:
        returns = rpc.get("returns")
        if isinstance(returns, str):
            self._store_return(run, returns, result, index)
        elif isinstance(returns, dict):
            # The object form is broken in the original (spec §1.5); we implement what its docs say:
            # keys are "local.x"/"global.x", values are templates rendered with the result as scope.
            scope = result if isinstance(result, dict) else {"result": result}
            rendered = await self.sidecar.call("render", {"template": returns, "vars": scope,
                                                          "context": self.context().to_wire()})
            for key, val in (rendered.get("value") or {}).items():
                self._store_return(run, key, val, index)
        notify = rpc.get("notify")
        if notify:
            data = {"html": f"Step {index} Finished"} if notify is True else notify
            self.emit(run, "notify", data, step=index, total=run.total)

    def _store_return(self, run: Run, target: str, value: Any, index: int) -> None:
        scope, _, key = target.partition(".")
        stores = {"local": self.memory_local, "global": self.memory_global}
        if scope not in stores or not key:
            raise StepError(str(run.path), index, None,
                            f"returns must be 'local.<key>' or 'global.<key>', got {target!r}")
        set_path(stores[scope].setdefault(run.id, {}), key, value)

    # ---- questions: `input` steps and required environment variables ----

    async def ask(self, run: Run, request: dict[str, Any], *, step: int | None, method: str | None) -> dict[str, Any]:
        """Answer a form: from answers given in advance, else from the UI (interactive runs), else fail."""
        form = [f for f in (request.get("form") or []) if isinstance(f, dict) and f.get("key")]
        fields = [str(f["key"]) for f in form]
        given: dict[str, Any] | None = run.answers.popleft() if run.answers else run.reuse_answers
        if given is not None:
            return _fill_form(form, given)
        if not run.interactive:
            if not fields:  # a dialog with nothing to fill in does not hold a headless run
                self.emit(run, "input", {"request": request, "fields": []}, step=step, total=run.total)
                return {}
            raise InputRequiredError(str(run.path), step, method, fields, str(request.get("title") or ""))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        run.pending_input, run.pending_request = future, request
        self.emit(run, "input", {"request": request, "fields": fields}, step=step, total=run.total)
        try:
            return _fill_form(form, await future)
        finally:
            run.pending_input = run.pending_request = None

    def answer(self, id_: str, values: dict[str, Any]) -> None:
        """Answer the question a run is waiting on."""
        run = self.runs.get(id_)
        if run is None or run.pending_input is None or run.pending_input.done():
            raise MethodError(f"{id_} is not waiting for input")
        run.pending_input.set_result(values)

    async def _require_env(self, run: Run, spec: Any, envs: Mapping[str, str]) -> None:
        """The script's ``env``/``pre`` list (spec §1.4): ask for missing variables, save them."""
        items = [i for i in (spec if isinstance(spec, list) else []) if isinstance(i, dict)]
        def name(item: dict[str, Any]) -> str:
            return str(item.get("key") or item.get("env") or "")

        missing = [i for i in items if name(i) and not envs.get(name(i))]
        if not missing:
            return
        keys = [name(i) for i in missing]
        form = [{"key": name(i), "title": i.get("title"), "description": i.get("description"),
                 "default": i.get("default")} for i in missing]
        values = await self.ask(run, {"title": "Required variables", "form": form}, step=None, method="env")
        empty = [k for k in keys if values.get(k) in (None, "")]
        if empty:
            raise InputRequiredError(str(run.path), None, "env", empty, "Required variables")
        root = app_root(run.path, self.home)
        target = app_env_file(root) if root else self.home / "ENVIRONMENT"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("")
        set_env_values(target, {k: values[k] for k in keys})
        self._remember_keys(missing, values)

    def _remember_keys(self, items: list[dict[str, Any]], values: Mapping[str, Any]) -> None:
        store = self.key_store()
        changed = False
        for item in items:
            key, host = str(item.get("key") or item.get("env")), item.get("host")
            if host and values.get(key):
                entries = store.setdefault(str(host), [])
                if values[key] not in entries:
                    entries.append(values[key])
                    changed = True
        if changed:
            (self.home / "key.json").write_text(json.dumps(store, indent=2))

    # ---- ending ----

    def has_live_process(self, run: Run) -> bool:
        """A process of the run's own, or a run it started that is alive (``script.start``)."""
        if any(getattr(proc, "exit_code", None) is None for proc in run.shells.values()):
            return True
        return any(r.is_alive and r.caller == run.id for r in self.runs.values() if r is not run)

    async def _crash(self, run: Run, message: str) -> None:
        run.error = message
        self.emit(run, "error", {"message": message, "exit_code": run.exit_code, "last_lines": run.last_lines},
                  step=run.current, total=run.total)
        await self._end(run, RunState.CRASHED)

    async def _finish(self, run: Run) -> None:
        if run.daemon and run.exit_code not in (None, 0) and not self.has_live_process(run):
            # A daemon goes idle to keep serving; one whose last process failed and nothing else runs is not
            # serving anything. (With no failure it stays idle, as in the original: spec §4.3.)
            await self._crash(run, f"{run.path}: the script finished its steps with no process left running "
                                   f"(the last one exited with code {run.exit_code})"
                                   + ("\n" + "\n".join(run.last_lines) if run.last_lines else ""))
            return
        if run.daemon:
            self._set_state(run, RunState.IDLE)
            self.emit(run, "info", {"title": "Started",
                                    "description": "All scripts finished running. Running in daemon mode..."})
            run.settled.set()
        else:
            await self._end(run, RunState.DONE)

    async def _fail(self, run: Run, error: StepError) -> None:
        run.error = str(error)
        self.emit(run, "error", {"message": str(error), "step": error.step, "method": error.method},
                  step=error.step, total=run.total)
        await self._end(run, RunState.FAILED)

    async def _end(self, run: Run, state: RunState) -> None:
        """The common end of a run: processes stopped, `local` cleared, waiters woken."""
        if not run.is_alive and run.settled.is_set():
            return
        self._set_state(run, state)
        run.stopping.set()
        if run.pending_input is not None and not run.pending_input.done():
            run.pending_input.cancel()
        await self._stop_resources(run)
        self.memory_local.pop(run.id, None)
        self.emit(run, "stop", {"state": state.value})
        run.settled.set()
        with contextlib.suppress(PinokioCloudError):
            await self.sidecar.call("run_end", {"run_id": run.id})

    async def _stop_resources(self, run: Run) -> None:
        resources, run.resources = run.resources, []
        for resource in reversed(resources):
            try:
                await resource.stop()
            except Exception:  # one broken resource must not keep the others alive
                log.exception("stopping a resource of %s failed", run.id)

    async def stop(self, id_: str) -> Run | None:
        """Stop a run (spec §4.5): its ``on.stop`` action, its processes, its `local` memory.
        Runs it started with ``script.start`` are separate runs and keep going."""
        run = self.runs.get(id_)
        if run is None or not run.is_alive:
            return run
        if run.on_stop:
            await self._on_stop(run)
        current = asyncio.current_task()
        task = run.task
        await self._end(run, RunState.STOPPED)
        if task is not None and task is not current and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return run

    async def _on_stop(self, run: Run) -> None:
        request = run.on_stop
        requests = request if isinstance(request, list) else [request]
        for item in requests:
            if not isinstance(item, dict) or not isinstance(item.get("method"), str):
                continue
            fn = METHODS.get(item["method"])
            if fn is None:
                continue
            ctx = MethodContext(self, run, run.current, run.total)
            req = MethodRequest(method=item["method"], params=item.get("params"), step=item, cwd=run.cwd,
                                input=None, args=run.args, current=run.current, total=run.total)
            try:
                await fn(req, ctx)
            except Exception as exc:
                self.emit(run, "error", {"message": f"on.stop {item['method']} failed: {exc}"})

    async def close(self) -> None:
        """Stop every run (the daemon is shutting down)."""
        for run in list(self.runs.values()):
            if run.is_alive:
                await self.stop(run.id)


def _describe_error(result: Mapping[str, Any]) -> str:
    error = result["error"]
    if isinstance(error, list):
        text = "the output matched an error pattern: " + "; ".join(str(e) for e in error)
    else:
        text = str(error)
    tail = str(result.get("stdout") or result.get("stderr") or "").strip().splitlines()[-5:]
    return text + ("\n" + "\n".join(tail) if tail else "")


def _fill_form(form: list[dict[str, Any]], given: Mapping[str, Any]) -> dict[str, Any]:
    """The answer object for a form: every field's value (checkboxes as booleans), defaults for gaps."""
    if not form:
        return dict(given)
    out: dict[str, Any] = {}
    for item in form:
        key = str(item["key"])
        value = given.get(key, item.get("default", ""))
        if item.get("type") == "checkbox":
            value = value if isinstance(value, bool) else str(value).lower() in ("true", "1", "yes", "on")
        out[key] = value
    return out
