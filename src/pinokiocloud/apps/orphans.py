"""Orphan reaping: processes a dead daemon of this home left running, stopped before anything restarts."""

from __future__ import annotations

import contextlib
from pathlib import Path

import psutil

from pinokiocloud.procs.tree import tagged_under

__all__ = ["ORPHAN_GRACE_S", "reap_orphans"]

ORPHAN_GRACE_S = 5.0
"""How long an orphan gets to end on SIGTERM before SIGKILL."""


def reap_orphans(home: Path, grace_s: float = ORPHAN_GRACE_S) -> int:
    """Stop processes a dead daemon of this PINOKIO_HOME left behind (tagged by the supervisor, working
    under the home): their runs are restarted fresh, and duplicates would hold ports and GPU memory.
    Blocks up to ``grace_s``: call it off the event loop. Returns how many were found."""
    mine = {p.pid for p in psutil.Process().children(recursive=True)}
    found = [proc for proc in tagged_under(home) if proc.pid not in mine]
    for proc in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(found, timeout=grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    return len(found)
