"""Starting a home's daemon: ``python -m pinokiocloud.watchdog`` (which runs ``serve``), detached, logging to
``logs/daemon.log``, with a report file for its start-up error.

A module of its own that loads only the standard library, the settings and the home's lock: the CLI's entry
point starts a fresh machine's daemon (and the restore that daemon begins) with :func:`start_early` before
it loads anything else, the HTTP client included (measured, with the package's names loaded on first use: the
watchdog started at +0.06 s after the call instead of +0.11 s). The first
:class:`~pinokiocloud.client.Client` of that home and port then takes the process as its own
(:func:`take_early`): it reports that daemon's start-up failure and never starts a second one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pinokiocloud.config import Settings
from pinokiocloud.home_lock import START_REPORT_ENV, lock_holder

__all__ = ["spawn", "start_early", "take_early"]

_early: tuple[Path, int, subprocess.Popen[bytes], Path] | None = None
"""(home, port, process, report) of the daemon :func:`start_early` started, until a client takes it."""


def spawn(settings: Settings) -> tuple[subprocess.Popen[bytes], Path]:
    """Start the watchdog and its daemon for ``settings``' home; (the watchdog's process, its report file)."""
    logs = settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    report = logs / f"start-{os.getpid()}-{os.urandom(4).hex()}.json"
    env = {**settings.process_environ, "PINOKIO_HOME": str(settings.home), "PINOKIOCLOUD_PORT": str(settings.port),
           "PINOKIOCLOUD_UI_PORT": str(settings.ui_port), START_REPORT_ENV: str(report)}
    with open(logs / "daemon.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pinokiocloud.watchdog"], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True, cwd=str(settings.home))
    return proc, report


def start_early(settings: Settings) -> bool:
    """Start the daemon of ``settings``' home now, when no process owns that home (the CLI's entry point, for
    ``up``/``status``/``ls``, before it loads Typer and the commands); whether it did."""
    global _early
    if _early is not None or lock_holder(settings.home) is not None:
        return False
    proc, report = spawn(settings)
    _early = (settings.home, settings.port, proc, report)
    return True


def take_early(settings: Settings) -> tuple[subprocess.Popen[bytes], Path] | None:
    """The daemon :func:`start_early` started for ``settings``' home and port (once), else ``None``."""
    global _early
    if _early is None or _early[:2] != (settings.home, settings.port):
        return None
    _, _, proc, report = _early
    _early = None
    return proc, report
