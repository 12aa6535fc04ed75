"""``shell.run`` (spec §3.1): commands in a PTY with the app's environment, venv or conda activated,
``on`` handlers watching the output, completion on process exit or on a ``done``/``kill``/``break``.

Each command is ``bash --noprofile --norc -c "<activation> && <command>"`` (DESIGN §3). A process
left running by ``done`` belongs to the run: it is stopped when the run ends or is stopped, and a
daemon run whose process exits on its own is marked crashed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import uuid
from pathlib import Path

from pinokiocloud.envs import activate
from pinokiocloud.errors import BadParamError, ProcessEndedError
from pinokiocloud.kernel.methods.base import MethodError, MethodRequest, RunHandle, method
from pinokiocloud.kernel.shell_command import build_commands
from pinokiocloud.kernel.shell_env import build_shell_env
from pinokiocloud.procs.matcher import BadPatternError, Matcher, collect_errors, shortest_errors
from pinokiocloud.procs.supervisor import ManagedProcess, ProcEvent

__all__ = ["TRANSCRIPT_CHARS", "run_shell"]

TRANSCRIPT_CHARS = 256 * 1024
"""How much of a shell's text the step result keeps (``stdout``/``response``)."""
_OUTSIDE_KILLS = {
    signal.SIGKILL: "out of memory? (the kernel's OOM killer sends SIGKILL), or killed from outside PinokioCloud",
    signal.SIGTERM: "stopped from outside PinokioCloud",
}
"""Signals that end a step and its run when PinokioCloud did not send them (docs/compat.md, exit codes)."""


def _shell_argv(params: dict[str, object], command: str, env: dict[str, str]) -> list[str]:
    shell = params.get("shell")
    if shell:
        exe = shutil.which(str(shell), path=env.get("PATH")) or str(shell)
        argv = [exe, "-c", command]
    else:
        argv = ["bash", "--noprofile", "--norc", "-c", command]
    if params.get("sudo"):
        if os.geteuid() == 0:
            return argv
        sudo = shutil.which("sudo", path=env.get("PATH"))
        if not sudo:
            raise MethodError("this step asks for sudo: PinokioCloud is not running as root and sudo is not "
                              "installed; run it as root or install sudo with passwordless access")
        return [sudo, "-n", "-E", *argv]
    return argv


class _ShellProcess:
    """A shell left running by ``done``: stopping the run stops it."""

    def __init__(self, proc: ManagedProcess) -> None:
        self.proc = proc

    async def stop(self) -> None:
        await self.proc.stop()


async def _launch(req: MethodRequest, ctx: RunHandle, params: dict[str, object], command: str,
                  activation: list[str], cwd: Path, env: dict[str, str], index: int) -> dict[str, object]:
    full = " ; ".join(activation) + " && " + command if activation else command
    argv = _shell_argv(params, full, env)
    interactive = params.get("input") is True
    try:
        handlers = params.get("on")
        matcher = Matcher(handlers if isinstance(handlers, list) else [], interactive=interactive)
    except BadPatternError as exc:
        raise MethodError(str(exc)) from exc
    loop = asyncio.get_running_loop()
    finished: asyncio.Future[str] = loop.create_future()
    transcript: list[str] = []
    size = [0]
    pending: set[asyncio.Task[None]] = set()
    shell_id = str(params.get("id") or uuid.uuid4())

    def on_event(event: ProcEvent) -> None:
        if event.kind != "output" or not event.text:
            return
        ctx.emit("stream", {"raw": event.data.decode(errors="replace") if event.data else event.text,
                            "shell": shell_id})
        transcript.append(event.text)
        size[0] += len(event.text)
        while size[0] > TRANSCRIPT_CHARS and len(transcript) > 1:
            size[0] -= len(transcript.pop(0))
        if finished.done():
            return
        verdict = matcher.feed(event.text)
        for notify, match in verdict.notifications:
            pending.add(loop.create_task(_notify(ctx, notify, match)))
        for action, match in verdict.triggers:
            ctx.trigger(action, {"event": match, "trigger": action})
        if verdict.finish:
            finished.set_result(verdict.finish)

    log_path = ctx.log_path(index)
    ctx.print(f"[shell] {cwd}$ {command}")
    proc = await ManagedProcess.spawn(argv, cwd=cwd, env=env, log_path=log_path, on_event=on_event,
                                      name=f"{ctx.run.path.name}#{ctx.step}")
    resource = _ShellProcess(proc)
    ctx.run.resources.append(resource)
    ctx.run.shells[shell_id] = proc
    exit_task: asyncio.Future[int | None] = loop.create_task(proc.wait())
    waiting: set[asyncio.Future[int | None] | asyncio.Future[str]] = {exit_task, finished}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    verdict = finished.result() if finished in done else None
    exit_code: int | None = None
    if verdict == "kill":
        await proc.stop()
        exit_code = await exit_task
    elif verdict in ("done", "break"):
        exit_task.cancel()
        ctx.watch(proc, command)  # the process keeps running; its exit matters later
    else:
        exit_code = exit_task.result()
        if not finished.done():
            finished.cancel()
    if verdict not in ("done", "break"):
        ctx.run.shells.pop(shell_id, None)
        if resource in ctx.run.resources:
            ctx.run.resources.remove(resource)
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    if verdict is None:
        _check_exit(ctx, params, proc, command, exit_code)
    text = "".join(transcript)
    response = matcher.buffer if verdict == "break" else text
    result: dict[str, object] = {"id": shell_id, "response": response, "stdout": response, "event": matcher.event,
                              "exit_code": exit_code}
    errors = collect_errors(response, matcher.handlers) if not (interactive and verdict == "done") else []
    if errors:
        result["error"] = shortest_errors(response, errors)
    return result


