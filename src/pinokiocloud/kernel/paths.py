"""Where a script URI points (spec §1.8): relative to the cwd, ``~/`` under PINOKIO_HOME, absolute,
or another app addressed by its git URL (``https://github.com/o/r.git/sub/file.js``)."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

__all__ = ["clone_folder_name", "find_clone", "git_origin", "resolve_uri", "run_id", "split_git_uri"]

_GIT_URI = re.compile(r"^(https?://.+?\.git)(?:/(.*))?$")


def split_git_uri(uri: str) -> tuple[str, str] | None:
    """``https://h/o/r.git/a/b.js`` → (``https://h/o/r.git``, ``a/b.js``)."""
    match = _GIT_URI.match(uri)
    return (match.group(1), match.group(2) or "") if match else None


def clone_folder_name(url: str) -> str:
    """The folder under ``api/`` a git URI is cloned into (spec §3.6): the URL without the scheme,
    every character outside ``[A-Za-z0-9_-]`` replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", re.sub(r"^https?://", "", url))


def git_origin(folder: Path) -> str | None:
    """``remote.origin.url`` of a clone, read from ``.git/config``."""
    config = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        config.read(folder / ".git" / "config")
    except configparser.Error:
        return None
    section = 'remote "origin"'
    return config.get(section, "url", fallback=None) if config.has_section(section) else None


def find_clone(home: Path, url: str) -> Path | None:
    """The app folder under ``<HOME>/api`` whose origin is ``url``."""
    api = home / "api"
    if not api.is_dir():
        return None
    for folder in sorted(api.iterdir()):
        if folder.is_dir() and git_origin(folder) == url:
            return folder
    return None


def resolve_uri(uri: str, cwd: Path, home: Path) -> Path | None:
    """An absolute path for ``uri``; None for a git URI whose app is not cloned."""
    git = split_git_uri(uri)
    if git is not None:
        clone = find_clone(home, git[0])
        return (clone / git[1]).resolve() if clone else None
    if uri.startswith("~/"):
        return (home / uri[2:]).resolve()
    return (cwd / uri).resolve()


def run_id(path: Path, session: str | None = None) -> str:
    """A run is keyed by its absolute script path, plus ``?session=…`` when a session is given."""
    return f"{path}?session={session}" if session else str(path)
