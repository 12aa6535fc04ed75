"""Which launcher the cloud machine installs: the same source the user has (DESIGN §7 ``cloud launch``).

An ``APP`` argument is, in this order: a git URL (pinned to the commit its HEAD has now, unless ``--commit``),
a local launcher folder (copied to the machine), an app installed here (its recorded source; a git checkout
is pinned to the commit it has), or a catalog id. The catalog gives the GPU memory and disk needs.
"""

from __future__ import annotations

import re
from pathlib import Path

from pinokiocloud.apps.catalog import CatalogEntry, load_catalog
from pinokiocloud.cloud.task import AppSource
from pinokiocloud.config import Settings
from pinokiocloud.errors import BadParamError, PinokioCloudError, UserError
from pinokiocloud.procs.captured import run_captured_sync

__all__ = ["folder_commit", "git_head", "resolve_source"]

_GIT_RE = re.compile(r"(?:https?|ssh|git|file)://\S+|git@[\w.-]+:\S+")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def git_head(url: str) -> str | None:
    """The commit a git URL's HEAD points to now (``git ls-remote``), or ``None`` when it cannot be asked."""
    done = run_captured_sync(["git", "ls-remote", "--", url, "HEAD"], timeout_s=60)
    if done.code == 0 and done.output.strip():
        return done.output.split()[0]
    return None


def folder_commit(folder: Path) -> str | None:
    """The commit a git checkout is at, or ``None`` for a folder that is not one (or when git cannot say)."""
    if not (folder / ".git").exists():
        return None
    done = run_captured_sync(["git", "-C", str(folder), "rev-parse", "HEAD"], timeout_s=30)
    if done.code != 0:
        return None
    return done.last_line or None


def _name_from(location: str) -> str:
    base = location.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    base = re.sub(r"\.git\Z", "", base)
    return re.sub(r"[^A-Za-z0-9._-]", "-", base).strip("-._") or "app"


def _with_needs(source: AppSource, entry: CatalogEntry | None) -> AppSource:
    if entry is None:
        return source
    return AppSource(source.kind, source.location, source.name, source.commit, entry.vram_gb, entry.disk_gb,
                     entry.gpu)


def _installed(app: str, settings: Settings) -> tuple[str, str] | None:
    """(source, folder) of an app installed in this home, when its daemon runs; never starts one."""
    from pinokiocloud.client import Client

    client = Client(settings, autostart=False)
    if not client.is_up():
        return None
    try:
        status = client.status(app)
    except (UserError, PinokioCloudError):  # not installed here, or the daemon did not answer
        return None
    if not status.get("source"):
        return None
    return str(status["source"]), str(status["path"])


def resolve_source(app: str, *, name: str | None, commit: str | None, settings: Settings) -> AppSource:
    catalog = load_catalog(settings.home)
    if name is not None and not _NAME_RE.fullmatch(name):
        raise BadParamError(f"{name!r} is not an app name (letters, digits, '.', '_' and '-')")
    if _GIT_RE.fullmatch(app):
        by_url = next((e for e in catalog if e.url == app), None)
        return _with_needs(AppSource("git", app, name or _name_from(app), commit or git_head(app)), by_url)
    folder = Path(app).expanduser()
    if ("/" in app or app.startswith(".")) and folder.is_dir():
        return AppSource("folder", str(folder.resolve()), name or _name_from(str(folder.resolve())))
    installed = _installed(app, settings)
    if installed is not None:
        src, path = installed
        if _GIT_RE.fullmatch(src):
            by_url = next((e for e in catalog if e.url == src), None)
            return _with_needs(AppSource("git", src, name or app, commit or folder_commit(Path(path))), by_url)
        if catalog.get(src) is not None:
            entry = catalog.get(src)
            assert entry is not None
            return _with_needs(AppSource("git", entry.url, name or app, commit or folder_commit(Path(path))),
                               entry)
        if Path(src).is_dir():
            return AppSource("folder", src, name or app)
        raise BadParamError(f"{app} was installed from {src}, which is no longer here; give its git URL or "
                            "launcher folder instead")
    entry = catalog.get(app)
    if entry is not None:
        if commit is not None:  # a pinned commit needs the repository itself
            return _with_needs(AppSource("git", entry.url, name or entry.id, commit), entry)
        return _with_needs(AppSource("catalog", entry.id, name or entry.id), entry)
    catalog.lookup(app)  # raises with close ids
    raise AssertionError("unreachable")
