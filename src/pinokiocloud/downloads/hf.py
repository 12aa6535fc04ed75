"""``hf.download`` in the queue: its progress in the same events, its files hashed and recorded.

The files themselves come from ``huggingface_hub`` (``hf download``, with Xet), run as the app's shell, so
this module does not fetch anything: it holds a queue slot while the command runs, reports the bytes that
appear under the destination (``--local-dir``, or the repo's folder in the hub cache) every
``PROGRESS_INTERVAL_S``, and afterwards hashes each file the command wrote (in a thread), checks it against
the hub cache's own name for it (an LFS blob is named by its sha256) and records it with the source
``https://huggingface.co/<repo>/resolve/<revision>/<file>``, the URL ``fs.download`` would use for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pinokiocloud.downloads.engine import PROGRESS_INTERVAL_S, DownloadProgress
from pinokiocloud.downloads.queue import PRIORITY_STEP, DownloadQueue, Listener, Reporter
from pinokiocloud.downloads.records import Records
from pinokiocloud.errors import DownloadError

__all__ = ["HfTarget", "hub_repo_folder", "run_hf_download"]

_T = TypeVar("_T")
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
_HASH_BLOCK = 8 << 20


@dataclass(frozen=True, slots=True)
class HfTarget:
    repo: str
    revision: str
    folder: Path
    """Where the files land: the ``--local-dir``, or ``<HF_HOME>/hub/<repo type>s--org--name``."""
    local_dir: bool


def hub_repo_folder(hf_home: Path, repo: str, repo_type: str = "model") -> Path:
    """The hub cache's folder of a repo (``models--org--name``), as huggingface_hub names it."""
    return hf_home / "hub" / f"{repo_type}s--{repo.replace('/', '--')}"


def _files(folder: Path, *, local_dir: bool) -> dict[Path, tuple[int, float]]:
    """Size and mtime of the files a download writes (snapshot entries resolve to their blobs)."""
    found: dict[Path, tuple[int, float]] = {}
    roots = [folder] if local_dir else [folder / "snapshots"]
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            if local_dir:
                dirnames[:] = [d for d in dirnames if d != ".cache"]
            for name in filenames:
                path = Path(dirpath) / name
                with contextlib.suppress(OSError):
                    info = path.stat()  # follows a snapshot's link to its blob
                    found[path] = (info.st_size, info.st_mtime)
    return found


def _bytes_under(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, filenames in os.walk(folder):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _hash_and_record(target: HfTarget, before: dict[Path, tuple[int, float]], records: Records | None) -> int:
    """Hash every file the command wrote; check hub-cache blobs against their names; record them all."""
    after = _files(target.folder, local_dir=target.local_dir)
    changed = [p for p, facts in after.items() if before.get(p) != facts]
    for path in changed:
        digest = _sha256_of(path)
        blob = path.resolve()
        if not target.local_dir and _SHA256_NAME.fullmatch(blob.name) and blob.name != digest:
            raise DownloadError(
                f"hf://{target.repo}/{path.name}", after[path][0],
                f"the file's sha256 is {digest}, but Hugging Face's hash for it is {blob.name}",
                hint=f"delete {blob} and run the step again",
            )
        relative = path.relative_to(target.folder if target.local_dir else _snapshot_of(path, target.folder))
        source = f"https://huggingface.co/{target.repo}/resolve/{target.revision}/{relative.as_posix()}"
        if records is not None:
            records.record(path, digest, after[path][0], [source])
    return len(changed)


def _snapshot_of(path: Path, folder: Path) -> Path:
    snapshots = folder / "snapshots"
    return snapshots / path.relative_to(snapshots).parts[0]


async def run_hf_download(queue: DownloadQueue, records: Records | None, target: HfTarget,
                          command: Callable[[], Awaitable[_T]], *, app: str | None = None,
                          on_update: Listener | None = None) -> _T:
    """Run ``command`` (the ``hf download`` shell) as one entry of the queue, with progress and records."""
    url = f"https://huggingface.co/{target.repo}"

    async def work(reporter: Reporter) -> _T:
        before = await asyncio.to_thread(_files, target.folder, local_dir=target.local_dir)
        start_bytes = await asyncio.to_thread(_bytes_under, target.folder)
        started = last_at = time.monotonic()
        last_bytes = 0
        task = asyncio.ensure_future(command())
        try:
            while not task.done():
                await asyncio.wait([task], timeout=PROGRESS_INTERVAL_S)
                now = time.monotonic()
                grown = max(0, await asyncio.to_thread(_bytes_under, target.folder) - start_bytes)
                speed = (grown - last_bytes) / max(now - last_at, 1e-6)
                last_at, last_bytes = now, grown
                reporter.progress(DownloadProgress(url, target.folder, grown, None, speed_bps=max(speed, 0.0)))
            result = task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(_hash_and_record, target, before, records)
        grown = max(0, await asyncio.to_thread(_bytes_under, target.folder) - start_bytes)
        reporter.progress(DownloadProgress(url, target.folder, grown, grown, done=True,
                                           speed_bps=grown / max(time.monotonic() - started, 1e-6)))
        return result

    return await queue.run(work, url=url, path=target.folder, app=app, priority=PRIORITY_STEP, kind="hf",
                           on_update=on_update)
