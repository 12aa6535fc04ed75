"""ManagedProcess against real bash and Python children: output, exit codes, input, stops, escaped trees."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from pinokiocloud.procs import EventKind, ExitKind, ManagedProcess, ProcState, classify_exit
from tests.procs.conftest import CHILD_ENV, Recorder, Spawn, gone, run

PY = sys.executable
SHORT_GRACE_S = 0.3


def test_python_output_arrives_promptly_through_the_pty_without_pythonunbuffered(spawn: Spawn) -> None:
    assert "PYTHONUNBUFFERED" not in CHILD_ENV

    async def body() -> None:
        rec = Recorder()
        started = time.monotonic()
        proc = await spawn([PY, "-c", "print('ready'); import time; time.sleep(30)"], on_event=rec)
        await rec.expect(r"ready\n", timeout_s=1.5)
        assert time.monotonic() - started < 1.5
        assert b"ready\r\n" in rec.data  # the terminal turns \n into \r\n; the text copy does not
        await proc.stop(grace_s=SHORT_GRACE_S)

    run(body())


def test_exit_code_and_event_order_of_a_command_that_fails(spawn: Spawn) -> None:
    async def body() -> None:
        rec = Recorder()
        proc = await spawn(["bash", "-c", "echo working; exit 3"], on_event=rec, name="step")
        assert await proc.wait() == 3
        assert proc.exit_code == 3 and proc.exit_signal is None
        assert proc.state is ProcState.CRASHED
        kinds = rec.kinds()
        assert kinds[:2] == [EventKind.STATE, EventKind.STARTED]
        assert kinds[-2:] == [EventKind.EXITED, EventKind.STATE]
        assert set(kinds[2:-2]) == {EventKind.OUTPUT}
        exited = rec.events[-2]
        assert (exited.exit_code, exited.signal, exited.pid, exited.name) == (3, None, proc.pid, "step")
        assert [(e.previous, e.state) for e in rec.events if e.kind is EventKind.STATE] == [
            (ProcState.STARTING, ProcState.RUNNING), (ProcState.RUNNING, ProcState.CRASHED)]
        assert rec.text == "working\n"

    run(body())


def test_exit_zero_is_exited(spawn: Spawn) -> None:
    async def body() -> None:
        proc = await spawn(["bash", "-c", "true"])
        assert await proc.wait() == 0
        assert proc.state is ProcState.EXITED

    run(body())


def test_death_by_a_signal_we_did_not_send_is_a_crash_with_a_negative_code(spawn: Spawn) -> None:
    async def body() -> None:
        suicide = "import os, signal, time; time.sleep(0.05); os.kill(os.getpid(), signal.SIGUSR1)"
        proc = await spawn([PY, "-c", suicide])
        assert await proc.wait() == -10
        assert proc.exit_signal == 10
        assert proc.state is ProcState.CRASHED
        assert proc.exit_kind(min_runtime_s=0) is ExitKind.CRASHED

    run(body())


def test_exits_on_its_own_are_classified_ok_crashed_or_too_quick(spawn: Spawn) -> None:
    async def body() -> None:
        ok = await spawn(["bash", "-c", "sleep 0.2"])
        bad = await spawn(["bash", "-c", "sleep 0.2; exit 1"])
        quick = await spawn(["bash", "-c", "exit 0"])
        for proc in (ok, bad, quick):
            await proc.wait()
        assert ok.exit_kind(min_runtime_s=0.1) is ExitKind.OK
        assert bad.exit_kind(min_runtime_s=0.1) is ExitKind.CRASHED
        assert quick.exit_kind(min_runtime_s=0.1) is ExitKind.TOO_QUICK
        assert quick.runtime_s < 0.1 < ok.runtime_s

    run(body())


def test_log_file_holds_the_raw_bytes_and_text_is_stripped(spawn: Spawn, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "app" / "shell-1.log"

    async def body() -> None:
        rec = Recorder()
        proc = await spawn(["bash", "-c", r"printf '\033[1;31mred\033[0m\n50%%\r100%%\n'"], log_path=log, on_event=rec)
        await proc.wait()
        raw = b"\x1b[1;31mred\x1b[0m\r\n50%\r100%\r\n"
        assert log.read_bytes() == raw
        assert rec.data == raw
        assert proc.recent_output() == raw
        assert rec.text == "red\n50%\n100%\n"
        assert proc.tail() == "red\n50%\n100%\n"
        assert proc.tail(5) == "100%\n"

    run(body())


def test_wait_returns_only_after_every_byte_of_output(spawn: Spawn, tmp_path: Path) -> None:
    size = 300_000
    log = tmp_path / "big.log"

    async def body() -> None:
        rec = Recorder()
        proc = await spawn([PY, "-c", f"import sys; sys.stdout.write('x' * {size} + 'END'); sys.stdout.flush()"],
                           on_event=rec, log_path=log)
        assert await proc.wait() == 0
        assert rec.data.endswith(b"END") and len(rec.data) == size + 3
        assert log.stat().st_size == size + 3
        assert len(proc.recent_output()) < size and proc.recent_output().endswith(b"xEND")
        assert proc.tail(4) == "xEND"

    run(body())


def test_write_reaches_a_child_reading_stdin(spawn: Spawn) -> None:
    async def body() -> None:
        rec = Recorder()
        proc = await spawn([PY, "-c", "print('name?'); s = input(); print('hello', s.upper())"], on_event=rec)
        await rec.expect("name?")
        proc.write("world\n")
        assert await proc.wait() == 0
        assert "hello WORLD\n" in rec.text
        with pytest.raises(BrokenPipeError):
            proc.write(b"late\n")

    run(body())


def test_terminal_size_is_set_and_resize_reaches_the_child(spawn: Spawn) -> None:
    child = ("import os, signal, sys\n"
             # os.write, not print: the signal can land while the first print is still flushing, and a
             # print inside print fails ("reentrant call")
             "signal.signal(signal.SIGWINCH, lambda *a: os.write(1, b'size %d %d\\n' % os.get_terminal_size(0)))\n"
             "print('size', *os.get_terminal_size(0), flush=True)\n"
             "sys.stdin.readline()\n")

    async def body() -> None:
        rec = Recorder()
        proc = await spawn([PY, "-c", child], cols=120, rows=40, on_event=rec)
        await rec.expect("size 120 40")
        proc.resize(80, 24)
        await rec.expect("size 80 24")
        proc.write("\n")
        assert await proc.wait() == 0

    run(body())


def test_stop_of_a_cooperative_process_is_quick_and_stopped(spawn: Spawn) -> None:
    async def body() -> None:
        rec = Recorder()
        proc = await spawn(["sleep", "30"], on_event=rec)
        started = time.monotonic()
        assert await proc.stop() == -15  # the default 5 s grace is not waited out
        assert time.monotonic() - started < 1.0
        assert proc.state is ProcState.STOPPED and proc.stopped_by_us
        assert proc.exit_kind() is ExitKind.STOPPED
        states = [e.state for e in rec.events if e.kind is EventKind.STATE]
        assert states == [ProcState.RUNNING, ProcState.STOPPING, ProcState.STOPPED]

    run(body())


def test_stop_sends_term_first_then_kill_after_the_grace(spawn: Spawn) -> None:
    child = ("import signal, time\n"
             "signal.signal(signal.SIGTERM, lambda *a: print('got TERM', flush=True))\n"
             "print('ready', flush=True)\n"
             "while True: time.sleep(0.05)\n")

    async def body() -> None:
        rec = Recorder()
        proc = await spawn([PY, "-c", child], on_event=rec)
        await rec.expect("ready")
        started = time.monotonic()
        assert await proc.stop(grace_s=SHORT_GRACE_S) == -9
        assert SHORT_GRACE_S <= time.monotonic() - started < SHORT_GRACE_S + 1.0
        assert "got TERM" in rec.text
        assert proc.state is ProcState.KILLED
        assert gone(proc.pid)

    run(body())


def test_stop_kills_escaped_grandchild_in_its_own_session(spawn: Spawn) -> None:
    async def body() -> None:
        rec = Recorder()
        escapee = "import os, time; os.setsid(); print('child=%d' % os.getpid(), flush=True); time.sleep(1000)"
        proc = await spawn(["bash", "-c", f'{PY} -c "{escapee}" & wait'], on_event=rec)
        pid = int((await rec.expect(r"child=(\d+)")).group(1))
        assert os.getsid(pid) == pid != proc.pid  # it left our session and group
        await proc.stop(grace_s=SHORT_GRACE_S)
        assert gone(pid)

    run(body())


def test_stop_kills_double_forked_daemon_that_ignores_term(spawn: Spawn) -> None:
    child = ("import os, signal, sys, time\n"
             "if os.fork() == 0:\n"
             "    os.setsid()\n"
             "    if os.fork() == 0:\n"
             "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
             "        print('daemon', os.getpid(), flush=True)\n"
             "        time.sleep(1000)\n"
             "    os._exit(0)\n"
             "os.wait()\n"
             "time.sleep(1000)\n")

    async def body() -> None:
        rec = Recorder()
        proc = await spawn([PY, "-c", child], on_event=rec)
        pid = int((await rec.expect(r"daemon (\d+)")).group(1))
        await proc.stop(grace_s=SHORT_GRACE_S)
        assert gone(pid)
        assert proc.state is ProcState.STOPPED  # the command itself honoured SIGTERM

    run(body())


def test_stop_is_idempotent_and_concurrent_calls_share_it(spawn: Spawn) -> None:
    async def body() -> None:
        proc = await spawn(["sleep", "30"])
        codes = await asyncio.gather(proc.stop(grace_s=SHORT_GRACE_S), proc.stop(grace_s=SHORT_GRACE_S))
        assert codes == [-15, -15]
        assert await proc.stop() == -15
        assert proc.state is ProcState.STOPPED

    run(body())


def test_stop_after_exit_removes_leftover_descendants_and_keeps_the_state(spawn: Spawn) -> None:
    async def body() -> None:
        rec = Recorder()
        # The child tells bash once it has left the session: a terminal hangs up its session on exit.
        escapee = "import os, time; os.setsid(); open('escaped', 'w').close(); time.sleep(1000)"
        cmd = (f'{PY} -c "{escapee}" </dev/null >/dev/null 2>&1 & echo child=$!; '
               "until [ -e escaped ]; do sleep 0.01; done")
        proc = await spawn(["bash", "-c", cmd], on_event=rec)
        assert await proc.wait() == 0
        pid = int((await rec.expect(r"child=(\d+)")).group(1))
        assert not gone(pid)
        assert await proc.stop(grace_s=SHORT_GRACE_S) == 0
        assert gone(pid)
        assert proc.state is ProcState.EXITED and not proc.stopped_by_us

    run(body())


def test_missing_command_raises_and_leaks_no_descriptor(tmp_path: Path) -> None:
    async def body() -> None:
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(FileNotFoundError):
            await ManagedProcess.spawn(["no-such-command-xyz"], cwd=tmp_path, env=CHILD_ENV,
                                       log_path=tmp_path / "x.log")
        with pytest.raises(FileNotFoundError):
            await ManagedProcess.spawn(["true"], cwd=tmp_path / "missing", env=CHILD_ENV)
        assert len(os.listdir("/proc/self/fd")) == before

    run(body())


def test_a_failing_event_consumer_does_not_stop_the_output(spawn: Spawn) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("consumer bug")

    async def body() -> None:
        proc = await spawn(["bash", "-c", "echo one; echo two"], on_event=broken)
        assert await proc.wait() == 0
        assert proc.tail() == "one\ntwo\n"

    run(body())


@pytest.mark.parametrize(("code", "stopped", "runtime_s", "kind"), [
    (0, False, 30.0, ExitKind.OK),
    (1, False, 30.0, ExitKind.CRASHED),
    (-9, False, 30.0, ExitKind.CRASHED),  # the OOM killer, not us
    (-15, True, 30.0, ExitKind.STOPPED),
    (137, True, 0.1, ExitKind.STOPPED),  # once we asked, how it ended does not matter
    (0, False, 0.2, ExitKind.TOO_QUICK),  # a server that returns at once never served
    (2, False, 0.2, ExitKind.TOO_QUICK),
])
def test_classify_exit(code: int, stopped: bool, runtime_s: float, kind: ExitKind) -> None:
    assert classify_exit(code, stopped, runtime_s) is kind


def test_classify_exit_of_a_step_that_may_end_at_once() -> None:
    assert classify_exit(0, False, 0.01, min_runtime_s=0) is ExitKind.OK
    assert classify_exit(1, False, 0.01, min_runtime_s=0) is ExitKind.CRASHED
    with pytest.raises(ValueError, match="not finished"):
        classify_exit(None, False, 1.0)


def test_an_impossible_terminal_size_is_refused_before_anything_starts(tmp_path: Path) -> None:
    async def body() -> None:
        with pytest.raises(ValueError, match="0 x 30"):
            await ManagedProcess.spawn(["true"], cwd=tmp_path, env=CHILD_ENV, cols=0)

    run(body())
