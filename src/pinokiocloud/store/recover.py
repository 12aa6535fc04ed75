"""Open the state file at start-up, and get a daemon going again when it cannot be used.

A corrupt ``pinokiocloud.db`` (a disk that filled up mid-write, a copy taken while it was open) must not
keep the daemon down: it is moved aside, a fresh one is made, and the app registry is rebuilt from the
launcher folders under ``api/`` (the folders are the truth; runs, events, settings and ``global`` memory
are what is lost, and the daemon says so). A full disk is named as such, at once.
"""

from __future__ import annotations

import configparser
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from pinokiocloud.store.db import Store, StoreError

__all__ = ["MIN_FREE_BYTES", "Opened", "open_store"]

MIN_FREE_BYTES = 32 * 1024 * 1024
"""Below this much free space SQLite cannot be trusted to write its WAL; the daemon refuses to start."""
_LAUNCHER_FILES = ("pinokio.js", "pinokio.json", "install.js", "install.json")


@dataclass(frozen=True, slots=True)
class Opened:
    store: Store
    notice: str | None
    """A sentence for the log and the user when the state file had to be rebuilt."""


def _check_disk(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise StoreError(f"the disk holding {folder} is full ({free // (1024 * 1024)} MB free); "
                         "free some space and start PinokioCloud again")


def _healthy(store: Store) -> bool:
    try:
        row = store._db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError:
        return False
    return bool(row) and row[0] == "ok"


def _git_source(folder: Path) -> str | None:
    config = folder / ".git" / "config"
    if not config.is_file():
        return None
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read(config)
    except configparser.Error:
        return None
    url = parser.get('remote "origin"', "url", fallback=None)
    return url or None


def _rebuild_apps(store: Store, api_dir: Path) -> list[str]:
    names: list[str] = []
    if not api_dir.is_dir():
        return names
    for folder in sorted(p for p in api_dir.iterdir() if p.is_dir()):
        if not any((folder / f).is_file() for f in _LAUNCHER_FILES):
            continue
        store.put_app(folder.name, _git_source(folder) or str(folder), folder, {"kind": "recovered"})
        names.append(folder.name)
    return names


def open_store(path: Path, api_dir: Path) -> Opened:
    """The daemon's store; a corrupt file is moved aside and replaced (see the module doc)."""
    _check_disk(path.parent)
    try:
        store = Store(path)
    except StoreError as exc:
        if "full" in str(exc).lower():
            raise StoreError(f"the disk holding {path.parent} is full; free some space and start "
                             "PinokioCloud again") from exc
        store = None
    if store is not None and _healthy(store):
        return Opened(store, None)
    if store is not None:
        store.close()
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("", "-wal", "-shm"):
        part = Path(str(path) + suffix)
        if part.exists():
            part.replace(Path(str(aside) + suffix))
    fresh = Store(path)
    names = _rebuild_apps(fresh, api_dir)
    apps = f"{len(names)} app(s) ({', '.join(names)})" if names else "no apps"
    notice = (f"the state file {path} was corrupt; it was moved to {aside} and a new one was made with {apps} "
              "found in api/ (no backup to restore from); lost: run history, logs shown by `logs`, settings "
              "and `global` memory")
    return Opened(fresh, notice)
