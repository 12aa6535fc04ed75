"""The run/step algorithm of spec §4: runs keyed by script path, steps rendered in the sidecar and
executed by the methods, daemon vs non-daemon finish, errors, stop.

The runner keeps the step loop and the life of each run; what a method may do to its run goes through a
``RunHandle`` (``kernel.handle``), ports through the ``PortPool`` (``kernel.ports``), questions and
``key.json`` through the ``Prompter`` (``kernel.prompter``), crash restarts through the ``Restarter``
(``kernel.restarts``, the policy of ``procs.restart``).

One improvement over the original (docs/compat.md): a step error marks the run **failed** (the
original leaves it "running" forever), keeps its events, and stops its processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypedDict

from pinokiocloud.errors import PinokioCloudError, ProcessEndedError, ScriptLoadError, StepError
from pinokiocloud.kernel import methods as _methods  # noqa: F401  (registers every method)
from pinokiocloud.kernel.bridge import NodeSidecar, reply
from pinokiocloud.kernel.context import KernelContext
from pinokiocloud.kernel.environment import app_root, ensure_app_env, ensure_system_env, merged_env
from pinokiocloud.kernel.events import EventLog, RunEvent
from pinokiocloud.kernel.handle import Background, Jump, MethodError, RunHandle
from pinokiocloud.kernel.keypath import set_path
from pinokiocloud.kernel.methods.base import METHODS, MethodRequest, closest_method
from pinokiocloud.kernel.paths import resolve_uri, run_id
from pinokiocloud.kernel.ports import PORT_HOLD_S, PortPool
from pinokiocloud.kernel.prompter import KeyStore, Prompter
from pinokiocloud.kernel.restarts import Restarter
from pinokiocloud.kernel.run import ALIVE, Answers, Run, RunState, RunSummary, Stoppable, can_move
from pinokiocloud.platform import SystemFacts
from pinokiocloud.procs.restart import RestartPolicy
from pinokiocloud.procs.supervisor import ExitKind, ManagedProcess
from pinokiocloud.procs.usage import Usage

__all__ = [
    "ALIVE",
    "PORT_HOLD_S",
    "LiveUsage",
    "RestartPolicy",
    "Run",
    "RunState",
    "RunSummary",
    "Runner",
    "Stoppable",
]

log = logging.getLogger(__name__)


def _sanitized(value: object) -> object:
    """A step input for the memory event, without the (long) terminal transcript."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in ("stdout", "response")}
    return value


def _ports(value: object) -> list[int]:
    return [p for p in value if isinstance(p, int)] if isinstance(value, list) else []


