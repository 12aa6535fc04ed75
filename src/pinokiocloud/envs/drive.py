"""Shared drive folders of ``fs.link {drive, peers}`` (spec §3.5): app folders moved into one folder per
route under the drive home and linked back, with ``drives.json`` remembering which launcher owns which.

Plain filesystem work, blocking: the kernel's ``fs.link`` calls these in a worker thread.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

__all__ = ["link_folder", "move_into", "pick_folder", "read_registry", "valid_relative", "write_registry"]


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


def link_folder(where: Path, folder: Path) -> str | None:
    """Move what is at ``where`` into the drive folder and link it back; the line to print, if any."""
    if where.is_symlink():
        return None
    try:
        if where.exists():
            move_into(where, folder)
        where.parent.mkdir(parents=True, exist_ok=True)
        where.symlink_to(folder, target_is_directory=True)
    except OSError as exc:  # the original logs link errors and goes on
        return f"[fs.link] could not link {where}: {exc}"
    return f"[fs.link] {where} -> {folder}"
