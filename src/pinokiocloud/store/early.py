"""The restore's heavy half, begun before the daemon loads its web stack.

A fresh machine's daemon spends its first seconds importing FastAPI and the rest; a restore spends its time
writing thousands of files, which is the kernel's work on another core. So ``serve``, once it holds the
home's lock, picks the persistent root, puts the state backup in place and starts writing out every
restorable app's archive next to its folder (``store.envarchive.unpack_archive``) in a worker process
(``store.unpack_worker``: in a thread of ``serve`` it hardly overlapped the imports), while the rest of the daemon
loads. The daemon's :class:`~pinokiocloud.store.restore.AppRestorer` then takes
each unpacked folder (it renames it into place, links the models, starts the app), so nothing an app could
see appears before the restorer would have put it there. A job the daemon never takes is removed on close.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pinokiocloud.config import Settings

if TYPE_CHECKING:
    from pinokiocloud.store.envarchive import Unpacked
    from pinokiocloud.store.restore import RestoredState
    from pinokiocloud.store.root import RootChoice

__all__ = ["EarlyJob", "EarlyRestore", "restore_likely"]

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
    checked: bool = False
    """The archive can be used here and is being written out."""
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
    _worker: subprocess.Popen[bytes] | None = None

    @classmethod
    def begin(cls, settings: Settings) -> EarlyRestore:
        """Choose the root, restore the state backup into a home without one, and start writing out the
        archives of the registered apps whose folder is missing (one after the other, in a worker process).

        A fresh home with a state backup on ``PINOKIOCLOUD_PERSIST`` starts the worker first: its own
        imports (zstandard, tar's plumbing) then overlap the ones below (the store's modules) and the
        state's restore, instead of following them. It waits for its jobs on stdin; given none, it ends."""
        worker = _spawn_worker() if restore_likely(settings) else None
        try:
            from pinokiocloud.store import persist  # after the worker's start, for the reason above

            root = persist.choose_root(settings)
            state = persist.restore_state(settings.home, root)
        except BaseException:
            if worker is not None and worker.stdin is not None:
                worker.stdin.close()  # no jobs: it ends
            raise
        early = cls(root, state, _worker=worker)
        try:
            if root.path is not None:
                early.jobs = _missing_apps(settings)
        finally:
            early._hand_over(root.path, allow_download=settings.environ.get("UV_PYTHON_DOWNLOADS") != "never")
        return early

    def _hand_over(self, root: Path | None, *, allow_download: bool) -> None:
        """Give the worker its jobs (starting it now if it was not started first), or none (it ends)."""
        if self.jobs and self._worker is None:
            self._worker = _spawn_worker()
        if self._worker is None:
            self.jobs = {}  # the restorer writes each archive out itself
            return
        if self.jobs:
            log.info("writing out the archives of %s while the daemon loads", ", ".join(self.jobs))
        jobs = [{"name": j.name, "app_dir": str(j.app_dir), "expected_id": j.expected_id} for j in self.jobs.values()]
        try:
            assert self._worker.stdin is not None
            if self.jobs and root is not None:
                self._worker.stdin.write(json.dumps({"root": str(root), "allow_download": allow_download,
                                                     "jobs": jobs}).encode())
            self._worker.stdin.close()
        except OSError as exc:
            self._settle_rest(str(exc))
        self._thread = threading.Thread(target=self._read, name="restore: unpack archives", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        """Settle each job from what the worker says (on a thread: the daemon goes on loading)."""
        worker = self._worker
        if worker is None or worker.stdout is None or worker.stderr is None:
            return
        for line in worker.stdout:
            self._hear(line)
        complaint = worker.stderr.read().decode(errors="replace").strip()
        code = worker.wait()
        self._settle_rest(complaint.splitlines()[-1] if complaint else f"exit code {code}")

    def _settle_rest(self, why: str) -> None:
        for job in self.jobs.values():  # what the worker never settled (it was stopped, or it crashed)
            if not job.result.done():
                job.result.set_exception(OSError(f"the restore's worker ended before {job.name} was written "
                                                 f"out ({why})"))

    def _hear(self, line: bytes) -> None:
        import tarfile

        import zstandard

        from pinokiocloud.store.envarchive import Unpacked

        try:
            said = json.loads(line)
            job = self.jobs[str(said["name"])]
        except (ValueError, KeyError, TypeError):
            return
        event = said.get("event")
        if job.result.done():
            return
        if event == "checked":
            job.reason = said.get("reason")
            if job.reason is not None:
                job.result.set_result(None)
            else:
                job.checked = True
                job.total_bytes = int(said.get("total") or 0)
        elif event == "progress":
            job.progress(int(said.get("done") or 0), int(said.get("total") or 0))
        elif event == "unpacked":
            job.result.set_result(Unpacked(Path(said["work"]), Path(said["folder"]), int(said["files"]),
                                           int(said["bytes"]), float(said["seconds"])))
        elif event == "failed":
            kind, message = said.get("kind"), str(said.get("message"))
            job.result.set_exception(zstandard.ZstdError(message) if kind == "ZstdError" else
                                     tarfile.TarError(message) if kind == "TarError" else OSError(message))

    def take(self, name: str) -> EarlyJob | None:
        """The job of ``name`` for the restorer (at most once)."""
        job = self.jobs.get(name)
        if job is None or job.taken:
            return None
        job.taken = True
        return job

    def close(self) -> None:
        """Stop the worker, then remove what was written out and never renamed into place (a daemon stopped
        before its restorer took every job; after a rename only an empty folder is left)."""
        from pinokiocloud.store.envarchive import discard_unpacked

        if self._worker is not None and self._worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._worker.pid, signal.SIGTERM)
        if self._thread is not None:
            self._thread.join()
        for job in self.jobs.values():
            job.taken = True
            try:
                unpacked = job.result.result()
            except Exception:  # a failed job left nothing behind
                continue
            if unpacked is not None:
                discard_unpacked(unpacked)
        for job in self.jobs.values():  # a worker stopped midway leaves its folder unreported
            _remove_leftovers(job.app_dir.parent, f".{job.app_dir.name}.restore-*")


