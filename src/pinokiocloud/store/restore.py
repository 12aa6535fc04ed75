"""A fresh machine with the same persistent root picks up where the last one ended.

Two steps. :func:`restore_state` runs before the daemon opens its state file: a home without one gets the
backup from ``ROOT/state`` (checked; paths of the old ``PINOKIO_HOME`` rewritten to the new one), so the app
registry, settings, shares' settings, ``global``/``local`` memory and run history come back. Then
:class:`AppRestorer` (a background task of the daemon) puts each registered app whose folder is missing
back: by extracting its environment archive and linking its models from the blob store, or, when the
archive is missing, stale, damaged or for another Python/platform, by the launcher's install flow (the
reason in one line). Apps that were running start again (autorestore).

This module stays in the store layer: the install flow and run starts are handed in as callables.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import tarfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zstandard

from pinokiocloud.errors import StoreError
from pinokiocloud.store.appdata import restore_app_data, restore_drive_registry
from pinokiocloud.store.backup import BACKUP_FILE, MANIFEST_FILE, read_manifest
from pinokiocloud.store.blobs import BlobStore
from pinokiocloud.store.db import Store
from pinokiocloud.store.envarchive import Unpacked, check_archive, commit_unpacked, unpack_archive

if TYPE_CHECKING:
    from pinokiocloud.store.early import EarlyJob, EarlyRestore

__all__ = ["AppRestore", "AppRestorer", "RestoredState", "archive_setting", "restore_state"]

log = logging.getLogger(__name__)


def archive_setting(name: str) -> str:
    """The settings key holding the id of the archive made after ``name``'s last successful install/update."""
    return f"envarchive:{name}"


@dataclass(frozen=True, slots=True)
class RestoredState:
    restored: bool
    notice: str | None
    """One sentence for the log and ``up``: what was restored, or why the backup could not be used."""
    old_home: str | None = None


def _move_path(value: str, old: str, new: str) -> str:
    if value == old or value.startswith(old.rstrip("/") + "/"):
        return new + value[len(old):]
    return value


def restore_state(db_path: Path, root: Path, *, home: Path) -> RestoredState:
    """Copy the backup into ``db_path`` when the home has no state file yet. Never touches the backup; a
    damaged one is named and the daemon starts empty."""
    backup = root / "state" / BACKUP_FILE
    if db_path.exists() or not backup.is_file():
        return RestoredState(False, None)
    manifest = read_manifest(root / "state") or {}
    old_home = str(manifest.get("home") or "")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = db_path.with_name(f".{db_path.name}.restore-{uuid.uuid4().hex[:8]}")
    try:
        shutil.copyfile(backup, tmp)
        db = sqlite3.connect(tmp)
        try:
            row = db.execute("PRAGMA quick_check").fetchone()
            if not row or row[0] != "ok":
                raise sqlite3.DatabaseError(str(row[0]) if row else "no answer")
            apps = [r[0] for r in db.execute("SELECT name FROM apps ORDER BY name")]
            if old_home and old_home != str(home):
                with db:
                    for name, path in list(db.execute("SELECT name, path FROM apps")):
                        db.execute("UPDATE apps SET path=? WHERE name=?", (_move_path(path, old_home, str(home)), name))
                    for key, path in list(db.execute("SELECT key, path FROM runs")):
                        db.execute("UPDATE runs SET path=? WHERE key=?", (_move_path(path, old_home, str(home)), key))
        finally:
            db.close()
        tmp.replace(db_path)
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        aside = backup.with_name(f"{backup.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:  # kept, renamed: new backups of this home may then be written
            backup.replace(aside)
            (root / "state" / MANIFEST_FILE).unlink(missing_ok=True)
            kept = f"it was kept as {aside}"
        except OSError:
            kept = "it is left as it is"
        return RestoredState(False, f"the state backup {backup} could not be used ({exc}); starting with an empty "
                                    f"state ({kept})")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(manifest.get("at") or backup.stat().st_mtime)))
    names = f"{len(apps)} app(s) ({', '.join(apps)})" if apps else "no apps"
    return RestoredState(True, f"restored the state backed up at {when} from {backup}: {names}", old_home or None)


@dataclass
class AppRestore:
    """Where one app's restore stands, for the API and the dashboard."""

    name: str
    state: str = "waiting"
    """``waiting``, ``extracting``, ``restored``, ``installing`` (the fallback), ``installed``, ``failed``."""
    done_bytes: int = 0
    total_bytes: int = 0
    reason: str | None = None
    """Why the archive was not used (the fallback's one line), or why the restore failed."""
    seconds: float | None = None

    def line(self) -> str:
        if self.state == "extracting" and self.total_bytes:
            return (f"restoring {self.name}: {self.done_bytes / 1e9:.1f} of {self.total_bytes / 1e9:.1f} GB "
                    "(compressed)")
        if self.reason:
            return f"{self.name}: {self.state}; {self.reason}"
        return f"{self.name}: {self.state}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "done_bytes": self.done_bytes,
                "total_bytes": self.total_bytes, "reason": self.reason, "seconds": self.seconds, "line": self.line()}


InstallFlow = Callable[[str], Awaitable[bool]]
"""Runs the launcher's install flow for an app whose folder is missing (clone/copy, then install); True when
it finished well (the app may then start)."""
StartRuns = Callable[[str], Awaitable[int]]
"""Starts again what was running of an app before the last machine ended; returns how many."""


