"""Log files that cannot fill the disk: size-capped, rotated, newest kept; log lines of bounded length.

An app that prints a gigabyte must not leave a gigabyte of shell log, nor a request with a 10 MB body a
10 MB line in ``daemon.log``. Every writer here has a cap (``PINOKIOCLOUD_LOG_MAX_MB``, default
``DEFAULT_LOG_MAX_MB``):

- ``RotatingLog``: one append-only file (raw bytes or text lines). Past a quarter of the cap it becomes
  ``NAME.1`` (replacing the previous one) and a fresh file starts, then the oldest files of its folder are
  removed until the folder fits the cap, room for the fresh file included. One folder per app
  (``logs/shell/<app>/``) is how "per app" works.
- ``configure_daemon_logging``: the daemon's ``logging`` and its stdout/stderr into one rotating
  ``daemon.log``, every line cut to ``MAX_LINE_CHARS``.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from pinokiocloud.errors import BadParamError

__all__ = [
    "DEFAULT_LOG_MAX_MB",
    "LOG_MAX_ENV",
    "MAX_LINE_CHARS",
    "MAX_RECORD_CHARS",
    "RotatingLog",
    "TruncatingFormatter",
    "configure_daemon_logging",
    "folder_size",
    "log_max_bytes",
    "truncate",
]

log = logging.getLogger(__name__)

LOG_MAX_ENV = "PINOKIOCLOUD_LOG_MAX_MB"
DEFAULT_LOG_MAX_MB = 64.0
"""Cap of each app's shell-log folder, of each access log and of ``daemon.log`` (with their backups)."""
MIN_LOG_BYTES = 64 * 1024
"""The smallest cap accepted: below this a log could not hold one screen of output."""
MAX_LINE_CHARS = 4000
"""A longer line of ``daemon.log`` keeps its first characters and says how many more there were."""
MAX_RECORD_CHARS = 32000
"""A whole log record (a message with its traceback) is cut here."""
_PIPE_READ = 65536
_STDIO_LINE = MAX_LINE_CHARS - 256
"""A stdout/stderr line is cut here, leaving room for the record's time, level and name."""


def log_max_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The cap from ``PINOKIOCLOUD_LOG_MAX_MB`` (megabytes, fractions allowed), else the default.
    A value that is not a number of at least 0.0625 MB raises ``BadParamError``."""
    text = (os.environ if environ is None else environ).get(LOG_MAX_ENV, "").strip()
    if not text:
        return int(DEFAULT_LOG_MAX_MB * 1024 * 1024)
    try:
        value = float(text)
    except ValueError:
        raise BadParamError(f"{LOG_MAX_ENV} must be a number of megabytes, got {text!r}") from None
    if not value * 1024 * 1024 >= MIN_LOG_BYTES:
        raise BadParamError(f"{LOG_MAX_ENV} must be at least {MIN_LOG_BYTES / 1024 / 1024:g} MB, got {text!r}")
    return int(value * 1024 * 1024)


def folder_size(folder: Path) -> int:
    """Bytes of the regular files directly in ``folder``."""
    total = 0
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def prune_folder(folder: Path, cap: int, keep: set[Path]) -> int:
    """Remove the oldest files of ``folder`` (by modification time) until it fits ``cap``, never those in
    ``keep`` (files being written: removing an open file frees no disk). Returns the bytes removed."""
    files: list[tuple[float, int, Path]] = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    files.append((st.st_mtime, st.st_size, Path(entry.path)))
    total = sum(size for _, size, _ in files)
    removed = 0
    for _, size, path in sorted(files):
        if total <= cap:
            break
        if path in keep:
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        total -= size
        removed += size
    return removed


class RotatingLog:
    """An append-only log file whose folder stays within ``max_bytes``.

    The file rotates at a quarter of the cap; at each rotation (and on opening) the oldest other files of
    the folder (its own ``.1`` last, earlier runs, other shells) are removed until they fit the other
    three quarters. So the folder stays within the cap while at most four shells of one app write at once.
    Writes are unbuffered: what a process printed is on disk when it crashes the daemon.
    """

    def __init__(self, path: Path, max_bytes: int, *, whole_folder: bool = True) -> None:
        """``whole_folder=False`` caps only this file and its ``.1`` (each at half of ``max_bytes``): for
        a log that shares its folder with logs of other apps (``logs/share/<app>.access.log``)."""
        self.path = path
        self.max_bytes = max_bytes
        self.whole_folder = whole_folder
        self.file_bytes = max(max_bytes // 4 if whole_folder else max_bytes // 2, 1)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = open(path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._size = self._file.tell()
        self._prune()

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, data: bytes | str) -> None:
        """Append ``data`` (``str`` as UTF-8), rotating first when it would pass the file's share of the
        cap. A piece bigger than that share keeps its newest part. Raises ``OSError`` (disk full…)."""
        if self._file is None:
            raise ValueError(f"the log {self.path} is closed")
        raw = data.encode() if isinstance(data, str) else data
        if self._size + len(raw) > self.file_bytes and self._size > 0:
            self._rotate()
        if len(raw) > self.file_bytes:
            raw = raw[-self.file_bytes:]
        assert self._file is not None
        self._file.write(raw)
        self._size += len(raw)

    def _rotate(self) -> None:
        assert self._file is not None
        self._file.close()
        self._file = None
        os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._size = 0
        self._prune()

    def _prune(self) -> None:
        """Make the folder fit the cap with room for this file to grow to its full share."""
        if not self.whole_folder:
            return  # the rotation itself keeps this file and its .1 within the cap
        prune_folder(self.path.parent, self.max_bytes - (self.file_bytes - self._size), {self.path})

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


def truncate(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


class TruncatingFormatter(logging.Formatter):
    """A formatter whose every line is at most ``MAX_LINE_CHARS`` and whose record is at most
    ``MAX_RECORD_CHARS``: a huge value in a message or an exception ends as a short line."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, *, line_chars: int = MAX_LINE_CHARS,
                 record_chars: int = MAX_RECORD_CHARS) -> None:
        super().__init__(fmt, datefmt)
        self.line_chars = line_chars
        self.record_chars = record_chars

    def format(self, record: logging.LogRecord) -> str:
        # Cut the message before it is formatted, so a 10 MB argument is not copied whole again.
        message = record.getMessage()
        if len(message) > self.record_chars:
            record = logging.makeLogRecord({**record.__dict__, "msg": truncate(message, self.record_chars),
                                            "args": None})
        text = super().format(record)
        lines = [truncate(line, self.line_chars) for line in text.split("\n")]
        return truncate("\n".join(lines), self.record_chars)


