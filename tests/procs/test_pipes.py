"""ManagedProcess without a terminal (``terminal=False``), as tunnel clients run: plain pipes, no TTY to prompt
on, the same supervision (exit codes, input, whole-tree stops)."""

from __future__ import annotations

import sys
from pathlib import Path

from pinokiocloud.procs import ProcState
from tests.procs.conftest import Recorder, Spawn, gone, run

PY = sys.executable
SHORT_GRACE_S = 0.3


def test_the_command_sees_no_terminal_and_its_output_and_exit_code_arrive(spawn: Spawn) -> None:
    async def body() -> None:
        rec = Recorder()
        script = "import os, sys; print(sys.stdin.isatty(), sys.stdout.isatty(), 'TERM' in os.environ, flush=True); " \
                 "print('on stderr', file=sys.stderr); sys.exit(4)"
        proc = await spawn([PY, "-c", script], env={"PATH": "/usr/bin:/bin"}, on_event=rec, terminal=False)
        assert await proc.wait() == 4
        assert proc.state is ProcState.CRASHED
        assert rec.text.splitlines() == ["False False False", "on stderr"]
        assert b"\r\n" not in rec.data  # no terminal turned \n into \r\n
        assert "on stderr" in proc.tail()

    run(body())


def test_stdin_stays_open_and_write_reaches_it(spawn: Spawn) -> None:
    async def body() -> None:
        rec = Recorder()
        proc = await spawn([PY, "-u", "-c", "import sys\nfor line in sys.stdin: print('got', line.strip())"],
                           on_event=rec, terminal=False)
        proc.write("hello\n")
        await rec.expect(r"got hello\n")
        proc.resize(80, 24)  # nothing to resize; not an error
        await proc.stop(grace_s=SHORT_GRACE_S)
        assert proc.state is ProcState.STOPPED

    run(body())


def test_stop_ends_the_whole_tree_and_waits(spawn: Spawn, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"

    async def body() -> None:
        rec = Recorder()
        # the helper leaves the process group, as some tunnel clients' helpers do
        proc = await spawn(["bash", "-c", f"setsid sleep 60 & echo $! > {marker}; echo started; wait"],
                           on_event=rec, terminal=False)
        await rec.expect("started")
        child = int(marker.read_text())
        assert not gone(child)
        await proc.stop(grace_s=SHORT_GRACE_S)
        assert proc.state in (ProcState.STOPPED, ProcState.KILLED)
        assert gone(child) and gone(proc.pid)

    run(body())
