"""``pinokiocloud serve``: start one daemon for one ``PINOKIO_HOME``, in an order that can hurt nothing.

1. Take ``daemon.lock`` (a second daemon for the home stops here, having touched nothing).
2. Bind the port ourselves (a port held by another program is named at once, not after a blind wait).
3. Only then: make new files private, start writing out the apps a fresh home restores (store.early, while
   the web stack loads), open the store, reap the orphans of a dead predecessor, restore apps.

A start-up failure is one sentence on stderr and, when a client started us, in the report file it named
(``PINOKIOCLOUD_START_REPORT``), so the client can quote the daemon's own reason within a second or two.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import gc
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

from pinokiocloud.config import Settings
from pinokiocloud.errors import PinokioCloudError, PortInUseError, UserError
from pinokiocloud.home_lock import START_REPORT_ENV, HomeLock

__all__ = ["STARTUP_FAILED_EXIT", "bind_port", "main", "serve", "write_start_report"]


STARTUP_FAILED_EXIT = 2
"""The exit code of a daemon that could not start (the watchdog does not retry it)."""
SHUTDOWN_GRACE_S = 5
_PRIVATE = ("pinokiocloud.db", "pinokiocloud.db-wal", "pinokiocloud.db-shm", "daemon.token", "key.json",
            "daemon.lock", "daemon.pid")

log = logging.getLogger(__name__)


def _port_holder(port: int) -> str | None:
    """Which program listens on ``port`` (as far as this user may see), for the error message."""
    import psutil  # only for this message: the start of a restore does not wait for it

    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(conn.pid)
                command = " ".join(" ".join(proc.cmdline()).split())[:80] or proc.name()
                return f"pid {conn.pid}: {command}"
    return None


def bind_port(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port``, or :class:`PortInUseError` naming who holds the port."""
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on such sockets (else Nagle + delayed ACKs: ~44 ms a reply)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT from our last run is no obstacle
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(port, _port_holder(port)) from exc
        raise
    sock.set_inheritable(False)
    return sock


def _make_private(home: Path) -> None:
    """Everything the daemon writes from now on is 0600/0700; what an older version left is fixed too."""
    os.umask(0o077)
    with contextlib.suppress(OSError):
        os.chmod(home, 0o700)
    for name in _PRIVATE:
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(home / name, 0o600)
    logs = home / "logs"
    if logs.is_dir():
        with contextlib.suppress(OSError):
            os.chmod(logs, 0o700)
        for path in logs.rglob("*"):
            with contextlib.suppress(OSError):
                os.chmod(path, 0o700 if path.is_dir() else 0o600)


def _process_age() -> float:
    """Seconds since this process started (its start time in ``/proc``, in clock ticks since boot). The
    psutil way adds the boot time ``/proc/stat`` gives in whole seconds, so a log line said "1.7 s after the
    daemon's process started" for a daemon that answered 1.0 s after the command that started it."""
    try:
        with open(f"/proc/{os.getpid()}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def write_start_report(error: PinokioCloudError | OSError) -> None:
    """Tell the client that started us why we could not start (one JSON object)."""
    target = os.environ.get(START_REPORT_ENV)
    if not target:
        return
    if isinstance(error, PinokioCloudError):
        data = {"type": type(error).__name__, "message": str(error), "hint": error.hint,
                "user_error": isinstance(error, UserError), "fields": error.details()}
    else:
        data = {"type": type(error).__name__, "message": f"{error.strerror or error} ({error.filename or ''})",
                "hint": "", "user_error": False}
    with contextlib.suppress(OSError):
        Path(target).write_text(json.dumps(data))


def serve(settings: Settings, *, port: int | None = None) -> None:
    """Run the daemon in the foreground until it is stopped (SIGTERM, SIGINT, `pinokiocloud down`)."""
    started = time.monotonic() - _process_age()
    if port is not None:
        settings = dataclasses.replace(settings, port=port)
    lock = HomeLock(settings.home)
    lock.acquire()
    try:
        sock = bind_port(settings.port)
        lock.announce(settings.port)
        _make_private(settings.home)
        captured = not sys.stderr.isatty()  # started in the background: everything goes to a capped daemon.log
        if captured:
            from pinokiocloud.procs.logfiles import configure_daemon_logging

            configure_daemon_logging(settings.home / "logs" / "daemon.log")
        from pinokiocloud.store.early import EarlyRestore

        # a restore's files are written (the kernel's work, on the other core) while the web stack loads
        early = EarlyRestore.begin(settings)
        from pinokiocloud.kernel.bridge import prestart_node
        from pinokiocloud.kernel.node_packages import restore_node_packages

        if early.root.path is not None:  # a new home's sidecar packages come from the root, not from npm
            why = restore_node_packages(settings.node_modules, home=settings.home, root=early.root.path)
            if why is not None:
                log.info("the sidecar's npm packages are not taken from the persistent root (%s); the sidecar's start "
                         "installs them with npm", why)
        # node starts too (its first answer takes 0.12-0.15 s), while the web stack loads
        node = prestart_node(settings.node, node_modules=settings.node_modules, environ=settings.environ)
        import uvicorn  # the heavy imports come after the checks, so a refusal is quick

        from pinokiocloud.server.app import create_app
        from pinokiocloud.server.daemon import Daemon

        pid_file = settings.home / "daemon.pid"
        pid_file.write_text(f"{os.getpid()}\n")
        def ready() -> None:
            lock.announce(settings.port, ready=True)
            # what start-up made lives as long as the daemon: out of the collector's way, a full collection
            # no longer walks it (measured under 50 clients: 100-300 ms pauses of the loop, about once in 30 s)
            gc.freeze()
            log.info("answering on 127.0.0.1:%d, %.1f s after the daemon's process started", settings.port,
                     time.monotonic() - started)

        app = create_app(settings, Daemon(settings, lock=lock, early=early, node=node), on_ready=ready)
        # loop="asyncio", never uvloop (SkyPilot installs it and uvicorn would pick it): app processes are
        # spawned with a preexec_fn, which fails under uvloop ("Exception occurred in preexec_fn")
        config = uvicorn.Config(app, loop="asyncio", log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
                                lifespan="on", log_config=None if captured else uvicorn.config.LOGGING_CONFIG)
        server = uvicorn.Server(config)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
            with contextlib.suppress(OSError):
                if pid_file.read_text().strip() == str(os.getpid()):
                    pid_file.unlink()
        failed = app.state.startup_error
        if failed is not None:
            raise failed
    finally:
        lock.release()


def main(port: int | None = None) -> int:
    """``serve`` with its start-up errors as one sentence and exit code 2 (no CLI machinery imported: the
    watchdog runs ``python -m pinokiocloud.server.serve`` so that a refusal comes back within a second)."""
    try:
        serve(Settings.from_env(), port=port)
    except (PinokioCloudError, OSError) as exc:
        write_start_report(exc)
        if os.environ.get("PINOKIOCLOUD_DEBUG") == "1":
            raise
        message = str(exc) if isinstance(exc, PinokioCloudError) else f"the daemon could not start: {exc}"
        hint = getattr(exc, "hint", "")
        print(f"error: {message}" + (f"\nhint: {hint}" if hint else ""), file=sys.stderr, flush=True)
        return STARTUP_FAILED_EXIT
    return 0


if __name__ == "__main__":
    sys.exit(main())
