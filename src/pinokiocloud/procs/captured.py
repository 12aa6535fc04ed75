"""``run_captured``: a short helper command (``git clone``, ``git pull`` …) with its output, the one way the
daemon runs such commands. It runs in a session of its own, so a timeout or a cancel kills the whole group (git's
``git-remote-https`` holds the output pipe too) and waits for it: no zombie, nothing left writing into a folder
the caller is about to remove."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Captured", "run_captured", "run_captured_sync"]


@dataclass(frozen=True, slots=True)
class Captured:
    code: int | None
    """The exit code; ``None`` when the command ran past its time limit and was killed."""
    output: str
    """stdout and stderr together, decoded."""

    @property
    def timed_out(self) -> bool:
        return self.code is None

    @property
    def last_line(self) -> str:
        lines = self.output.strip().splitlines()
        return lines[-1] if lines else ""


async def run_captured(argv: Sequence[str], *, timeout_s: float, cwd: Path | None = None,
                       env: Mapping[str, str] | None = None) -> Captured:
    """Run ``argv`` to its end or to ``timeout_s``; a cancel kills the group too, then propagates."""
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=dict(env) if env is not None else None, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return Captured(None, "")
    return Captured(proc.returncode if proc.returncode is not None else 0, out.decode(errors="replace"))


def run_captured_sync(argv: Sequence[str], *, timeout_s: float, cwd: Path | None = None,
                      env: Mapping[str, str] | None = None) -> Captured:
    """``run_captured`` for code with no event loop (the CLI, worker threads): the same own session, and a timeout
    kills the whole group and waits. A command that cannot start (not installed) is exit code 127."""
    try:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env is not None else None,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as exc:
        return Captured(127, str(exc))
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except BaseException as exc:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
        return Captured(None, "")
    return Captured(proc.returncode, out.decode(errors="replace"))