def _ids(value: object) -> list[str | None]:
    return [i if isinstance(i, str) else None for i in value] if isinstance(value, list) else []


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class LiveUsage(TypedDict):
    """What a run's live processes use now: their trees' pids, CPU %, RSS, GPU memory, listening ports."""

    pids: list[int]
    cpu_percent: float
    rss_bytes: int
    gpu_memory_mb: int | None
    ports: list[int]


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
        # Launcher values (JSON). Typed loosely while server/shares.py reads `$share` from here without
        # narrowing; `dict[str, object]` once it does.
        self.memory_local: dict[str, dict[str, object]] = {}
        self.memory_global: dict[str, dict[str, object]] = {}
        self._queues: dict[tuple[str, str], asyncio.Lock] = {}
        self.background = Background()
        """Watches, triggers, scheduled restarts and methods' ``spawn``: kept until they end."""
        self.ports = PortPool(self._owner_alive)
        self.prompter = Prompter(home, lambda run, type_, data, step: self.emit(run, type_, data, step=step,
                                                                                  total=run.total),
                                 KeyStore(home))
        self.restarter = Restarter(restart_policy or RestartPolicy(), again=self._start_again,
                                   is_latest=lambda run: self.runs.get(run.id) is run,
                                   info=lambda run, title, text: self.emit(run, "info", {"title": title,
                                                                                         "description": text}),
                                   background=self.background)

    # ---- the restart policies (apps.manager sets them from the settings) ----

    @property
    def restart_policy(self) -> RestartPolicy:
        """The default for every app; ``app_restart`` holds the apps' own choices."""
        return self.restarter.default

    @restart_policy.setter
    def restart_policy(self, policy: RestartPolicy) -> None:
        self.restarter.default = policy

    @property
    def app_restart(self) -> dict[str, RestartPolicy]:
        return self.restarter.apps

    @app_restart.setter
    def app_restart(self, policies: dict[str, RestartPolicy]) -> None:
        self.restarter.apps = policies

    # ---- facts for the sidecar and the methods ----

    def resolve(self, uri: str, cwd: Path) -> Path | None:
        return resolve_uri(uri, cwd, self.home)

    def env_for(self, script: Path) -> dict[str, str]:
        return merged_env(script, self.home, self.environ)

    def _owner_alive(self, key: str) -> bool:
        run = self.by_key.get(key)
        return run is not None and run.is_alive

    def context(self, envs: Mapping[str, str] | None = None, *, port_pool: Iterable[int] = ()) -> KernelContext:
        return KernelContext(
            home=self.home, system=self.system, envs=envs if envs is not None else self.environ,
            running=[r.id for r in self.runs.values() if r.is_alive],
            ready=[r.id for r in self.runs.values() if r.is_ready],
            local=self.memory_local, global_=self.memory_global, key=self.prompter.keys.read(),
            reserved_ports=sorted(self.ports.reserved()), port_pool=list(port_pool),
        )

    def emit(self, run: Run, type_: str, data: object = None, *, step: int | None = None,
             total: int | None = None) -> RunEvent:
        return self.events.publish(RunEvent(run.id, type_, data, step, total, attempt=run.key))

    def log_path(self, run: Run, step: int, index: int) -> Path:
        """``<HOME>/logs/shell/<app>/<script>.<run key>.<step>.<n>.log``: the raw output of one shell."""
        name = f"{run.path.name}.{run.key}.{step}.{index}.log"
        return self.home / "logs" / "shell" / self._app_name(run.path) / name

    def find(self, id_: str) -> Run | None:
        """The latest run of a script id."""
        return self.runs.get(id_)

    def handle(self, run: Run, step: int, total: int, step_ids: list[str | None] | None = None) -> RunHandle:
        """What a method of ``run``'s step ``step`` acts through."""
        return RunHandle(self, run, step, total, step_ids)

    # ---- processes that outlive their step ----

    def watch(self, run: Run, proc: ManagedProcess, command: str) -> None:
        """A process that outlives its step (``done``): when it exits on its own while a daemon run is
        alive, the run is crashed (and restarted when the policy says so)."""
        self.background.spawn(self._watch(run, proc, command), f"watch {run.id}")

    def restart_policy_for(self, run: Run) -> RestartPolicy:
        """The policy of the app the script belongs to (its first folder under ``api/``), else the default."""
        return self.restarter.policy_for(self._app_name(run.path).split("/", 1)[0])

    async def _watch(self, run: Run, proc: ManagedProcess, command: str) -> None:
        code = await proc.wait()
        for shell_id, shell in list(run.shells.items()):
            if shell is proc:
                run.shells.pop(shell_id, None)
        if proc.stopped_by_us or not run.is_alive or not run.daemon:
            return
        run.exit_code = code
        last = proc.tail(2000).strip().splitlines()[-10:]
        run.last_lines = last
        kind = proc.exit_kind()
        how = "exited too quickly" if kind is ExitKind.TOO_QUICK else "exited on its own"
        message = f"the process `{command}` {how} with code {code}"
        run.error = message + ("\n" + "\n".join(last) if last else "")
        self.emit(run, "error", {"message": run.error, "exit_code": code, "last_lines": last, "exit": kind.value})
        await self._end(run, RunState.CRASHED)
        self.restarter.after_crash(run, self._app_name(run.path).split("/", 1)[0], kind, proc.runtime_s)

    async def _start_again(self, old: Run) -> Run:
        return await self.start(old.path, args=old.args, uri=old.uri, cwd=old.cwd, caller=old.caller,
                                action=old.action, interactive=old.interactive)

    def trigger(self, run: Run, action: str, value: object) -> None:
        """``on[].trigger``: run another action of the script beside the current one, sharing its id
        and memory, with ``input = {event, trigger}`` (spec §3.1.6)."""
        self.background.spawn(self._run_action(run, action, value), f"trigger {run.id} {action}")

    async def _run_action(self, run: Run, action: str, value: object) -> None:
        cache_key = f"{run.key}:{action}"
        try:
            begin = reply(await self.sidecar.call(
                "run_begin", {"run_id": cache_key, "path": str(run.path), "action": action,
                              "context": self.context(self.env_for(run.path)).to_wire()}, subject=str(run.path)),
                "run_begin")
            await self._steps(run, action=action, cache_key=cache_key, value=value, ids=_ids(begin.get("ids")),
                              finish=False)
        except PinokioCloudError as exc:
            self.emit(run, "error", {"message": f"trigger {action}: {exc}"})
        finally:
            with contextlib.suppress(PinokioCloudError):
                await self.sidecar.call("run_end", {"run_id": cache_key})

    # ---- what the daemon asks of a run ----

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

    async def usage(self, id_: str, *, gpu: bool = False) -> LiveUsage:
        """What a run's live processes use now: CPU %, RSS and GPU memory of their trees, listening ports."""
        run = self.runs.get(id_)
        readings: list[Usage] = [await proc.usage(gpu=gpu) for proc in (list(run.shells.values()) if run else [])]
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

    def answer(self, id_: str, values: Mapping[str, object]) -> None:
        """Answer the question a run is waiting on."""
        run = self.runs.get(id_)
        if run is None or not self.prompter.answer(run, values):
            raise MethodError(f"{id_} is not waiting for input")

    def _set_state(self, run: Run, state: RunState) -> bool:
        """The only writer of ``Run.state``; it checks ``RUN_TRANSITIONS``.

        An illegal move is a bug of ours, never the user's. It is refused: logged as an error, the run keeps
        its state, and False is returned. It is not raised, because in the daemon that would turn the end
        of a run (where every move happens) into a second failure that hides the first and can leave the
        run's processes running. The kernel and conformance tests fail on any such error in the log, so in
        tests an illegal move is as loud as an exception.
        """
        old = run.state
        if not can_move(old, state):
            log.error("illegal run state change %s -> %s refused for %s", old.value, state.value, run.id)
            return False
        run.state = state
        if state not in ALIVE:
            run.ended_at = time.time()
        self.emit(run, "state", {"state": state.value}, step=run.current, total=run.total)
        return True

    # ---- starting and waiting ----

    async def start(
        self,
        script: Path,
        *,
        args: object = None,
        uri: str | None = None,
        cwd: Path | None = None,
        caller: str | None = None,
        session: str | None = None,
        action: str = "run",
        answers: Iterable[Answers] | Answers | None = None,
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

    async def wait(self, run: Run) -> object:
        """Until the run settles: a non-daemon's end, a daemon's idle state, a failure or a stop.
        Returns the last step's result (None unless the run finished or went idle)."""
        await run.settled.wait()
        return run.result if run.is_ready else None

    async def run_to_end(
        self,
        script: Path,
        *,
        args: object = None,
        uri: str | None = None,
        cwd: Path | None = None,
        caller: str | None = None,
        session: str | None = None,
        action: str = "run",
        answers: Iterable[Answers] | Answers | None = None,
        interactive: bool = False,
    ) -> Run:
        """``start`` and ``wait``: the run once it settled."""
        run = await self.start(script, args=args, uri=uri, cwd=cwd, caller=caller, session=session, action=action,
                               answers=answers, interactive=interactive)
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
            begin = reply(await self.sidecar.call(
                "run_begin", {"run_id": run.id, "path": str(run.path), "action": run.action,
                              "context": self.context(envs, port_pool=self.ports.pool(run.key)).to_wire()},
                subject=str(run.path)), "run_begin")
        except ScriptLoadError as exc:
            raise StepError(str(run.path), None, None, str(exc)) from exc
        self.ports.reserve(_ports(begin.get("ports")), run.key)
        run.total = _int(begin.get("total"))
        run.daemon = bool(begin.get("daemon"))
        run.step_ids = _ids(begin.get("ids"))
        run.on_stop = begin.get("on_stop")
        if begin.get("env"):
            await self.prompter.require_env(run, begin["env"], envs)
        requires = begin.get("requires")
        if requires:  # bundles and legacy items: installed now, or named before any step runs
            from pinokiocloud.envs.tools import ToolsError, provide

            gpu = self.system.selected_gpu
            try:
                await provide(requires, home=self.home, env=envs, platform=self.system.platform,
                              arch=self.system.arch, gpu=gpu.name if gpu else None,
                              out=lambda text: self.emit(run, "stream", {"raw": text + "\r\n"}))
            except ToolsError as exc:
                raise StepError(str(run.path), None, None, str(exc)) from exc
        self._set_state(run, RunState.RUNNING)

    async def _steps(self, run: Run, *, action: str, cache_key: str, value: object, ids: list[str | None],
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
            memory: dict[str, object] = {
                "input": value, "args": run.args, "local": self.memory_local.get(run.id, {}),
                "global": self.memory_global.get(run.id, {}), "cwd": str(run.cwd), "dirname": str(run.path.parent),
                "name": self._app_name(run.path), "uri": run.uri,
            }
            pool = self.ports.pool(run.key)
            memory["port"] = pool[0]
            self.emit(run, "memory", {**memory, "input": _sanitized(value)}, step=index, total=total)
            try:
                rendered = reply(await self.sidecar.call(
                    "run_step", {"run_id": cache_key, "path": str(run.path), "action": action, "index": index,
                                 "vars": memory, "context": self.context(envs, port_pool=pool).to_wire()},
                    subject=str(run.path)), "run_step")
            except ScriptLoadError as exc:
                raise StepError(str(run.path), index, None, str(exc)) from exc
            self.ports.reserve(_ports(rendered.get("ports")), run.key)
            total = _int(rendered.get("total"), 1)
            if finish:
                run.total = total
            rpc = rendered.get("step")
            following = self._next_index(run, rpc, index, ids, total)
            if not rendered.get("runs"):
                self.emit(run, "skip", {"step": rpc}, step=index, total=total)
                value = None
                following = index + 1 if index + 1 < total else None
            else:
                value = await self._call(run, rpc, index, value, bool(rendered.get("inline")), cache_key, ids, total)
                if isinstance(value, Jump):
                    following, value = value.index, value.value
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

    def _next_index(self, run: Run, rpc: object, index: int, ids: list[str | None], total: int) -> object:
        """Where the step says to go (``next``), else the following step; None ends the action. Another
        value (the launcher's) is refused by the loop with a message."""
        if isinstance(rpc, dict) and "next" in rpc:
            target = rpc["next"]
            if isinstance(target, str):
                if target not in ids:
                    raise StepError(str(run.path), index, rpc.get("method") if isinstance(rpc, dict) else None,
                                    f"next: no step has the id {target!r}")
                return ids.index(target)
            return target if target is None or isinstance(target, int) else index + 1
        return index + 1 if index + 1 < total else None

    async def _call(self, run: Run, rpc: object, index: int, value: object, inline: bool, cache_key: str,
                    ids: list[str | None], total: int) -> object:
        if not isinstance(rpc, dict) or not rpc.get("method"):
            raise StepError(str(run.path), index, None, "missing RPC attribute: method")
        name = rpc["method"] if isinstance(rpc["method"], str) and not inline else "inline function"
        self.emit(run, "step", {"rpc": rpc}, step=index, total=total)
        ctx = self.handle(run, index, total, ids)
        req = MethodRequest(method=name, params=rpc.get("params"), step=rpc, cwd=run.cwd, input=value,
                            args=run.args, current=index, total=total)
        result: object
        try:
            uri = rpc.get("uri")
            if inline:
                result = await self._sidecar_method("run_call", run, cache_key, {"index": index}, req)
            elif uri and isinstance(uri, str):
                module = ctx.resolve(uri)
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
        shown = result.value if isinstance(result, Jump) else result
        self.emit(run, "result", {"result": _sanitized(shown)}, step=index, total=total)
        if isinstance(shown, dict) and shown.get("error"):
            # A method whose result carries `error` halts the run (spec §4.2): shell.run's matched
            # error patterns, exec's failed command.
            raise StepError(str(run.path), index, name, _describe_error(shown))
        return result

    async def _sidecar_method(self, rpc_name: str, run: Run, cache_key: str, extra: dict[str, object],
                              req: MethodRequest) -> object:
        index = req.current
        wire_req = {"params": req.params, "cwd": str(run.cwd), "dirname": str(run.path.parent),
                    "input": req.input, "args": req.args, "current": index, "total": req.total,
                    "next": index + 1 if index + 1 < req.total else None,
                    "parent": {"id": run.id, "path": str(run.path), "uri": run.uri, "cwd": str(run.cwd)}}
        try:
            answer = reply(await self.sidecar.call(
                rpc_name, {"run_id": cache_key, "req": wire_req, **extra,
                           "context": self.context(self.env_for(run.path)).to_wire()},
                subject=str(run.path)), rpc_name)
        except ScriptLoadError as exc:  # the script's own code threw: say what and where
            where = ":".join(str(p) for p in (exc.file, exc.line, exc.column) if p is not None)
            raise MethodError(f"{exc.kind}: {exc.reason} (at {where})") from exc
        events = answer.get("events")
        for event in events if isinstance(events, list) else []:
            if isinstance(event, dict):
                self.emit(run, str(event.get("type")), event.get("data"), step=index, total=req.total)
        return None if answer.get("undefined") else answer.get("result")

    async def _after_call(self, run: Run, rpc: object, index: int, result: object) -> None:
        if not isinstance(rpc, dict):
            return
        returns = rpc.get("returns")
        if isinstance(returns, str):
            self._store_return(run, returns, result, index)
        elif isinstance(returns, dict):
            # The object form is broken in the original (spec §1.5); we implement what its docs say:
            # keys are "local.x"/"global.x", values are templates rendered with the result as scope.
            scope = result if isinstance(result, dict) else {"result": result}
            rendered = reply(await self.sidecar.call("render", {"template": returns, "vars": scope,
                                                                 "context": self.context().to_wire()}), "render")
            values = rendered.get("value")
            for key, val in (values.items() if isinstance(values, dict) else ()):
                self._store_return(run, str(key), val, index)
        notify = rpc.get("notify")
        if notify:
            data = {"html": f"Step {index} Finished"} if notify is True else notify
            self.emit(run, "notify", data, step=index, total=run.total)

    def _store_return(self, run: Run, target: str, value: object, index: int) -> None:
        scope, _, key = target.partition(".")
        stores = {"local": self.memory_local, "global": self.memory_global}
        if scope not in stores or not key:
            raise StepError(str(run.path), index, None,
                            f"returns must be 'local.<key>' or 'global.<key>', got {target!r}")
        set_path(stores[scope].setdefault(run.id, {}), key, value)

    # ---- ending ----

    def has_live_process(self, run: Run) -> bool:
        """A process of the run's own, or a run it started that is alive (``script.start``)."""
        if any(proc.exit_code is None for proc in run.shells.values()):
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
        if not run.is_alive:  # already ended (a stop got there first): its end stands
            return
        run.error = str(error)
        self.emit(run, "error", {"message": str(error), "step": error.step, "method": error.method},
                  step=error.step, total=run.total)
        await self._end(run, RunState.FAILED)

    async def _end(self, run: Run, state: RunState) -> None:
        """The common end of a run: processes stopped, `local` cleared, waiters woken. A run ends once."""
        if not run.is_alive:
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
            req = MethodRequest(method=item["method"], params=item.get("params"), step=item, cwd=run.cwd,
                                input=None, args=run.args, current=run.current, total=run.total)
            try:
                await fn(req, self.handle(run, run.current, run.total))
            except Exception as exc:
                self.emit(run, "error", {"message": f"on.stop {item['method']} failed: {exc}"})

    async def close(self) -> None:
        """Stop every run (the daemon is shutting down)."""
        for run in list(self.runs.values()):
            if run.is_alive:
                await self.stop(run.id)


def _describe_error(result: Mapping[str, object]) -> str:
    error = result["error"]
    if isinstance(error, list):
        text = "the output matched an error pattern: " + "; ".join(str(e) for e in error)
    else:
        text = str(error)
    tail = str(result.get("stdout") or result.get("stderr") or "").strip().splitlines()[-5:]
    return text + ("\n" + "\n".join(tail) if tail else "")

