"""The autostop hook's backup: what exists of the state today, copied into the persistent folder.

A backup is one folder ``<persist>/pinokiocloud-backups/<UTC time>/`` holding:

- ``pinokiocloud.db``: the whole state database (apps, runs, global memory, events, settings), copied with
  SQLite's online backup API, so a daemon writing meanwhile still gives a consistent copy; mode 0600, since its
  settings table holds the saved tokens;
- ``settings.json``: the settings table as JSON, with token and passcode values masked (the db has them);
- ``apps.json``: the app registry (name, source, install time, autorestore, meta, and the git commit of the
  app's folder when it is a git checkout), enough to install the same apps again;
- ``ENVIRONMENT`` and ``catalog.json`` from ``PINOKIO_HOME`` when they exist;
- ``manifest.json``: when, from which host and version, and each file's size and sha256.

It is written under a temporary name and renamed, so a stop that cuts it short leaves no half backup; the
newest name is written to ``LATEST``; the last :data:`KEEP` backups are kept. App folders, venvs and models
are not in it (that is the persistence issue's content store).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pinokiocloud import __version__
from pinokiocloud.cloud.source import folder_commit
from pinokiocloud.errors import BadParamError
from pinokiocloud.store.blobs import hash_file

__all__ = ["BACKUP_DIR", "KEEP", "BackupResult", "back_up"]

BACKUP_DIR = "pinokiocloud-backups"
KEEP = 5
DB_NAME = "pinokiocloud.db"
_SECRET_WORDS = ("token", "passcode", "secret", "key")


@dataclass(frozen=True, slots=True)
class BackupResult:
    folder: Path
    files: dict[str, int]
    """Each file written, with its size in bytes."""
    apps: list[str]

    def to_dict(self) -> dict[str, object]:
        return {"folder": str(self.folder), "files": self.files, "apps": self.apps}


def _masked(key: str, value: object) -> object:
    if value and any(word in key.lower() for word in _SECRET_WORDS):
        return "***"
    return value


def _copy_db(source: Path, target: Path) -> tuple[list[dict[str, object]], dict[str, object]]:
    """The online backup, then the app registry and the settings read from the copy (not the live db)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    live = sqlite3.connect(source, timeout=30)
    copy = sqlite3.connect(target)
    try:
        live.backup(copy)
    finally:
        live.close()
    try:
        tables = {row[0] for row in copy.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        apps: list[dict[str, object]] = []
        if "apps" in tables:
            for name, src, path, installed_at, autorestore, meta in copy.execute(
                    "SELECT name, source, path, installed_at, autorestore, meta FROM apps ORDER BY name"):
                apps.append({"name": name, "source": src, "path": path, "installed_at": installed_at,
                             "autorestore": bool(autorestore), "meta": json.loads(meta or "{}"),
                             "commit": folder_commit(Path(path))})
        settings: dict[str, object] = {}
        if "settings" in tables:
            for key, value in copy.execute("SELECT key, value FROM settings ORDER BY key"):
                settings[key] = _masked(key, json.loads(value))
    finally:
        copy.close()
    return apps, settings


def back_up(home: Path, persist: Path, *, now: datetime.datetime | None = None) -> BackupResult:
    """Write one backup of ``home``'s state into ``persist`` (which must exist: it is the mounted bucket)."""
    if not persist.is_dir():
        raise BadParamError(f"the persistent folder {persist} does not exist (is the bucket mounted?); "
                            "give an existing folder with --to")
    when = (now or datetime.datetime.now(datetime.timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    root = persist / BACKUP_DIR
    root.mkdir(exist_ok=True)
    partial = root / f".{when}.partial"
    partial.mkdir(mode=0o700)
    try:
        apps: list[dict[str, object]] = []
        settings: dict[str, object] = {}
        db = home / DB_NAME
        if db.is_file():
            apps, settings = _copy_db(db, partial / DB_NAME)
        (partial / "apps.json").write_text(json.dumps(apps, indent=2) + "\n")
        (partial / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        for name in ("ENVIRONMENT", "catalog.json"):
            if (home / name).is_file():
                shutil.copy2(home / name, partial / name)
        files = {p.name: p.stat().st_size for p in sorted(partial.iterdir())}
        manifest = {"created": when, "host": socket.gethostname(), "pinokiocloud": __version__,
                    "home": str(home),
                    "files": {name: {"bytes": size, "sha256": hash_file(partial / name)}
                              for name, size in files.items()}}
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        files["manifest.json"] = (partial / "manifest.json").stat().st_size
        final = root / when
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    (root / "LATEST").write_text(when + "\n")
    kept = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in kept[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return BackupResult(final, files, [str(a["name"]) for a in apps])
