"""One command in a PTY, watched from start to exit: output read asynchronously, events out, clean stops.

Why a PTY: programs see a terminal, so Python and most CLIs flush every line (output arrives while it is
written, not in 4 KiB blocks) and progress bars behave as they do for a person, as under the original's
node-pty. The child leads its own session and process group with the PTY as controlling terminal, so a
stop reaches the whole group at once; children that escaped it are found by ``tree.find_tree``.

Nothing here prints. Everything a caller may want (the ``on`` matcher, the run log, SSE, the CLI) comes
from ``ProcEvent``s given to ``on_event``, plus the raw log file and the in-memory ring.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import errno
import fcntl
import functools
import logging
import os
import signal
import struct
import termios
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil

from pinokiocloud.errors import BadParamError
from pinokiocloud.procs import cgroups, logfiles
from pinokiocloud.procs.cgroups import Cgroup
from pinokiocloud.procs.logfiles import RotatingLog
from pinokiocloud.procs.states import ALIVE, FINISHED, ProcState, can_move
from pinokiocloud.procs.text import TextDecoder
from pinokiocloud.procs.tree import TREE_TAG_ENV, find_tree, is_gone
from pinokiocloud.procs.usage import Usage, UsageSampler

__all__ = [
    "EXIT_DRAIN_S",
    "KILL_WAIT_S",
    "MIN_RUNTIME_S",
    "READ_CHUNK",
    "RING_BYTES",
    "STOP_GRACE_S",
    "TAIL_CHARS",
    "EventKind",
    "ExitKind",
    "ManagedProcess",
    "ProcEvent",
    "classify_exit",
]

log = logging.getLogger(__name__)
_Piece = TypeVar("_Piece", bytes, str)

STOP_GRACE_S = 5.0
"""Time between SIGTERM and SIGKILL: enough for a web server to close its sockets and flush."""
KILL_WAIT_S = 2.0
"""After SIGKILL, how long ``stop()`` waits for the kernel to remove the processes before giving up."""
EXIT_DRAIN_S = 0.5
"""After the command exits, how long to wait for end of output. Output written before the exit is read
at once; this only bounds the wait when an escaped child still holds the terminal open."""
STOP_POLL_S = 0.02
"""How often ``stop()`` looks whether the tree is gone during the grace period."""
READ_CHUNK = 65536
"""Bytes asked for per ``read()`` of the PTY (Linux hands out at most about 4 KiB per read)."""
READS_PER_WAKEUP = 64
"""Reads joined into one output event when output floods in, so a fast writer costs fewer events."""
RING_BYTES = 256 * 1024
"""Raw output kept in memory per process (the log file keeps everything)."""
TAIL_CHARS = 64 * 1024
"""Plain text kept in memory per process for ``tail()`` and crash reports."""
MIN_RUNTIME_S = 1.0
"""A server that ends sooner than this after start "exited too quickly" (Supervisor's ``startsecs``)."""
DEFAULT_TERM = "xterm-256color"
"""``TERM`` for a child whose environment has none: it does run in a terminal."""


class EventKind(str, enum.Enum):
    STARTED = "started"
    OUTPUT = "output"
    EXITED = "exited"
    STATE = "state"


@dataclass(frozen=True, slots=True)
class ProcEvent:
    """One thing that happened to a process.

    Order for one process: ``state`` (RUNNING), ``started``, any number of ``output``, ``exited``, then
    ``state`` with the end state; ``state`` STOPPING comes in between when ``stop()`` is called. No
    ``output`` follows ``exited``.
    """

    kind: EventKind
    name: str
    pid: int
    time: float
    """Wall-clock time (``time.time()``)."""
    data: bytes = b""
    """``output``: the raw bytes as read from the PTY (``\\r\\n`` line ends, colour codes)."""
    text: str = ""
    """``output``: the same output as plain text (no ANSI, ``\\n`` line ends). A piece that may continue
    in the next chunk (half an escape sequence, a final ``\\r``) is held back, so ``text`` can be empty."""
    exit_code: int | None = None
    """``exited``: the exit status, or ``-N`` when signal N ended the process (see ``ManagedProcess``)."""
    signal: int | None = None
    """``exited``: the signal number that ended the process, else ``None``."""
    state: ProcState | None = None
    """``state``: the new state."""
    previous: ProcState | None = None
    """``state``: the state before."""


class ExitKind(str, enum.Enum):
    """How a finished process ended, judged by ``classify_exit``."""

    STOPPED = "stopped"
    """We asked it to stop (``stop()``); its exit code does not matter."""
    OK = "ok"
    """Ended on its own with exit code 0."""
    CRASHED = "crashed"
    """Ended on its own with a non-zero code or by a signal we did not send."""
    TOO_QUICK = "too_quick"
    """Ended on its own before ``min_runtime_s``: for a server this means it never came up."""


def classify_exit(exit_code: int | None, stopped_by_us: bool, runtime_s: float,
                  min_runtime_s: float = MIN_RUNTIME_S) -> ExitKind:
    """Judge an exit the way Supervisor does (stopped / exited too quickly / bad exit code).

    ``exit_code`` follows ``ManagedProcess.exit_code`` (``-N`` for signal N). Pass ``min_runtime_s=0``
    for a command that is expected to end (an install step), so only its exit code counts.
    Raises ``ValueError`` for ``None``: a process without an exit code has not finished.
    """
    if exit_code is None:
        raise ValueError("the process has not finished, so it has no exit code to classify")
    if stopped_by_us:
        return ExitKind.STOPPED
    if runtime_s < min_runtime_s:
        return ExitKind.TOO_QUICK
    return ExitKind.OK if exit_code == 0 else ExitKind.CRASHED


def _take_terminal() -> None:
    """Runs in the child between fork and exec: make the PTY (already fd 0) the controlling terminal, as
    node-pty does, so ``\\x03`` interrupts, ``resize`` sends SIGWINCH and ``/dev/tty`` opens."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _enter_cgroup(group: Cgroup, terminal: bool = True) -> None:
    """Runs in the child between fork and exec: join the command's cgroup before anything of the command
    runs, so nothing it starts can be outside it. A failure is noticed by the parent (``contains``)."""
    with contextlib.suppress(OSError):
        group.join()
    if terminal:
        _take_terminal()


def _preexec(group: Cgroup | None, terminal: bool) -> Callable[[], None] | None:
    """What the child runs between fork and exec: take the PTY, join the cgroup, both, or nothing."""
    if group is not None:
        return functools.partial(_enter_cgroup, group, terminal)
    return _take_terminal if terminal else None


def _default_log_cap() -> int:
    try:
        return logfiles.log_max_bytes()
    except BadParamError as exc:
        log.warning("%s; using the default", exc)
        return logfiles.log_max_bytes({})


def _trim(ring: collections.deque[_Piece], size: int, limit: int) -> int:
    """Drop the oldest output of ``ring`` (whose pieces add up to ``size``) beyond ``limit``; new size."""
    while size > limit:
        excess = size - limit
        if len(ring[0]) <= excess:
            size -= len(ring.popleft())
        else:
            ring[0] = ring[0][excess:]
            size -= excess
    return size


def _check_size(cols: int, rows: int) -> None:
    if not (0 < cols < 65536 and 0 < rows < 65536):
        raise ValueError(f"a terminal of {cols} x {rows} characters is not possible; both must be 1 to 65535")


def _set_size(fd: int, cols: int, rows: int) -> None:
    _check_size(cols, rows)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class ManagedProcess:
    """A command in a PTY under supervision. Create it with ``await ManagedProcess.spawn(...)``.

    ``exit_code`` is ``None`` while the process runs, its exit status once it ended by itself, and
    ``-N`` when signal N ended it (``-15`` after a SIGTERM, ``-9`` after a SIGKILL), as in ``subprocess``.
    A shell that reports a child killed by a signal exits with ``128 + N`` instead: that is the shell's
    own exit status.
    """

    def __init__(self, argv: Sequence[str], *, name: str, log_path: Path | None,
                 on_event: Callable[[ProcEvent], None] | None) -> None:
        """Use ``spawn``; this only sets up bookkeeping."""
        self.argv = tuple(argv)
        self.name = name or Path(argv[0]).name
        self.log_path = log_path
        self.tag = uuid.uuid4().hex
        """Value of ``TREE_TAG_ENV`` in this command's environment (see ``tree``)."""
        self._on_event = on_event
        self._state = ProcState.STARTING
        self._proc: asyncio.subprocess.Process | None = None
        self._pid = 0
        self._master = -1
        """Where output is read: the PTY's master side, or the read end of the output pipe."""
        self._input = -1
        """Where ``write()`` goes: the PTY's master side, or the write end of the stdin pipe."""
        self.terminal = True
        """Whether the command runs in a PTY (``spawn(terminal=False)``: plain pipes)."""
        self._log: RotatingLog | None = None
        self.cgroup: Cgroup | None = None
        """The command's own cgroup, where the machine allows one (``cgroups.probe``)."""
        self._decoder = TextDecoder()
        self._ring: collections.deque[bytes] = collections.deque()
        self._ring_size = 0
        self._text: collections.deque[str] = collections.deque()
        self._text_size = 0
        self._outbox = bytearray()
        self._writer_on = False
        self._reading = False
        self._eof = asyncio.Event()
        self._done = asyncio.Event()
        self._exit_code: int | None = None
        self._started_wall = 0.0
        self._started = 0.0
        self._ended: float | None = None
        self._stop_requested = False
        self._sent_kill = False
        self._stop_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._sampler: UsageSampler | None = None

    # --- starting -----------------------------------------------------------------------------------------

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str],
        env: Mapping[str, str],
        log_path: str | os.PathLike[str] | None = None,
        cols: int = 100,
        rows: int = 30,
        on_event: Callable[[ProcEvent], None] | None = None,
        name: str = "",
        log_max_bytes: int | None = None,
        terminal: bool = True,
    ) -> ManagedProcess:
        """Start ``argv`` in ``cwd`` with exactly ``env`` (plus ``TREE_TAG_ENV``, and ``TERM`` when
        missing) in a new PTY of ``cols`` x ``rows``. Raw output is appended to ``log_path`` (parent
        folders created), rotated so that the log's folder stays within ``log_max_bytes`` (default
        ``PINOKIOCLOUD_LOG_MAX_MB``; see ``logfiles.RotatingLog``). Where cgroups work the command starts
        in a cgroup of its own (``self.cgroup``). Returns once the process runs. A command or ``cwd`` that
        does not exist raises the ``OSError`` from exec (``FileNotFoundError``, ``PermissionError``) and
        leaves nothing behind.

        ``terminal=False`` runs the command without a PTY, for clients that must not see one (an ``ssh``
        that would otherwise wait at a password prompt, agents that draw a screen UI on a terminal):
        stdout and stderr go to one pipe, stdin is a pipe kept open until the command exits (``write()``
        feeds it), no ``TERM`` is added and ``cols``/``rows`` do not apply. Supervision is the same: its
        own session and process group, cgroup and tag, and ``stop()`` ends the whole tree.
        """
        if not argv:
            raise ValueError("argv is empty: there is no command to run")
        _check_size(cols, rows)
        self = cls(argv, name=name, log_path=Path(log_path) if log_path is not None else None, on_event=on_event)
        self.terminal = terminal
        child_env = dict(env)
        if terminal:
            child_env.setdefault("TERM", DEFAULT_TERM)
        child_env[TREE_TAG_ENV] = self.tag
        if self.log_path is not None:
            cap = log_max_bytes if log_max_bytes is not None else _default_log_cap()
            self._log = RotatingLog(self.log_path, cap)
        group = await asyncio.to_thread(self._make_cgroup)
        if terminal:
            master, slave = os.openpty()
            ours, theirs = [master], [slave]
            stdin, stdout, source = slave, slave, master
        else:
            (source, stdout), (stdin, feed) = os.pipe(), os.pipe()
            ours, theirs = [source, feed], [stdin, stdout]
        try:
            if terminal:
                _set_size(stdin, cols, rows)
            for fd in ours:
                os.set_blocking(fd, False)
            self._proc = await asyncio.create_subprocess_exec(
                *argv, stdin=stdin, stdout=stdout, stderr=stdout, cwd=cwd, env=child_env,
                start_new_session=True, preexec_fn=_preexec(group, terminal),
            )
        except BaseException:
            for fd in ours:
                os.close(fd)
            if self._log is not None:
                self._log.close()
            if group is not None:
                group.remove()
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        self._master = source
        self._input = ours[-1]
        self._pid = self._proc.pid
        if group is not None:
            if group.contains(self._pid):
                self.cgroup = group
            else:
                log.warning("%s (pid %d) did not join its cgroup %s; stop falls back to its process group "
                            "and tag", self.name, self._pid, group.path)
                group.remove()
        self._started_wall, self._started = time.time(), time.monotonic()
        loop = asyncio.get_running_loop()
        loop.add_reader(source, self._on_readable)
        self._reading = True
        self._set_state(ProcState.RUNNING)
        self._emit(ProcEvent(EventKind.STARTED, self.name, self._pid, self._started_wall))
        self._watch_task = loop.create_task(self._watch(), name=f"watch {self.name} ({self._pid})")
        return self

    def _make_cgroup(self) -> Cgroup | None:
        """A new cgroup for this command, or ``None`` where the machine has none to give (blocking)."""
        support = cgroups.probe()
        if not support.available or support.parent is None:
            return None
        try:
            return Cgroup.create(support.parent, self.tag)
        except OSError as exc:
            log.warning("could not create a cgroup for %s: %s; stop falls back to its process group and tag",
                        self.name, exc)
            return None

    # --- what callers read ----------------------------------------------------------------------------------

    @property
    def pid(self) -> int:
        """PID of the command; it is also the ID of its process group and session."""
        return self._pid

    @property
    def state(self) -> ProcState:
        return self._state

    @property
    def exit_code(self) -> int | None:
        """``None`` while running; the exit status; ``-N`` when signal N ended it (see the class doc)."""
        return self._exit_code

    @property
    def exit_signal(self) -> int | None:
        """The signal that ended the process, or ``None``."""
        return -self._exit_code if self._exit_code is not None and self._exit_code < 0 else None

    @property
    def stopped_by_us(self) -> bool:
        """Whether ``stop()`` was called while the process was alive."""
        return self._stop_requested

    @property
    def started_at(self) -> float:
        """Wall-clock start time (``time.time()``)."""
        return self._started_wall

    @property
    def runtime_s(self) -> float:
        """Seconds from start to exit, or to now while it runs."""
        end = self._ended if self._ended is not None else time.monotonic()
        return end - self._started

    def exit_kind(self, min_runtime_s: float = MIN_RUNTIME_S) -> ExitKind:
        """``classify_exit`` for this process; raises ``ValueError`` while it runs."""
        return classify_exit(self._exit_code, self._stop_requested, self.runtime_s, min_runtime_s)

    def tail(self, max_chars: int = TAIL_CHARS) -> str:
        """The most recent plain-text output, at most ``max_chars`` characters (for crash reports)."""
        if max_chars <= 0:
            return ""
        return "".join(self._text)[-max_chars:]

    def recent_output(self) -> bytes:
        """The most recent raw output, at most about ``RING_BYTES``."""
        return b"".join(self._ring)

    async def wait(self) -> int | None:
        """Wait until the process has exited AND its output has been read (every byte has gone to the
        events, the log and the ring), then return ``exit_code``."""
        await self._done.wait()
        return self._exit_code

    async def usage(self, *, gpu: bool = False) -> Usage:
        """Resources of the whole tree now (see ``usage.UsageSampler``); CPU % is since the last call."""
        if self._sampler is None:
            self._sampler = UsageSampler(self._pid, tag=self.tag, cgroup=self.cgroup)
        return await asyncio.to_thread(self._sampler.sample, gpu=gpu)

    # --- talking to it --------------------------------------------------------------------------------------

    def write(self, data: str | bytes) -> None:
        """Send ``data`` to the terminal, i.e. the child's stdin (``str`` as UTF-8). The terminal echoes
        it into the output as a terminal does. What the PTY cannot take now is queued and sent when it
        can. Raises ``BrokenPipeError`` once the process has finished."""
        if self._input < 0 or self._state in FINISHED:
            raise BrokenPipeError(f"{self.name} has exited; its input is closed")
        self._outbox += data.encode() if isinstance(data, str) else data
        self._flush_outbox()

    def resize(self, cols: int, rows: int) -> None:
        """Change the terminal size; the foreground program gets SIGWINCH. Ignored once the process has
        finished or runs without a terminal; a size outside 1..65535 raises ``ValueError``."""
        if self._master >= 0:
            if self.terminal:
                _set_size(self._master, cols, rows)
            else:
                _check_size(cols, rows)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """Stop the whole tree: SIGTERM to the process group and to every escaped descendant, up to
        ``grace_s`` for them to end, then SIGKILL to whatever is left (looked up again, so children
        forked during the grace are caught). Returns ``exit_code`` once the process and its output are
        finished. Idempotent: later and concurrent calls wait for the same stop. On a process that already
        ended by itself it still removes leftover descendants, and its state stays as it was."""
        if self._stop_task is None:
            if self._state in ALIVE:
                self._stop_requested = True
                self._set_state(ProcState.STOPPING)
            self._stop_task = asyncio.get_running_loop().create_task(self._terminate(grace_s))
        await asyncio.shield(self._stop_task)
        return self._exit_code

    # --- internals ------------------------------------------------------------------------------------------

    def _set_state(self, new: ProcState) -> None:
        """The only writer of ``state``: checks the transition table and publishes the change."""
        old = self._state
        if not can_move(old, new):
            raise RuntimeError(f"{self.name}: illegal state change {old.value} -> {new.value}")
        self._state = new
        self._emit(ProcEvent(EventKind.STATE, self.name, self._pid, time.time(), state=new, previous=old))

    def _emit(self, event: ProcEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            # A broken consumer must not stop the output of the process from being read.
            log.exception("on_event callback failed for %s (%s event)", self.name, event.kind.value)

    def _on_readable(self) -> None:
        chunks: list[bytes] = []
        at_eof = False
        for _ in range(READS_PER_WAKEUP):
            try:
                data = os.read(self._master, READ_CHUNK)
            except BlockingIOError:
                break
            except OSError as exc:
                # EIO is how Linux says "every slave fd is closed" (end of output).
                if exc.errno != errno.EIO:
                    log.warning("reading the terminal of %s failed: %s", self.name, exc)
                at_eof = True
                break
            if not data:
                at_eof = True
                break
            chunks.append(data)
        if chunks:
            self._take(b"".join(chunks))
        if at_eof:
            self._stop_reading()

    def _take(self, data: bytes) -> None:
        if self._log is not None:
            try:
                self._log.write(data)
            except OSError as exc:
                log.warning("writing the log of %s failed, log closed: %s", self.name, exc)
                self._log.close()
                self._log = None
        self._ring.append(data)
        self._ring_size += len(data)
        self._ring_size = _trim(self._ring, self._ring_size, RING_BYTES)
        text = self._decoder.feed(data)
        self._keep_text(text)
        self._emit(ProcEvent(EventKind.OUTPUT, self.name, self._pid, time.time(), data=data, text=text))

    def _keep_text(self, text: str) -> None:
        if not text:
            return
        self._text.append(text)
        self._text_size = _trim(self._text, self._text_size + len(text), TAIL_CHARS)

    def _stop_reading(self) -> None:
        if not self._reading:
            return
        self._reading = False
        asyncio.get_running_loop().remove_reader(self._master)
        rest = self._decoder.flush()
        if rest:
            self._keep_text(rest)
            self._emit(ProcEvent(EventKind.OUTPUT, self.name, self._pid, time.time(), text=rest))
        self._eof.set()

    def _flush_outbox(self) -> None:
        loop = asyncio.get_running_loop()
        while self._outbox and self._input >= 0:
            try:
                sent = os.write(self._input, self._outbox)
            except BlockingIOError:
                if not self._writer_on:
                    loop.add_writer(self._input, self._flush_outbox)
                    self._writer_on = True
                return
            except OSError as exc:
                log.warning("writing to the terminal of %s failed: %s", self.name, exc)
                self._outbox.clear()
                break
            del self._outbox[:sent]
        if self._writer_on:
            loop.remove_writer(self._input)
            self._writer_on = False

    async def _watch(self) -> None:
        """Wait for exit, then for the last output, then publish the end."""
        assert self._proc is not None
        try:
            code = await self._proc.wait()
            self._ended = time.monotonic()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._eof.wait(), EXIT_DRAIN_S)
            self._stop_reading()
        finally:
            # Also on cancellation (the event loop is closing): the descriptors must not leak. The
            # process itself is left alone; whoever closes the loop stops what it started first.
            self._release()
            self._drop_cgroup()  # empty unless children outlived the command; then stop() removes it
        self._exit_code = code
        self._emit(ProcEvent(EventKind.EXITED, self.name, self._pid, time.time(), exit_code=code,
                             signal=-code if code < 0 else None))
        if self._stop_requested:
            killed = self._sent_kill and code == -signal.SIGKILL
            self._set_state(ProcState.KILLED if killed else ProcState.STOPPED)
        else:
            self._set_state(ProcState.EXITED if code == 0 else ProcState.CRASHED)
        self._done.set()

    def _release(self) -> None:
        loop = asyncio.get_running_loop()
        if self._reading:
            self._reading = False
            loop.remove_reader(self._master)
        if self._writer_on:
            loop.remove_writer(self._input)
            self._writer_on = False
        if self._input >= 0 and self._input != self._master:
            os.close(self._input)
        self._input = -1
        if self._master >= 0:
            os.close(self._master)
            self._master = -1
        if self._log is not None:
            self._log.close()
            self._log = None

    def _main_alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def _signal(self, sig: signal.Signals, others: list[psutil.Process]) -> None:
        if self._main_alive():
            # While the command is not reaped its PID cannot be reused, so the group ID is still ours.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, sig)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._pid, sig)
        for proc in others:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)  # psutil checks the PID still names the same process

    def _others(self) -> list[psutil.Process]:
        """Every process of the tree but the command: group, session, tag, and the cgroup's members."""
        members = self.cgroup.pids() if self.cgroup is not None else ()
        return find_tree(self._pid, tag=self.tag, include_root=False, also=members)

    def _group_busy(self) -> bool:
        """Whether the cgroup still has a member besides the command (blocking read of one small file)."""
        return self.cgroup is not None and any(pid != self._pid for pid in self.cgroup.pids())

    async def _terminate(self, grace_s: float) -> None:
        others = await asyncio.to_thread(self._others)
        self._signal(signal.SIGTERM, others)
        deadline = time.monotonic() + grace_s
        while self._main_alive() or not all(is_gone(p) for p in others) or self._group_busy():
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(STOP_POLL_S)
        late = await asyncio.to_thread(self._others)
        left = {p.pid: p for p in [*others, *late] if not is_gone(p)}
        if self._main_alive() or left:
            self._sent_kill = self._main_alive()
            self._signal(signal.SIGKILL, list(left.values()))
            if self.cgroup is not None and not await asyncio.to_thread(self.cgroup.kill, KILL_WAIT_S):
                log.warning("%s: the cgroup %s still has members after a kill", self.name, self.cgroup.path)
            deadline = time.monotonic() + KILL_WAIT_S
            while any(not is_gone(p) for p in left.values()) and time.monotonic() < deadline:
                await asyncio.sleep(STOP_POLL_S)
        try:
            await asyncio.wait_for(self._done.wait(), KILL_WAIT_S + EXIT_DRAIN_S)
        except asyncio.TimeoutError:
            log.warning("%s (pid %d) did not go away after SIGKILL", self.name, self._pid)
        self._drop_cgroup()

    def _drop_cgroup(self) -> None:
        """Remove the cgroup once empty; one with leftover members stays for a later ``stop()``."""
        if self.cgroup is not None and self.cgroup.remove():
            self.cgroup = None
