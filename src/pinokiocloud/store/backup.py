"""State backups on the persistent root: the daemon's SQLite file (apps registry, settings, shares, ``global``
and ``local`` memory, runs) copied with SQLite's online backup API, written atomically, debounced.

``ROOT/state/pinokiocloud.db`` is always a whole, consistent database: the copy is made into a temporary
file next to the home's state file, checked, copied to ``ROOT/state/.pinokiocloud.db.<id>.tmp``, fsynced and
renamed over the old backup. ``ROOT/state/manifest.json`` (written the same way, after the database) says
which home, machine and time it came from, so a restore can rewrite paths for a new ``PINOKIO_HOME``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

from pinokiocloud.errors import StoreError
from pinokiocloud.store.atomic import write_atomic
from pinokiocloud.store.db import Store

__all__ = ["BACKUP_DEBOUNCE_S", "BACKUP_FILE", "LINEAGE_SETTING", "MANIFEST_FILE", "StateBackup", "read_manifest"]

log = logging.getLogger(__name__)

BACKUP_DEBOUNCE_S = 30.0
"""At most one backup per this many seconds while the state changes; one more on ``down``."""
BACKUP_FILE = "pinokiocloud.db"
LINEAGE_SETTING = "state_lineage"
MANIFEST_FILE = "manifest.json"


def read_manifest(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((state_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class StateBackup:
    """Backs up one daemon's store to ``root/state``. ``changed()`` is cheap; call it when state changed."""

    def __init__(self, store: Store, root: Path, *, home: Path, debounce_s: float = BACKUP_DEBOUNCE_S) -> None:
        self.store = store
        self.state_dir = root / "state"
        self.home = home
        self.debounce_s = debounce_s
        self.last_at: float | None = None
        self.last_error: str | None = None
        self._seen_changes = -1
        self._task: asyncio.Task[None] | None = None
        lineage = store.setting(LINEAGE_SETTING)
        if not isinstance(lineage, str) or not lineage:
            lineage = uuid.uuid4().hex
            store.put_setting(LINEAGE_SETTING, lineage)
        self.lineage: str = lineage
        """Which line of states this home continues: a restored home carries its backup's, a new one its own."""

    def _total_changes(self) -> int:
        with self.store._lock:
            return self.store._db.total_changes

    def backup_now(self) -> Path:
        """One backup, synchronously (call off the event loop). Raises :class:`StoreError` with one sentence
        when the root cannot take it (full, read-only, gone); the previous backup stays as it was."""
        changes = self._total_changes()
        theirs = read_manifest(self.state_dir)
        if theirs is not None and theirs.get("lineage") not in (None, self.lineage):
            at = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(theirs.get("at") or 0)))
            raise StoreError(f"{self.state_dir} holds the state of another PINOKIO_HOME ({theirs.get('home')}, backed "
                             f"up {at}) that this home did not start from; it is not overwritten: start PinokioCloud "
                             "with a new, empty PINOKIO_HOME to restore it, or move it away to back up this one")
        local = self.home / f".backup-{uuid.uuid4().hex[:8]}.db"
        try:
            dest = sqlite3.connect(local)
            try:
                with self.store._lock:
                    self.store._db.backup(dest)
                row = dest.execute("PRAGMA quick_check").fetchone()
                if not row or row[0] != "ok":
                    raise StoreError("the backup copy of the state failed its check; the previous backup is kept")
            finally:
                dest.close()
            self.state_dir.mkdir(parents=True, exist_ok=True)
            target = self.state_dir / BACKUP_FILE
            tmp = self.state_dir / f".{BACKUP_FILE}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                with open(local, "rb") as fin, open(tmp, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 4 * 1024 * 1024)
                    fout.flush()
                    os.fsync(fout.fileno())
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            manifest = {"lineage": self.lineage, "home": str(self.home), "machine": socket.gethostname(),
                        "platform": platform.system(),
                        "arch": platform.machine(), "at": time.time(), "size": target.stat().st_size}
            write_atomic(self.state_dir / MANIFEST_FILE, json.dumps(manifest, indent=2).encode())
        except sqlite3.Error as exc:
            raise StoreError(f"the state could not be backed up to {self.state_dir}: {exc}") from exc
        except OSError as exc:
            reason = "it is full" if exc.errno == 28 else str(exc.strerror or exc)
            raise StoreError(f"the state could not be backed up to {self.state_dir} ({reason}); the previous "
                             "backup is kept") from exc
        finally:
            local.unlink(missing_ok=True)
        self._seen_changes = changes
        self.last_at = time.time()
        self.last_error = None
        return target

    async def backup(self) -> bool:
        """One backup off the event loop; False (and the reason logged and kept) when it failed."""
        try:
            await asyncio.to_thread(self.backup_now)
        except StoreError as exc:
            if str(exc) != self.last_error:
                log.warning("%s", exc)
            self.last_error = str(exc)
            return False
        return True

    def start(self) -> None:
        """Back up every ``debounce_s`` while the state changes (a quiet daemon writes nothing)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="state backups")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.debounce_s)
            if self._total_changes() != self._seen_changes:
                await self.backup()

    async def close(self) -> bool:
        """Stop the timer and take the last backup (``down``)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        return await self.backup()
