"""Launcher files put in place and refreshed: clone or copy at install, pull or copy again at update, reset
or a fresh copy at reinstall. Everything here waits off the event loop; a failed step leaves no half-made
folder behind."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from pinokiocloud.apps.sources import Source
from pinokiocloud.errors import InstallError
from pinokiocloud.procs.captured import run_captured
from pinokiocloud.store import AppRecord

__all__ = ["GIT_CLONE_TIMEOUT_S", "clone", "copied_from", "fetch", "git", "refresh", "reset"]

GIT_CLONE_TIMEOUT_S = 1800


async def clone(url: str, target: Path, timeout_s: float = GIT_CLONE_TIMEOUT_S) -> None:
    """``git clone --depth 1``; a clone that fails, times out or is cancelled leaves no folder behind.

    git runs in a session of its own: its helpers (``git-remote-https``) hold the output pipe, so a stop
    kills the whole group, and waits for it, before the folder is removed.
    """
    try:
        done = await run_captured(["git", "clone", "--depth", "1", "--", url, str(target)], timeout_s=timeout_s)
    except asyncio.CancelledError:
        await asyncio.to_thread(shutil.rmtree, target, ignore_errors=True)  # git is gone: nothing writes
        raise
    if done.code != 0:
        await asyncio.to_thread(shutil.rmtree, target, ignore_errors=True)
    if done.timed_out:
        raise InstallError(f"cloning {url} took longer than {timeout_s:g} s; check the URL and the "
                           "network, then install again")
    if done.code != 0:
        raise InstallError(f"git could not clone {url}: {done.last_line or 'unknown error'}")


async def fetch(source: Source, target: Path) -> None:
    """The launcher at ``target``: a folder copied (off the loop: it can hold a venv's worth of files),
    anything else cloned."""
    if source.kind == "folder":
        await asyncio.to_thread(shutil.copytree, source.location, target, symlinks=True)
    else:
        await clone(source.location, target)


async def git(folder: Path, *args: str, timeout_s: float = GIT_CLONE_TIMEOUT_S) -> str:
    """``git -C folder ARGS`` off the event loop; its output, or an InstallError with git's last line."""
    done = await run_captured(["git", "-C", str(folder), *args], timeout_s=timeout_s,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if done.timed_out:
        raise InstallError(f"`git {args[0]}` in {folder.name} took longer than {timeout_s:g} s; check the "
                           "network, then try again")
    if done.code != 0:
        raise InstallError(f"`git {args[0]}` failed in {folder.name}: {done.last_line or 'unknown error'}")
    return done.output.strip()


def copied_from(name: str, record: AppRecord | None) -> Path | None:
    """The launcher folder an app was copied from (``install FOLDER``), when that is how it came."""
    if record is None or (record.meta or {}).get("kind") != "folder":
        return None
    source = Path(record.source)
    if not source.is_dir():
        raise InstallError(f"{name} was copied from {source}, which is no longer a folder; install it "
                           "again from where the launcher is now")
    return source


async def refresh(name: str, folder: Path, source: Path | None) -> tuple[str | None, str | None, bool]:
    """Bring the launcher up to date: a copy gets its source's files copied over it again (nothing is
    deleted), a git checkout ``git pull --ff-only``. Returns (commit before, commit after, changed)."""
    if source is not None:
        await asyncio.to_thread(shutil.copytree, source, folder, symlinks=True, dirs_exist_ok=True)
        return None, None, True
    if (folder / ".git").exists():
        before = await git(folder, "rev-parse", "HEAD")
        await git(folder, "pull", "--ff-only", "-q")
        after = await git(folder, "rev-parse", "HEAD")
        return before, after, before != after
    raise InstallError(f"{name} is neither a git checkout nor a copy of a folder PinokioCloud knows; "
                       "there is nothing to update it from")


async def reset(name: str, folder: Path, source: Path | None) -> None:
    """The launcher folder as it was right after install. A git install: ``git reset --hard`` and ``git
    clean -ffdx`` (no network needed). A copy: a fresh copy of the source replaces it (made next to it
    first, so a failed copy leaves the app as it was)."""
    if source is not None:
        fresh = folder.with_name(f".{name}.reinstall")
        await asyncio.to_thread(shutil.rmtree, fresh, ignore_errors=True)
        try:
            await asyncio.to_thread(shutil.copytree, source, fresh, symlinks=True)
        except OSError as exc:
            await asyncio.to_thread(shutil.rmtree, fresh, ignore_errors=True)
            raise InstallError(f"could not copy {source} again: {exc}") from exc
        await asyncio.to_thread(shutil.rmtree, folder)
        await asyncio.to_thread(fresh.rename, folder)
    elif (folder / ".git").exists():
        await git(folder, "reset", "--hard", "-q", "HEAD")
        await git(folder, "clean", "-ffdxq")
    else:
        raise InstallError(f"{name} is neither a git checkout nor a copy of a folder PinokioCloud knows; "
                           "install it again with `pinokiocloud rm` and `pinokiocloud install`")
