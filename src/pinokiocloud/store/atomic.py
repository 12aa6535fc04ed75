"""Files written so a reader sees the old file or the whole new one, never a part (the state backup's
manifest, the archives' manifests, the drive registry). Its own module: the restore's worker needs it
without the backup's SQLite and event-loop machinery."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` so a reader sees the old file or the whole new one, never a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