def restore_likely(settings: Settings) -> bool:
    """A fresh home and a state backup on the root named by ``PINOKIOCLOUD_PERSIST`` (two ``stat`` calls: the
    root the platform would pick is only known once ``persist`` is loaded, and then the worker starts after).
    The CLI's entry point asks it too."""
    return (settings.persist is not None and not (settings.home / "pinokiocloud.db").exists()
            and (settings.persist / "state" / "pinokiocloud.db").is_file())


def _spawn_worker() -> subprocess.Popen[bytes] | None:
    """The worker process (``store.unpack_worker``), waiting for its jobs on stdin; ``None`` when it cannot
    start (the restorer then writes the archives out itself)."""
    try:
        return subprocess.Popen([sys.executable, "-m", "pinokiocloud.store.unpack_worker"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        log.info("the restore's worker could not start (%s); the daemon writes the archives out itself", exc)
        return None


def _missing_apps(settings: Settings) -> dict[str, EarlyJob]:
    """A job for each registered app (in the restored state) whose folder is missing."""
    from pinokiocloud.errors import StoreError
    from pinokiocloud.store.db import Store
    from pinokiocloud.store.restore import archive_setting

    _remove_leftovers(settings.api_dir)
    db_path = settings.home / "pinokiocloud.db"
    if not db_path.is_file():
        return {}
    try:
        store = Store(db_path)
    except StoreError as exc:  # the daemon's own open names the damage and sets the file aside
        log.info("the restore starts after the state file is checked: %s", exc)
        return {}
    jobs: dict[str, EarlyJob] = {}
    try:
        for app in store.apps():
            app_dir = settings.api_dir / app.name
            if not app_dir.exists():
                expected = store.setting(archive_setting(app.name))
                jobs[app.name] = EarlyJob(app.name, app_dir,
                                          expected_id=expected if isinstance(expected, str) else None)
    finally:
        store.close()
    return jobs


def _remove_leftovers(api_dir: Path, pattern: str = ".*.restore-*") -> None:
    """Folders a restore was writing and nobody will take (the caller holds the home's lock: a dead daemon's,
    or this one's stopped worker's)."""
    if not api_dir.is_dir():
        return
    for path in api_dir.glob(pattern):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
