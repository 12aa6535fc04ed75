"""``shell.run`` (spec §3.1): commands in a PTY with the app's environment, venv or conda activated,
``on`` handlers watching the output, completion on process exit or on a ``done``/``kill``/``break``.

Each command is ``bash --noprofile --norc -c "<activation> && <command>"`` (DESIGN §3). A process
left running by ``done`` belongs to the run: it is stopped when the run ends or is stopped, and a
daemon run whose process exits on its own is marked crashed.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from pinokiocloud.errors import BadParamError, ProcessEndedError
from pinokiocloud.kernel.methods.base import MethodContext, MethodError, MethodRequest, method
from pinokiocloud.kernel.shell_command import build_commands
from pinokiocloud.kernel.shell_env import build_shell_env, tool_bin_dirs
from pinokiocloud.procs.matcher import BadPatternError, Matcher, collect_errors, shortest_errors
from pinokiocloud.procs.supervisor import ManagedProcess, ProcEvent

__all__ = ["DEFAULT_VENV_PYTHON", "TRANSCRIPT_CHARS", "run_shell"]

DEFAULT_VENV_PYTHON = "3.10"
"""The original's venvs are Python 3.10 (its conda base); launchers pin packages for it."""
TRANSCRIPT_CHARS = 256 * 1024
"""How much of a shell's text the step result keeps (``stdout``/``response``)."""
VENV_TIMEOUT_S = 600
_OUTSIDE_KILLS = {
    signal.SIGKILL: "out of memory? (the kernel's OOM killer sends SIGKILL), or killed from outside PinokioCloud",
    signal.SIGTERM: "stopped from outside PinokioCloud",
}
"""Signals that end a step and its run when PinokioCloud did not send them (docs/compat.md, exit codes)."""


def _uv() -> str:
    for folder in tool_bin_dirs():
        candidate = Path(folder) / "uv"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("uv")
    if not found:
        raise MethodError("uv is needed to create venvs and was not found; reinstall PinokioCloud (it ships uv)")
    return found


