"""Install sources: what ``install SRC`` means (a git URL, a launcher folder, a catalog id) and app names,
decided before anything is copied."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pinokiocloud.apps.catalog import Catalog
from pinokiocloud.errors import BadParamError, InstallError
from pinokiocloud.kernel.launcher import find_launcher_root

__all__ = ["INSTALL_SCRIPTS", "Source", "check_name", "default_name", "has_launcher", "resolve_source"]

# \Z, not $: `$` also matches before a trailing newline, and "app\n" is no folder name anyone meant
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
INSTALL_SCRIPTS = ("install.js", "install.json")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a launcher comes from: a git URL to clone, an absolute folder to copy, or a catalog entry's URL."""

    kind: Literal["git", "folder", "catalog"]
    location: str


def check_name(name: str) -> str:
    """``name`` when it can be an app's folder under ``api/``, else a one-sentence error."""
    if not _NAME.match(name):
        raise BadParamError(f"{name!r} is not an app name (letters, digits, '.', '_' and '-')")
    return name


def default_name(location: str) -> str:
    """The last part of a URL or path, cut to a valid app name."""
    base = location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    base = re.sub(r"\.git\Z", "", base)
    base = re.sub(r"[^A-Za-z0-9._-]", "-", base).strip("-._") or "app"
    return base[:100]


def has_launcher(folder: Path) -> bool:
    """A pinokio.js (or another launcher file), or at least an install script."""
    return find_launcher_root(folder) is not None or any((folder / s).is_file() for s in INSTALL_SCRIPTS)


def resolve_source(src: str, home: Path, catalog: Catalog | None) -> Source:
    """Decide what ``src`` is, or say in one sentence why it is none of the three.

    A folder must be given as an absolute path (the daemon's working folder means nothing to its
    caller; the CLI resolves folders itself), must hold a launcher, and must not be the home, one of its
    parents or anything under ``api/``: copying the home into its own ``api/`` once filled a disk.
    """
    if not src.strip():
        raise InstallError("the install source is empty; give a git URL, the absolute path of a launcher "
                           "folder, or a catalog id")
    if any(ord(c) < 0x20 for c in src):
        raise InstallError("the install source contains a control character (a newline or NUL); give a git "
                           "URL, the absolute path of a launcher folder, or a catalog id")
    if re.match(r"(https?|git|ssh|file)://", src) or src.startswith("git@"):
        return Source("git", src)
    if catalog is not None:
        entry = catalog.get(src)
        if entry is not None:
            return Source("catalog", str(entry.url))
    given = Path(src).expanduser()
    if not given.is_absolute():
        raise InstallError(f"{src!r} is not a git URL, a catalog id or an absolute folder path; give a "
                           "launcher folder as an absolute path (see `pinokiocloud search` for catalog ids)")
    try:
        folder = given.resolve()
        is_dir = folder.is_dir()
    except (OSError, ValueError) as exc:  # a NUL byte, a name longer than the system allows
        raise InstallError(f"{src[:200]!r} is not a usable folder path ({exc})") from exc
    if not is_dir:
        raise InstallError(f"{src} is not a folder on the daemon's machine; give a git URL, an existing "
                           "launcher folder or a catalog id")
    home = home.resolve()
    if folder == home or folder in home.parents:
        raise InstallError(f"{src} holds PINOKIO_HOME ({home}) and cannot be installed into it; give the "
                           "launcher's own folder")
    if folder.is_relative_to(home / "api"):
        raise InstallError(f"{src} is inside {home / 'api'}, where installed apps live; give a launcher "
                           "folder outside it")
    if not has_launcher(folder):
        raise InstallError(f"{src} is not a Pinokio launcher: it has no pinokio.js and no install script")
    return Source("folder", str(folder))