@dataclass
class AppRestorer:
    store: Store
    blobs: BlobStore
    root: Path
    home: Path
    install: InstallFlow
    start_runs: StartRuns
    allow_python_download: bool = True
    early: EarlyRestore | None = None
    """Archives ``serve`` began writing out before the daemon loaded (``store.early``)."""
    apps: dict[str, AppRestore] = field(default_factory=dict)

    def pending(self) -> list[str]:
        """Registered apps whose folder is not in this home."""
        return [a.name for a in self.store.apps() if not (self.home / "api" / a.name).exists()]

    def prepare(self) -> list[str]:
        """List the apps to put back (``waiting``) before the daemon answers, so the first ``/api/store`` a
        client reads (``up``, the dashboard) already says what is being restored."""
        names = self.pending()
        for name in names:
            self.apps.setdefault(name, AppRestore(name))
        return names

    async def run(self) -> dict[str, AppRestore]:
        """Restore every pending app, one after the other (one large sequential read at a time). First the
        files kept outside the apps' folders: the drive registry and the store's links into the home (shared
        drive folders, hub caches), so an app finds its models when it starts."""
        names = list(self.apps) if self.apps else await asyncio.to_thread(self.pending)
        for name in names:
            self.apps.setdefault(name, AppRestore(name))
        if names:
            try:
                await asyncio.to_thread(restore_drive_registry, self.home, self.root)
                linked, size = await asyncio.to_thread(self.blobs.relink_home, self.home)
            except (OSError, StoreError) as exc:
                log.warning("the shared drive folders could not be linked back from the model store: %s", exc)
            else:
                if linked:
                    log.info("linked %d file(s) (%d bytes) back into %s from the model store", linked, size,
                             self.home)
        for name in names:
            await self.restore_one(name)
        return self.apps

    async def restore_one(self, name: str) -> AppRestore:
        entry = self.apps.setdefault(name, AppRestore(name))
        started = time.monotonic()
        app_dir = self.home / "api" / name
        job = self.early.take(name) if self.early is not None else None
        try:
            unpacked, reason = await (self._from_early(job, entry) if job is not None
                                      else self._unpack(name, app_dir, entry))
            if unpacked is not None:
                await asyncio.to_thread(commit_unpacked, unpacked, app_dir)
        except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
            reason = f"the archive of {name} is damaged or could not be extracted ({exc})"
        else:
            if reason is None:
                linked, size = await self._relink(name, app_dir)
                entry.state, entry.seconds = "restored", time.monotonic() - started
                log.info("restored %s from its archive in %.1f s (%d model file(s), %d bytes linked)",
                         name, entry.seconds, linked, size)
                await self._start(name, entry)
                return entry
        entry.reason = reason
        entry.state = "installing"
        log.warning("%s; installing %s instead", reason, name)
        try:
            installed = await self.install(name)
        except Exception as exc:  # the fallback's own error is the user's next line, not a crash of the task
            entry.state, entry.reason = "failed", f"{reason}; the install flow failed too: {exc}"
            log.warning("could not restore %s: %s", name, entry.reason)
            return entry
        entry.seconds = time.monotonic() - started
        if installed:
            entry.state = "installed"
            await self._relink(name, app_dir)
            await self._start(name, entry)
        else:
            entry.state, entry.reason = "failed", f"{reason}; the install flow did not finish"
        return entry

    async def _unpack(self, name: str, app_dir: Path, entry: AppRestore) -> tuple[Unpacked | None, str | None]:
        """Check the archive, then write it out next to ``app_dir``; (unpacked, None) or (None, why not)."""
        expected = self.store.setting(archive_setting(name))
        manifest, reason = await asyncio.to_thread(
            check_archive, self.root, name, app_dir, expected_id=expected if isinstance(expected, str) else None,
            allow_python_download=self.allow_python_download)
        if reason is not None or manifest is None:
            return None, reason or f"the archive of {name} cannot be read"
        entry.state, entry.total_bytes = "extracting", int(manifest.get("size") or 0)

        def progress(done: int, total: int) -> None:
            entry.done_bytes, entry.total_bytes = done, total

        return await asyncio.to_thread(unpack_archive, self.root, name, app_dir, manifest, progress), None

    @staticmethod
    async def _from_early(job: EarlyJob, entry: AppRestore) -> tuple[Unpacked | None, str | None]:
        """What ``serve`` began writing out before the daemon loaded (``store.early``), its progress shown
        meanwhile."""
        waiting = asyncio.wrap_future(job.result)
        while True:
            done, _ = await asyncio.wait({waiting}, timeout=0.2)
            if job.checked:
                entry.state = "extracting"
                entry.done_bytes, entry.total_bytes = job.done_bytes, job.total_bytes
            if done:
                return waiting.result(), job.reason

    async def _relink(self, name: str, app_dir: Path) -> tuple[int, int]:
        """Models back from the blob store, outputs and configs back from the root; (model files, bytes)."""
        try:
            linked = await asyncio.to_thread(self.blobs.relink_app, name, app_dir, home=self.home)
            await asyncio.to_thread(restore_app_data, self.root, name, app_dir)
        except (OSError, StoreError) as exc:  # the app runs; what is missing, its own steps fetch again
            log.warning("%s: not everything kept on the persistent root could be put back: %s", name, exc)
            return 0, 0
        return linked

    async def _start(self, name: str, entry: AppRestore) -> None:
        try:
            started = await self.start_runs(name)
        except Exception as exc:  # a launcher that fails to start stays installed; its error is shown
            entry.reason = f"restored, but it could not be started again: {exc}"
            log.warning("%s: %s", name, entry.reason)
            return
        if started:
            log.info("started %d script(s) of %s again", started, name)