async def _capture(argv: list[str], env: dict[str, str], timeout_s: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"timed out after {timeout_s:g} s"
    return proc.returncode or 0, out.decode(errors="replace")


async def _create_venv(ctx: MethodContext, venv: Path, python: str | None, env: dict[str, str]) -> None:
    """``uv venv --seed`` (so pip exists inside, as scripts expect)."""
    uv = _uv()
    wanted = python or DEFAULT_VENV_PYTHON
    code, out = await _capture([uv, "venv", "--seed", "--python", wanted, str(venv)], env, VENV_TIMEOUT_S)
    if code != 0 and python is None:
        reason = out.strip().splitlines()[-1] if out.strip() else f"exit code {code}"
        ctx.print(f"[venv] Python {wanted} is not available here ({reason}); "
                  f"using Python {sys.version_info.major}.{sys.version_info.minor} instead")
        code, out = await _capture([uv, "venv", "--seed", "--python", sys.executable, str(venv)], env,
                                   VENV_TIMEOUT_S)
    if code != 0:
        raise MethodError(f"could not create the venv {venv} with Python {wanted}: {out.strip()[-500:]}")
    ctx.print(f"[venv] created {venv}")


def _venv_spec(params: dict[str, Any]) -> tuple[str | None, str | None]:
    venv = params.get("venv")
    python = params.get("venv_python")
    if isinstance(venv, dict):
        python = python or venv.get("python")
        venv = venv.get("path")
    return (str(venv) if venv else None), (str(python) if python else None)


def _conda_exe(env: dict[str, str], home: Path) -> str | None:
    for name in ("conda", "micromamba", "mamba"):
        found = shutil.which(name, path=env.get("PATH"))
        if found:
            return found
    bundled = home / "bin" / "miniforge" / "bin" / "conda"
    return str(bundled) if bundled.exists() else None


async def _conda_activation(ctx: MethodContext, params: dict[str, Any], cwd: Path,
                            env: dict[str, str]) -> list[str]:
    conda = params.get("conda")
    if not conda:
        return []
    if isinstance(conda, dict) and conda.get("skip"):
        return []
    exe = _conda_exe(env, ctx.home)
    if exe is None:
        raise MethodError("this step needs conda, and no conda or micromamba was found; install Miniforge into "
                          f"{ctx.home / 'bin' / 'miniforge'} (or put conda/micromamba on PATH) and run it again")
    spec = conda if isinstance(conda, dict) else {"path": conda}
    python = spec.get("python") or params.get("conda_python")
    python_arg = (f"python={python}" if str(python)[:1].isdigit() else str(python)) if python else "python=3.10"
    shell_name = "micromamba" if exe.endswith("micromamba") else "conda"
    hook = f'eval "$({shlex.quote(exe)} shell.bash hook)"'
    if spec.get("name"):
        target, flag = str(spec["name"]), "-n"
    else:
        target, flag = str((cwd / str(spec.get("path"))).resolve()), "-p"
        if not Path(target).exists():
            args = [str(a) for a in (spec.get("args") or [])] if isinstance(spec.get("args"), list) else (
                str(spec.get("args")).split() if spec.get("args") else [])
            code, out = await _capture([exe, "create", "-y", "-p", target, python_arg, *args], env, VENV_TIMEOUT_S)
            if code != 0:
                raise MethodError(f"conda could not create {target}: {out.strip()[-500:]}")
    return [hook, f"{shell_name} activate {shlex.quote(target) if flag == '-p' else target}"]


def _shell_argv(params: dict[str, Any], command: str, env: dict[str, str]) -> list[str]:
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


async def _launch(req: MethodRequest, ctx: MethodContext, params: dict[str, Any], command: str,
                  activation: list[str], cwd: Path, env: dict[str, str], index: int) -> dict[str, Any]:
    full = " ; ".join(activation) + " && " + command if activation else command
    argv = _shell_argv(params, full, env)
    interactive = params.get("input") is True
    try:
        matcher = Matcher(params.get("on") or [], interactive=interactive)
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
            ctx.runner.trigger(ctx.run, action, {"event": match, "trigger": action})
        if verdict.finish:
            finished.set_result(verdict.finish)

    log_path = ctx.runner.log_path(ctx.run, ctx.step, index)
    ctx.print(f"[shell] {cwd}$ {command}")
    proc = await ManagedProcess.spawn(argv, cwd=cwd, env=env, log_path=log_path, on_event=on_event,
                                      name=f"{ctx.run.path.name}#{ctx.step}")
    resource = _ShellProcess(proc)
    ctx.run.resources.append(resource)
    ctx.run.shells[shell_id] = proc
    exit_task: asyncio.Future[int | None] = loop.create_task(proc.wait())
    waiting: set[asyncio.Future[Any]] = {exit_task, finished}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    verdict = finished.result() if finished in done else None
    exit_code: int | None = None
    if verdict == "kill":
        await proc.stop()
        exit_code = await exit_task
    elif verdict in ("done", "break"):
        exit_task.cancel()
        ctx.runner.watch(ctx.run, proc, command)  # the process keeps running; its exit matters later
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
    result: dict[str, Any] = {"id": shell_id, "response": response, "stdout": response, "event": matcher.event,
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


def _has_ready_signal(params: dict[str, Any]) -> bool:
    handlers = params.get("on")
    return isinstance(handlers, list) and any(isinstance(h, dict) and h.get("done") for h in handlers)


def _check_exit(ctx: MethodContext, params: dict[str, Any], proc: ManagedProcess, command: str,
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


async def _notify(ctx: MethodContext, notify: Any, match: list[str | None]) -> None:
    rendered = await ctx.runner.sidecar.call("render", {"template": notify, "vars": {"event": match},
                                                        "context": ctx.runner.context().to_wire()})
    ctx.emit("notify", {"kind": "shell", **(rendered.get("value") or {})})


async def run_shell(req: MethodRequest, ctx: MethodContext, params: dict[str, Any]) -> dict[str, Any]:
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
        env = build_shell_env(base=ctx.runner.environ, home=ctx.home, script=ctx.run.path,
                              user_env={**user_env, **built.env_args}, remove=names)
    except BadParamError as exc:
        raise MethodError(str(exc)) from exc
    activation = await _conda_activation(ctx, params, cwd, env)
    venv_name, venv_python = _venv_spec(params)
    if venv_name:
        venv = (cwd / venv_name).resolve()
        if not (venv / "bin" / "activate").exists():
            await _create_venv(ctx, venv, venv_python, env)
        activation.append(f"source {shlex.quote(str(venv / 'bin' / 'activate'))}")
    result: dict[str, Any] = {"id": None, "response": "", "stdout": "", "event": None, "exit_code": None}
    for index, command in enumerate(built.commands):
        result = await _launch(req, ctx, params, command, activation, cwd, env, index)
        if result.get("error") or not ctx.run.is_alive:
            break
    return result


@method("shell.run")
async def shell_run(req: MethodRequest, ctx: MethodContext) -> dict[str, Any]:
    """params: {message, path?, env?, venv?, venv_python?, conda?, on?, chain?, input?, sudo?, shell?, build?}
    → {id, stdout, response, event, error?, exit_code}"""
    return await run_shell(req, ctx, req.params_dict())
