"""Shared drive folders of ``fs.link {drive, peers}`` (spec §3.5): app folders moved into one folder per
route under the drive home and linked back, with ``drives.json`` remembering which launcher owns which.

Every file in a drive folder goes through the model store (issue 16): it is kept once by sha256, with the
source ``drive://<folder under drives/>/<file>``, and the drive's path becomes a link into the store, so the
files survive a new session with the same persistent root (the restore links them back) and identical
files in two drives take the space once.

Plain filesystem work, blocking: the kernel's ``fs.link`` calls these in a worker thread.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from pinokiocloud.errors import StoreError
from pinokiocloud.store.blobs import BlobStore, blobs_for

__all__ = ["adopt_drive", "drive_source", "link_folder", "move_into", "pick_folder", "read_registry",
           "valid_relative", "write_registry"]

log = logging.getLogger(__name__)


def valid_relative(p: str) -> bool:
    return bool(p) and not p.startswith(".") and not Path(p).is_absolute()


def move_into(source: Path, target: Path) -> None:
    """Move a folder's contents into the drive folder: merge folders, never overwrite, then purge."""
    target.mkdir(parents=True, exist_ok=True)
    for item in list(source.iterdir()):
        dest = target / item.name
        if item.is_dir() and not item.is_symlink() and dest.is_dir():
            move_into(item, dest)
        elif not dest.exists() and not dest.is_symlink():
            shutil.move(str(item), str(dest))
    shutil.rmtree(source, ignore_errors=True)


def pick_folder(registry: dict[str, dict[str, str]], candidates: list[str], route: str, drives: Path) -> Path:
    for candidate in candidates:
        known = registry.get(candidate, {})
        if route in known:
            return Path(known[route])
    for candidate in candidates:
        known = registry.get(candidate, {})
        if known:
            name = Path(next(iter(known.values()))).parent.name
            return drives / "peers" / name / route
    return drives / "peers" / f"d{int(time.time() * 1000)}" / route


def read_registry(file: Path) -> dict[str, dict[str, str]]:
    try:
        registry: dict[str, dict[str, str]] = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return registry


def write_registry(file: Path, registry: dict[str, dict[str, str]]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(registry, indent=2))


def drive_source(folder: Path) -> str:
    """The source prefix of a drive folder's files: its path under ``drives/`` (``drive://peers/d17/checkpoints/``)."""
    parts = folder.absolute().parts
    rel = "/".join(parts[len(parts) - parts[::-1].index("drives"):]) if "drives" in parts else folder.name
    return f"drive://{rel}/"


def _app_and_home(where: Path) -> tuple[str | None, Path | None]:
    """The app (``HOME/api/<app>/…``) a linked path belongs to, and its home."""
    for parent in where.absolute().parents:
        if parent.parent.name == "api":
            return parent.name, parent.parent.parent
    return None, None


def adopt_drive(folder: Path, *, app: str | None = None, home: Path | None = None,
                blobs: BlobStore | None = None) -> tuple[int, int]:
    """Keep every file of a drive folder in the model store (once, by sha256); (files, bytes) newly adopted.
    A store that cannot be used leaves the files as they are (and says so in the log)."""
    if blobs is None:
        if home is None:
            return 0, 0
        blobs = blobs_for(home)
    try:
        return blobs.adopt_tree(folder, drive_source(folder), app=app, home=home)
    except StoreError as exc:
        log.warning("%s", exc)
        return 0, 0


def link_folder(where: Path, folder: Path, *, app: str | None = None, home: Path | None = None) -> str | None:
    """Move what is at ``where`` into the drive folder, link it back and keep the drive's files in the model
    store; the line to print, if any. ``app``/``home`` default to the app folder ``where`` is in."""
    if app is None or home is None:
        found_app, found_home = _app_and_home(where)
        app, home = app or found_app, home or found_home
    if where.is_symlink():
        adopt_drive(folder, app=app, home=home)
        return None
    try:
        if where.exists():
            move_into(where, folder)
        where.parent.mkdir(parents=True, exist_ok=True)
        where.symlink_to(folder, target_is_directory=True)
    except OSError as exc:  # the original logs link errors and goes on
        return f"[fs.link] could not link {where}: {exc}"
    count, size = adopt_drive(folder, app=app, home=home)
    kept = f" ({count} file(s), {size / 1e6:.1f} MB kept in the model store)" if count else ""
    return f"[fs.link] {where} -> {folder}{kept}"