def _killing_signal(exit_code: int) -> signal.Signals | None:
    """The signal that ended the command: ``-N`` for bash itself, ``128+N`` as bash reports its child's."""
    number = -exit_code if exit_code < 0 else exit_code - 128 if exit_code > 128 else 0
    try:
        sig = signal.Signals(number)
    except ValueError:
        return None
    return sig if sig in _OUTSIDE_KILLS else None


def _has_ready_signal(params: dict[str, object]) -> bool:
    handlers = params.get("on")
    return isinstance(handlers, list) and any(isinstance(h, dict) and h.get("done") for h in handlers)


def _check_exit(ctx: RunHandle, params: dict[str, object], proc: ManagedProcess, command: str,
                exit_code: int | None) -> None:
    """Exit codes are ignored, as in the original, except where ignoring them would report a lie: a command
    killed by a signal we did not send (the OOM killer) did not do its job, and a daemon's server that exits
    before its ``done`` signal is not up (the run is crashed, not online)."""
    run = ctx.run
    if exit_code is None or proc.stopped_by_us or not run.is_alive or run.stopping.is_set():
        return
    last = proc.tail(2000).strip().splitlines()[-10:]
    run.exit_code, run.last_lines = exit_code, last
    sig = _killing_signal(exit_code)
    if sig is not None:
        raise ProcessEndedError(str(run.path), ctx.step, "shell.run",
                                f"`{command}` was killed by signal {int(sig)} ({sig.name}): {_OUTSIDE_KILLS[sig]}",
                                exit_code=exit_code, last_lines=last, crashed=False)
    if run.daemon and exit_code != 0 and _has_ready_signal(params):
        raise ProcessEndedError(str(run.path), ctx.step, "shell.run",
                                f"`{command}` exited with code {exit_code} before it was ready",
                                exit_code=exit_code, last_lines=last, crashed=True)


async def _notify(ctx: RunHandle, notify: object, match: list[str | None]) -> None:
    rendered = await ctx.render(notify, {"event": match})
    ctx.emit("notify", {"kind": "shell", **(rendered if isinstance(rendered, dict) else {})})


async def run_shell(req: MethodRequest, ctx: RunHandle, params: dict[str, object]) -> dict[str, object]:
    """The body of shell.run, also used by methods built on it (hf.download)."""
    where = params.get("path") or "."
    if not isinstance(where, str):
        raise MethodError("path must be a folder path")
    cwd = ctx.resolve(where.replace("\\", "/"))
    if cwd.exists() and not cwd.is_dir():
        raise MethodError(f"path {cwd} is a file; shell.run needs a folder to run in")
    cwd.mkdir(parents=True, exist_ok=True)
    user_env = params.get("env") or {}
    if not isinstance(user_env, dict):
        raise MethodError("env must be an object of NAME: value")
    built = build_commands(params.get("message"), params.get("chain"))
    removed = params.get("-env")
    names = [str(r) for r in removed] if isinstance(removed, list) else []
    try:
        env = build_shell_env(base=ctx.daemon_env, home=ctx.home, script=ctx.run.path,
                              user_env={**user_env, **built.env_args}, remove=names)
    except BadParamError as exc:
        raise MethodError(str(exc)) from exc
    try:
        activated = await activate.for_shell(params, cwd=cwd, env=env, home=ctx.home, out=ctx.print)
    except activate.EnvError as exc:
        raise MethodError(str(exc)) from exc
    env, activation = activated.env, activated.commands
    result: dict[str, object] = {"id": None, "response": "", "stdout": "", "event": None, "exit_code": None}
    for index, command in enumerate(built.commands):
        result = await _launch(req, ctx, params, command, activation, cwd, env, index)
        if result.get("error") or not ctx.run.is_alive:
            break
    return result


@method("shell.run")
async def shell_run(req: MethodRequest, ctx: RunHandle) -> dict[str, object]:
    """params: {message, path?, env?, venv?, venv_python?, conda?, on?, chain?, input?, sudo?, shell?, build?}
    → {id, stdout, response, event, error?, exit_code}"""
    return await run_shell(req, ctx, req.params_dict())
