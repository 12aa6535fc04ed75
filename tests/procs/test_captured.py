"""``run_captured``: a helper command that runs past its limit is killed with everything it started, and waited
for (no zombie, nothing left writing)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from pinokiocloud.procs.captured import Captured, run_captured, run_captured_sync


def test_output_and_exit_code() -> None:
    done = asyncio.run(run_captured(["bash", "-c", "echo out; echo err >&2; exit 3"], timeout_s=30))
    assert (done.code, done.timed_out, done.last_line) == (3, False, "err")
    assert done.output.splitlines() == ["out", "err"]


def test_the_sync_twin_gives_the_same_output_and_exit_code() -> None:
    done = run_captured_sync(["bash", "-c", "echo out; echo err >&2; exit 3"], timeout_s=30)
    assert (done.code, done.timed_out, done.last_line) == (3, False, "err")
    missing = run_captured_sync(["no-such-command-pinokiocloud"], timeout_s=30)
    assert missing.code == 127 and not missing.timed_out


def _async(argv: list[str], timeout_s: float) -> Captured:
    return asyncio.run(run_captured(argv, timeout_s=timeout_s))


@pytest.mark.parametrize("run", [_async, lambda argv, timeout_s: run_captured_sync(argv, timeout_s=timeout_s)],
                         ids=["async", "sync"])
def test_a_timeout_kills_the_whole_group_and_waits(tmp_path: Path, run: Callable[[list[str], float], Captured]) -> None:
    marker = tmp_path / "child.pid"
    began = time.monotonic()
    # the child holds the output pipe, as git-remote-https does for git: killing only bash would hang here
    done = run(["bash", "-c", f"sleep 60 & echo $! > {marker}; wait"], 1)
    assert done.timed_out and time.monotonic() - began < 10
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the child outlived the timeout"
        time.sleep(0.05)
