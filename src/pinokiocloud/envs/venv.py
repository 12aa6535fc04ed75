"""Python venvs for ``shell.run {venv}`` (spec §3.1.3), made with uv.

``uv venv --seed`` so ``pip`` exists inside, as scripts expect. The default Python is the original's 3.10
when uv can provide it, else the running interpreter, with a notice (DESIGN §4).
"""

from __future__ import annotations

import asyncio
import functools
import shlex
import shutil
import sys
import sysconfig
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pinokiocloud.errors import VenvError

__all__ = ["DEFAULT_VENV_PYTHON", "VENV_TIMEOUT_S", "VenvError", "activation", "capture", "create_venv", "exists",
           "uv_path", "venv_spec"]

DEFAULT_VENV_PYTHON = "3.10"
"""The original's venvs are Python 3.10 (its conda base); launchers pin packages for it."""
VENV_TIMEOUT_S = 600


# Before 3.12 CPython fills sysconfig's variables lazily and without a lock: two worker threads asking at once
# (uv.find_uv_bin asks for EXE) could read None from a half-filled dict and crash an app's start. Fill them now.
sysconfig.get_config_vars()

_UV_LOCK = threading.Lock()


def uv_path() -> str:
    """The uv of our own package (a dependency), else one on PATH."""
    with _UV_LOCK:
        return _find_uv()


@functools.cache
def _find_uv() -> str:
    try:
        import uv

        found: str | None = uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
    if not found:
        raise VenvError("uv is needed to create venvs and was not found; reinstall PinokioCloud (it ships uv)")
    return found


async def capture(argv: list[str], env: Mapping[str, str], timeout_s: float,
                  on_line: Callable[[str], object] | None = None) -> tuple[int, str]:
    """Run a helper off the event loop's back: its exit code and output (each line also to ``on_line``)."""
    proc = await asyncio.create_subprocess_exec(*argv, env=dict(env), stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL)
    lines: list[str] = []

    async def pump() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            lines.append(line)
            if on_line is not None:
                on_line(line)

    try:
        await asyncio.wait_for(asyncio.gather(pump(), proc.wait()), timeout_s)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, "\n".join([*lines, f"timed out after {timeout_s:g} s"])
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, "\n".join(lines)


def venv_spec(params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``venv: "env"`` or ``{path, python}``, plus ``venv_python``; a falsy venv means none."""
    venv = params.get("venv")
    python = params.get("venv_python")
    if isinstance(venv, dict):
        python = python or venv.get("python")
        venv = venv.get("path")
    return (str(venv) if venv else None), (str(python) if python else None)


def exists(venv: Path) -> bool:
    return (venv / "bin" / "activate").exists()


def activation(venv: Path) -> str:
    return f"source {shlex.quote(str(venv / 'bin' / 'activate'))}"


async def create_venv(venv: Path, python: str | None, env: Mapping[str, str], out: Callable[[str], object]) -> None:
    """``uv venv --seed`` with the wanted Python, falling back to this interpreter when none was asked for."""
    uv = uv_path()
    wanted = python or DEFAULT_VENV_PYTHON
    code, text = await capture([uv, "venv", "--seed", "--python", wanted, str(venv)], env, VENV_TIMEOUT_S)
    if code != 0 and python is None:
        reason = text.strip().splitlines()[-1] if text.strip() else f"exit code {code}"
        out(f"[venv] Python {wanted} is not available here ({reason}); "
            f"using Python {sys.version_info.major}.{sys.version_info.minor} instead")
        code, text = await capture([uv, "venv", "--seed", "--python", sys.executable, str(venv)], env,
                                   VENV_TIMEOUT_S)
    if code != 0:
        raise VenvError(f"could not create the venv {venv} with Python {wanted}: {text.strip()[-500:]}")
    out(f"[venv] created {venv}")
