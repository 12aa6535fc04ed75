"""The activation of one ``shell.run`` (spec §3.1.3): conda first, then the venv, each created when missing.

``conda`` absent: the base env is active (its ``bin`` and ``conda`` on PATH, ``PIP_REQUIRE_VIRTUALENV=true``
so a bare ``pip install`` outside a venv fails, as in the original). ``"dir"``/``{path}``: the env at
``path`` (relative to the step's folder), created with ``python`` (default ``python=3.10``) and ``args`` when
missing or left half-made by an interrupted create. ``{name}``: ``base/envs/<name>``. ``{skip: true}``: no
activation, ``conda`` still on PATH. ``{activate: "minimal"}``: base only; ``{activate: [cmds]}``: those.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pinokiocloud.envs import conda, tools, venv
from pinokiocloud.errors import EnvError

__all__ = ["Activation", "EnvError", "for_shell"]

CREATE_TIMEOUT_S = 1800


@dataclass(slots=True)
class Activation:
    env: dict[str, str]
    """The shell's whole environment, activation included."""
    commands: list[str] = field(default_factory=list)
    """Run before the step's command, joined with ``;`` (shell functions and packages' activate.d scripts)."""


def _conda_spec(params: Mapping[str, object]) -> dict[str, object]:
    value = params.get("conda")
    if isinstance(value, dict):
        return dict(value)
    return {"path": str(value)} if value else {}


def _args(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(a) for a in value]
    return shlex.split(str(value)) if value else []


async def _create(target: Path, spec: Mapping[str, object], params: Mapping[str, object], env: Mapping[str, str],
                  base: Path, out: Callable[[str], object]) -> None:
    python = spec.get("python") or params.get("conda_python")
    specs = [conda.python_spec(python) if python else conda.DEFAULT_ENV_PYTHON, *_args(spec.get("args"))]
    flag = ["-n", str(spec["name"])] if spec.get("name") else ["-p", str(target)]
    out(f"[conda] creating {target} with {' '.join(specs)}")
    argv = [sys.executable, "-I", "-m", "pinokiocloud.envs.conda_cli", "--base", str(base), "create", "-y",
            *flag, *specs]
    code, text = await venv.capture(argv, env, CREATE_TIMEOUT_S, out)
    if code != 0:
        last = (text.strip().splitlines() or [f"exit code {code}"])[-1].removeprefix("conda error: ")
        raise EnvError(f"could not create the conda env {target}: {last}")


async def for_shell(params: Mapping[str, object], *, cwd: Path, env: Mapping[str, str], home: Path,
                    out: Callable[[str], object]) -> Activation:
    """The environment and the commands that activate what the step's ``conda``/``venv`` params ask for."""
    await asyncio.to_thread(tools.ensure_shims, home)
    base = conda.base_prefix(home)
    hook = f". {shlex.quote(str(base / 'etc' / 'profile.d' / 'conda.sh'))}"
    spec = _conda_spec(params)
    shell_env = dict(env)
    commands = [hook]
    if spec.get("skip"):
        shell_env["PATH"] = shell_env.get("PATH", "") + f":{base / 'bin'}:{base / 'condabin'}"
    elif isinstance(activate := spec.get("activate"), list):
        commands += [str(c) for c in activate]
    else:
        target = base
        if spec.get("name") and spec.get("activate") != "minimal":
            target = base if spec["name"] == "base" else base / "envs" / str(spec["name"])
        elif spec.get("path") and spec.get("activate") != "minimal":
            target = (cwd / str(spec["path"])).resolve()
        if target != base and (not conda.is_prefix(target) or conda.pending_specs(target) is not None):
            await _create(target, spec, params, shell_env, base, out)
        shell_env = conda.activate_env(shell_env, target, base)
        if not spec:
            shell_env["PIP_REQUIRE_VIRTUALENV"] = "true"
        commands += [f". {shlex.quote(str(s))}" for s in conda.activation_scripts(target)]
    cuda = tools.cuda_home(home, shell_env.get("PATH"))
    if cuda:
        shell_env.setdefault("CUDA_HOME", cuda)
    name, python = venv.venv_spec(params)
    if name:
        folder = (cwd / name).resolve()
        if not venv.exists(folder):
            try:
                await venv.create_venv(folder, python, shell_env, out)
            except venv.VenvError as exc:
                raise EnvError(str(exc)) from exc
        commands.append(venv.activation(folder))
    return Activation(shell_env, commands)
