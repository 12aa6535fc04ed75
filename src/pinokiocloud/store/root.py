"""Which persistent root this daemon uses, and whether it can be used now.

The root is ``PINOKIOCLOUD_PERSIST`` (or the ``persist`` setting), else the platform's obvious volume
(``platform.persistent_root``: a mounted Drive's ``MyDrive/pinokiocloud``, ``/workspace/pinokiocloud`` …). A
root that is missing, not mounted, read-only or full is not used: the reason is one sentence, and the session
runs on ``PINOKIO_HOME`` alone (the store still deduplicates within the session, nothing is kept).
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MIN_ROOT_FREE_BYTES", "RootChoice", "check_root"]

MIN_ROOT_FREE_BYTES = 256 * 1024 * 1024
"""Below this much free space the root is treated as full: a backup or an archive would not fit."""


@dataclass(frozen=True, slots=True)
class RootChoice:
    path: Path | None
    """The usable persistent root, or None."""
    source: str
    """``PINOKIOCLOUD_PERSIST``, ``setting``, ``platform`` or ``none``."""
    reason: str | None
    """Why a root that was asked for is not used (one sentence), else None."""
    wanted: Path | None = None
    """The root that was asked for, usable or not."""

    @property
    def in_use(self) -> bool:
        return self.path is not None


def check_root(wanted: Path | None, source: str, *, must_exist: bool = True,
               min_free: int = MIN_ROOT_FREE_BYTES) -> RootChoice:
    """Use ``wanted`` if it is a writable folder with room; else say why not. With ``must_exist=False`` the
    last folder (``…/pinokiocloud`` under a mounted volume) may be created."""
    if wanted is None:
        return RootChoice(None, "none", None)
    base = wanted if must_exist else wanted.parent
    if not base.is_dir():
        what = "does not exist" if not base.exists() else "is not a folder"
        return RootChoice(None, source, f"the persistent folder {base} {what} (is the drive or volume mounted?); "
                                        "nothing is kept after this session until it is there", wanted)
    try:
        wanted.mkdir(parents=True, exist_ok=True)
        probe = wanted / f".write-test-{uuid.uuid4().hex[:8]}"
        with open(probe, "wb") as fh:
            fh.write(b"ok")
            fh.flush()
            os.fsync(fh.fileno())
        probe.unlink()
    except OSError as exc:
        return RootChoice(None, source, f"the persistent folder {wanted} cannot be written ({exc.strerror or exc}); "
                                        "nothing is kept after this session", wanted)
    free = shutil.disk_usage(wanted).free
    if free < min_free:
        return RootChoice(None, source, f"the persistent folder {wanted} is full ({free // (1024 * 1024)} MB free); "
                                        "free some space there to keep models and state", wanted)
    return RootChoice(wanted, source, None, wanted)