DAEMON_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_daemon_logging(path: Path, *, max_bytes: int | None = None, level: int = logging.INFO,
                             capture_stdio: bool = True) -> logging.Handler:
    """Send the daemon's logging to ``path`` (``daemon.log``), rotated at half of ``max_bytes`` (default
    ``log_max_bytes()``) with one backup, every line cut by ``TruncatingFormatter``.

    With ``capture_stdio`` the process's stdout and stderr (file descriptors 1 and 2: uvicorn's own
    handlers, tracebacks, ``print``, C libraries) go through the same handler, so nothing reaches the file
    uncut and nothing keeps writing into a rotated-away file. Call it once, first thing in ``serve``; pass
    ``log_config=None`` to uvicorn so it keeps these handlers. Returns the handler.
    """
    cap = log_max_bytes() if max_bytes is None else max_bytes
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max(cap // 2, 1), backupCount=1,
                                                   encoding="utf-8", errors="replace")
    handler.setFormatter(TruncatingFormatter(DAEMON_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.raiseExceptions = False  # a failing write must not print to stderr, which comes back here
    logging.captureWarnings(True)
    if capture_stdio:
        _capture_stdio(handler)
    return handler


def _capture_stdio(handler: logging.Handler) -> None:
    """Point fds 1 and 2 at a pipe; a thread writes what comes out of it to ``handler``, line by line."""
    read_fd, write_fd = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or stream.fileno() not in (1, 2):
            setattr(sys, name, open(1 if name == "stdout" else 2, "w", buffering=1, closefd=False))  # noqa: SIM115
    logger = logging.getLogger("pinokiocloud.stdio")
    threading.Thread(target=_pump, args=(read_fd, handler, logger), name="daemon stdio", daemon=True).start()


def _pump(read_fd: int, handler: logging.Handler, logger: logging.Logger) -> None:
    """Read the stdio pipe until it closes; a long line is cut as it arrives (never held whole in memory)."""
    partial = bytearray()
    extra = 0

    def emit(line: bytes, more: int) -> None:
        text = line.decode("utf-8", "replace").rstrip("\r")
        if more:
            text += f"… [{more} more bytes]"
        record = logger.makeRecord(logger.name, logging.INFO, "(stdio)", 0, text, (), None)
        with contextlib.suppress(Exception):
            handler.handle(record)

    while True:
        try:
            chunk = os.read(read_fd, _PIPE_READ)
        except InterruptedError:
            continue
        except OSError:
            return
        if not chunk:
            if partial:
                emit(bytes(partial), extra)
            return
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            room = _STDIO_LINE - len(partial)
            partial += piece[:max(room, 0)]
            emit(bytes(partial), extra + max(len(piece) - max(room, 0), 0))
            partial.clear()
            extra = 0
        room = _STDIO_LINE - len(partial)
        partial += rest[:max(room, 0)]
        extra += max(len(rest) - max(room, 0), 0)
