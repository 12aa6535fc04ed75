"""One owner per ``PINOKIO_HOME``: ``daemon.lock``, an ``flock`` the daemon holds for its whole life (DESIGN §5).

The daemon takes the lock as its very first act, before it reaps orphans, opens the store or binds a port, so
a second daemon for the same home refuses before it can touch anything. Clients decide "is a daemon running?"
by the lock, never by a timeout: a slow daemon still holds it, a dead one no longer does (the kernel drops an
``flock`` with the last descriptor of its holder). The file also says which process holds it and where it
listens, so a client can check that a listener is really its daemon before it sends the token.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from pinokiocloud.errors import DaemonRunningError

__all__ = ["LOCK_NAME", "START_REPORT_ENV", "HomeLock", "LockHolder", "lock_holder"]

LOCK_NAME = "daemon.lock"
START_REPORT_ENV = "PINOKIOCLOUD_START_REPORT"
"""Where a daemon that a client started writes why it could not start (one JSON object), for the client."""
_READER_GRACE_S = 0.3
"""How long ``acquire`` retries while only readers (clients checking the lock for a moment) are in the way."""


@dataclass(frozen=True, slots=True)
class LockHolder:
    """What the holder of ``daemon.lock`` wrote: its pid and, once its socket is bound, its port."""

    pid: int | None
    port: int | None
    ready: bool
    """The daemon has finished starting (store open, apps restored) and answers requests."""

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None


def _parse(text: str) -> LockHolder:
    try:
        data = json.loads(text)
    except ValueError:
        return LockHolder(None, None, False)  # being (re)written, or not yet written
    if not isinstance(data, dict):
        return LockHolder(None, None, False)
    pid, port = data.get("pid"), data.get("port")
    return LockHolder(pid if isinstance(pid, int) else None, port if isinstance(port, int) else None,
                      data.get("ready") is True)


def lock_holder(home: Path) -> LockHolder | None:
    """The daemon that owns ``home`` now, or ``None`` when no process holds its lock."""
    path = home / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _parse(os.pread(fd, 4096, 0).decode(errors="replace"))
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class HomeLock:
    """The daemon's side: take the lock, say where it listens, keep it until the process ends."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / LOCK_NAME
        self._fd: int | None = None
        self._port: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`DaemonRunningError` naming the daemon that has it.

        The descriptor is close-on-exec, so app processes the daemon starts never inherit the lock (an orphan
        must not keep a dead daemon's home "owned")."""
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + _READER_GRACE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:  # not a client looking for a moment: a daemon holds it
                    holder = _parse(os.pread(fd, 4096, 0).decode(errors="replace"))
                    os.close(fd)
                    raise DaemonRunningError(str(self.home), holder.pid, holder.url) from None
                time.sleep(0.02)
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o600)
        self._fd = fd
        self._write()

    def announce(self, port: int, *, ready: bool = False) -> None:
        """Record the bound port (and, later, that the daemon is ready) for clients."""
        self._port = port
        self._write(ready=ready)

    def _write(self, *, ready: bool = False) -> None:
        if self._fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "port": self._port, "ready": ready}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing drops the flock

