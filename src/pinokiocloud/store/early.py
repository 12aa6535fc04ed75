"""The restore's heavy half, begun before the daemon loads its web stack.

A fresh machine's daemon spends its first seconds importing FastAPI and the rest; a restore spends its time
writing thousands of files, which is the kernel's work on another core. So ``serve``, once it holds the
home's lock, picks the persistent root, puts the state backup in place and starts writing out every
restorable app's archive next to its folder (``store.envarchive.unpack_archive``) on a thread of its own,
while the rest of the daemon loads. The daemon's :class:`~pinokiocloud.store.restore.AppRestorer` then takes
each unpacked folder (it renames it into place, links the models, starts the app), so nothing an app could
see appears before the restorer would have put it there. A job the daemon never takes is removed on close.
"""

from __future__ import annotations

import logging
import shutil
import tarfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from pinokiocloud.config import Settings
from pinokiocloud.errors import StoreError
from pinokiocloud.store import persist
from pinokiocloud.store.db import Store
from pinokiocloud.store.envarchive import Unpacked, check_archive, discard_unpacked, unpack_archive
from pinokiocloud.store.restore import RestoredState, archive_setting
from pinokiocloud.store.root import RootChoice

__all__ = ["EarlyJob", "EarlyRestore"]

log = logging.getLogger(__name__)


@dataclass
class EarlyJob:
    """One app's archive being written out: checked first, then unpacked (or why it cannot be)."""

    name: str
    app_dir: Path
    expected_id: str | None = None
    """The id of the archive of the app's last successful install or update (older ones are stale)."""
    reason: str | None = None
    """Why the archive cannot be used (the restorer falls back to the install flow), once checked."""
    manifest: dict[str, Any] | None = None
    done_bytes: int = 0
    total_bytes: int = 0
    result: Future[Unpacked | None] = field(default_factory=Future)
    """The unpacked folder; ``None`` when the archive cannot be used (``reason``); an exception when
    writing it out failed."""
    taken: bool = False
    """The restorer has it (it renames the folder into place, or falls back to the install flow)."""

    def progress(self, done: int, total: int) -> None:
        self.done_bytes, self.total_bytes = done, total


@dataclass
class EarlyRestore:
    root: RootChoice
    state: RestoredState
    jobs: dict[str, EarlyJob] = field(default_factory=dict)
    _thread: threading.Thread | None = None

    @classmethod
    def begin(cls, settings: Settings) -> EarlyRestore:
        """Choose the root, restore the state backup into a home without one, and start writing out the
        archives of the registered apps whose folder is missing (one after the other, on a thread)."""
        root = persist.choose_root(settings)
        state = persist.restore_state(settings.home, root)
        early = cls(root, state)
        if root.path is None:
            return early
        _remove_leftovers(settings.api_dir)
        db_path = settings.home / "pinokiocloud.db"
        if not db_path.is_file():
            return early
        try:
            store = Store(db_path)
        except StoreError as exc:  # the daemon's own open names the damage and sets the file aside
            log.info("the restore starts after the state file is checked: %s", exc)
            return early
        try:
            for app in store.apps():
                app_dir = settings.api_dir / app.name
                if not app_dir.exists():
                    expected = store.setting(archive_setting(app.name))
                    early.jobs[app.name] = EarlyJob(app.name, app_dir,
                                                    expected_id=expected if isinstance(expected, str) else None)
        finally:
            store.close()
        if early.jobs:
            log.info("writing out the archives of %s while the daemon loads", ", ".join(early.jobs))
            allow_download = settings.environ.get("UV_PYTHON_DOWNLOADS") != "never"
            early._thread = threading.Thread(target=early._run, args=(root.path, allow_download),
                                             name="restore: unpack archives", daemon=True)
            early._thread.start()
        return early

    def _run(self, root: Path, allow_download: bool) -> None:
        for job in self.jobs.values():
            try:
                manifest, reason = check_archive(root, job.name, job.app_dir, expected_id=job.expected_id,
                                                 allow_python_download=allow_download)
                job.manifest = manifest
                if reason is not None or manifest is None:
                    job.reason = reason or f"the archive of {job.name} cannot be read"
                    job.result.set_result(None)
                    continue
                job.total_bytes = int(manifest.get("size") or 0)
                job.result.set_result(unpack_archive(root, job.name, job.app_dir, manifest, job.progress))
            except (OSError, tarfile.TarError, zstandard.ZstdError, StoreError) as exc:
                job.result.set_exception(exc)
            except BaseException as exc:  # the restorer waits on every job: none may be left unsettled
                job.result.set_exception(exc)
                raise

    def take(self, name: str) -> EarlyJob | None:
        """The job of ``name`` for the restorer (at most once)."""
        job = self.jobs.get(name)
        if job is None or job.taken:
            return None
        job.taken = True
        return job

    def close(self) -> None:
        """Wait for the thread, then remove what was written out and never renamed into place (a daemon
        stopped before its restorer took every job; after a rename only an empty folder is left)."""
        for job in self.jobs.values():
            job.taken = True
            try:
                unpacked = job.result.result()
            except Exception:  # a failed job left nothing behind
                continue
            if unpacked is not None:
                discard_unpacked(unpacked)


def _remove_leftovers(api_dir: Path) -> None:
    """Folders a restore of a dead daemon was writing (the caller holds the home's lock: nobody owns them)."""
    if not api_dir.is_dir():
        return
    for path in api_dir.glob(".*.restore-*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
