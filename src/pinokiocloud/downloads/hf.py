"""``hf.download`` in the queue and through the model store: its progress in the same events, its files
hashed, recorded and kept once.

The files themselves come from ``huggingface_hub`` (``hf download``, with Xet), run as the app's shell, so
this module does not fetch anything: it holds a queue slot while the command runs, reports the bytes that
appear under the destination (``--local-dir``, or the repo's folder in the hub cache) every
``PROGRESS_INTERVAL_S``, and afterwards hashes each file the command wrote (in a thread), checks it against
the hub cache's own name for it (an LFS blob is named by its sha256) and records it with the source
``https://huggingface.co/<repo>/resolve/<revision>/<file>``, the URL ``fs.download`` would use for it.

Check before fetch: before the command runs, every file of ``repo@revision`` the model store holds is linked
where ``hf`` looks for it (``--local-dir/<file>`` with hf's own download metadata, so it skips the file after
one metadata request; ``blobs/<sha256>`` in the hub cache, which hf links into its snapshot). After it, each
new file is adopted: kept once in the store by sha256, its path a link into the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
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
from pinokiocloud.errors import DownloadError, StoreError
from pinokiocloud.store.blobs import BlobStore, blobs_for, hash_file

__all__ = ["HF_SOURCE", "HfTarget", "hf_source", "hub_repo_folder", "link_from_store", "run_hf_download"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
_COMMIT = re.compile(r"[0-9a-f]{40}")
HF_SOURCE = "https://huggingface.co/{repo}/resolve/{revision}/{path}"
"""The source a Hugging Face file is indexed under (records and model store): the URL fs.download would use."""
LFS_MIN_BYTES = 10 * 1024 * 1024
"""Hugging Face keeps every file above 10 MB in LFS, whose etag is its sha256: such a file can be handed to
the hub cache as ``blobs/<sha256>`` (smaller ones may be plain git files, named by their git hash)."""


@dataclass(frozen=True, slots=True)
class HfTarget:
    repo: str
    revision: str
    folder: Path
    """Where the files land: the ``--local-dir``, or ``<HF_HOME>/hub/<repo type>s--org--name``."""
    local_dir: bool
    files: tuple[str, ...] = ()
    """The files the step asked for (``_: [repo, ...files]``); empty: the whole repo (or not said)."""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


def hf_source(repo: str, revision: str, path: str) -> str:
    return HF_SOURCE.format(repo=repo, revision=revision, path=path)


def _wanted(target: HfTarget, rel: str) -> bool:
    if target.files:
        return rel in target.files
    if target.include and not any(fnmatch.fnmatch(rel, p) for p in target.include):
        return False
    return not any(fnmatch.fnmatch(rel, p) for p in target.exclude)


def _write_hf_metadata(folder: Path, rel: str, revision: str, etag: str) -> None:
    """huggingface_hub's own record of a ``--local-dir`` file (``.cache/huggingface/download/<file>.metadata``:
    commit, etag, time): with the etag it gets from its metadata request it then skips the file without
    re-hashing it."""
    meta = folder / ".cache" / "huggingface" / "download" / f"{rel}.metadata"
    if meta.exists():
        return
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(f"{revision}\n{etag}\n{time.time()}\n")


def link_from_store(target: HfTarget, blobs: BlobStore, *, app: str | None = None,
                    home: Path | None = None) -> tuple[int, int]:
    """Check before fetch: link every file of ``target.repo@revision`` the store holds (and the step wants)
    where ``hf download`` will look for it; (files, bytes). An existing file is left alone."""
    prefix = hf_source(target.repo, target.revision, "")
    linked = total = 0
    for source, blob in blobs.sources_under(prefix):
        rel = source[len(prefix):]
        if not rel or not _wanted(target, rel):
            continue
        if target.local_dir:
            dest = target.folder / rel
        elif blob.size >= LFS_MIN_BYTES:
            dest = target.folder / "blobs" / blob.sha256
        else:
            continue
        if dest.exists() or dest.is_symlink():
            continue
        blobs.link_into(blob, dest, app=app, home=home)
        if target.local_dir and blob.size >= LFS_MIN_BYTES:
            _write_hf_metadata(target.folder, rel, target.revision, blob.sha256)
        linked += 1
        total += blob.size
    return linked, total


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


def _hash_and_record(target: HfTarget, before: dict[Path, tuple[int, float]], records: Records | None,
                     blobs: BlobStore | None = None, *, app: str | None = None, home: Path | None = None) -> int:
    """Hash every file the command wrote; check hub-cache blobs against their names; record them all and
    adopt them into the model store (a hub-cache file's blob, so the cache keeps its shape)."""
    after = _files(target.folder, local_dir=target.local_dir)
    changed = [p for p, facts in after.items() if before.get(p) != facts]
    for path in changed:
        blob = path if target.local_dir else _cache_blob(path, target.folder)
        if blobs is not None and (held := blobs.use_of(blob if not target.local_dir else path)) is not None:
            digest = held.sha256  # a file hf linked to a blob we placed (or another snapshot of it)
        else:
            digest = hash_file(path)
        if not target.local_dir and _SHA256_NAME.fullmatch(blob.name) and blob.name != digest:
            raise DownloadError(
                f"hf://{target.repo}/{path.name}", after[path][0],
                f"the file's sha256 is {digest}, but Hugging Face's hash for it is {blob.name}",
                hint=f"delete {blob} and run the step again",
            )
        snapshot = None if target.local_dir else _snapshot_of(path, target.folder)
        relative = path.relative_to(target.folder if snapshot is None else snapshot).as_posix()
        sources = [hf_source(target.repo, target.revision, relative)]
        if snapshot is not None and _COMMIT.fullmatch(snapshot.name) and snapshot.name != target.revision:
            sources.append(hf_source(target.repo, snapshot.name, relative))
        if records is not None:
            records.record(path, digest, after[path][0], sources)
        if blobs is not None:
            try:
                blobs.adopt(path if target.local_dir else blob, digest, sources, app=app, home=home,
                            name=Path(relative).name)
            except StoreError as exc:  # the file is where the app wants it; only the store's copy is missing
                log.warning("%s", exc)
    return len(changed)


def _cache_blob(path: Path, folder: Path) -> Path:
    """The hub cache's ``blobs/<etag>`` a snapshot entry points to (one link followed, not into the store)."""
    if path.is_symlink():
        pointed = Path(os.path.normpath(path.parent / os.readlink(path)))
        if pointed.parent == folder / "blobs":
            return pointed
    return path.resolve()


def _snapshot_of(path: Path, folder: Path) -> Path:
    snapshots = folder / "snapshots"
    return snapshots / path.relative_to(snapshots).parts[0]


async def run_hf_download(queue: DownloadQueue, records: Records | None, target: HfTarget,
                          command: Callable[[], Awaitable[_T]], *, app: str | None = None,
                          on_update: Listener | None = None, home: Path | None = None,
                          blobs: BlobStore | None = None, on_log: Callable[[str], None] | None = None) -> _T:
    """Run ``command`` (the ``hf download`` shell) as one entry of the queue, with progress, records and the
    model store (``blobs``, else the one of ``home``; ``home`` defaults to the records' home)."""
    url = f"https://huggingface.co/{target.repo}"
    if home is None and records is not None:
        home = records.path.parent
    if blobs is None and home is not None:
        blobs = blobs_for(home)

    async def work(reporter: Reporter) -> _T:
        if blobs is not None:
            try:
                linked, size = await asyncio.to_thread(link_from_store, target, blobs, app=app, home=home)
            except StoreError as exc:  # an unusable store never stops a download
                linked, size = 0, 0
                if on_log is not None:
                    on_log(f"[store] {exc}")
            if linked and on_log is not None:
                on_log(f"[store] {linked} file(s) of {target.repo} ({size / 1e6:.1f} MB) already in the model store "
                       f"({blobs.folder}), linked; hf checks them and downloads only the rest")
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
        await asyncio.to_thread(_hash_and_record, target, before, records, blobs, app=app, home=home)
        grown = max(0, await asyncio.to_thread(_bytes_under, target.folder) - start_bytes)
        reporter.progress(DownloadProgress(url, target.folder, grown, grown, done=True,
                                           speed_bps=grown / max(time.monotonic() - started, 1e-6)))
        return result

    return await queue.run(work, url=url, path=target.folder, app=app, priority=PRIORITY_STEP, kind="hf",
                           on_update=on_update)
