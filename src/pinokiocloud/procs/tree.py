"""Finding every process that belongs to one supervised command, including those that escaped.

A command runs as the leader of its own session and process group, so ``killpg`` reaches most of it.
Children that call ``setsid`` or double-fork leave the group, and a double-forked daemon is reparented
away, so it is no longer in ``children(recursive=True)`` either. Every command therefore gets a unique
value in ``TREE_TAG_ENV``; descendants inherit it, and a scan of the process table finds them wherever
they went (the way Jenkins' ProcessTreeKiller finds a build's leftovers). A descendant that wipes its
environment can only be found while it is still a descendant; where cgroups work (``cgroups``), its
cgroup still holds it, and callers pass the cgroup's members in ``also``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

import psutil

__all__ = ["TREE_TAG_ENV", "find_tree", "is_gone", "tagged_under"]

TREE_TAG_ENV = "PINOKIOCLOUD_PROC_TAG"
"""Environment variable whose value marks every process started under one ``ManagedProcess``."""


def is_gone(proc: psutil.Process) -> bool:
    """True when ``proc`` has ended. A zombie counts as ended: it holds no resources and, once
    reparented to a PID 1 that never reaps (common in containers), it would never leave the table."""
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def _tagged(proc: psutil.Process, tag: str) -> bool:
    try:
        return proc.environ().get(TREE_TAG_ENV) == tag
    except (psutil.Error, OSError):
        return False


def find_tree(root_pid: int, *, tag: str | None = None, include_root: bool = True,
              also: Iterable[int] = ()) -> list[psutil.Process]:
    """Live processes of the tree rooted at ``root_pid``: its descendants, members of its process group
    and session (both ``root_pid`` for a supervised command), processes carrying ``tag``, and the
    processes ``also`` names (the members of the command's cgroup) with their descendants.

    Blocking (it reads ``/proc``), so async callers run it in a thread. Zombies are left out.
    """
    me = os.getpid()
    found: dict[int, psutil.Process] = {}

    def add(proc: psutil.Process) -> None:
        if proc.pid != me and proc.pid not in found and not is_gone(proc):
            found[proc.pid] = proc

    with contextlib.suppress(psutil.Error):
        root = psutil.Process(root_pid)
        if include_root:
            add(root)
        for child in root.children(recursive=True):
            add(child)
    for pid in also:
        if pid in found or pid in (me, root_pid):
            continue
        with contextlib.suppress(psutil.Error):
            member = psutil.Process(pid)
            add(member)
            for child in member.children(recursive=True):
                add(child)
    uid = os.getuid()
    for pid in psutil.pids():
        if pid in found or pid in (me, root_pid):
            continue
        try:
            in_group = os.getpgid(pid) == root_pid or os.getsid(pid) == root_pid
        except OSError:
            continue
        try:
            proc = psutil.Process(pid)
            # Only our own processes can carry the tag (and only theirs are readable without root).
            if in_group or (tag is not None and (uid == 0 or proc.uids().real == uid) and _tagged(proc, tag)):
                add(proc)
                for child in proc.children(recursive=True):
                    add(child)
        except psutil.Error:
            continue
    return list(found.values())


def tagged_under(folder: Path) -> list[psutil.Process]:
    """Live processes started under any ManagedProcess (they carry ``TREE_TAG_ENV``) whose working folder
    is inside ``folder``: every shell of a PINOKIO_HOME works under it, whichever daemon started it."""
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["status"]):
        try:
            if (proc.info["status"] != psutil.STATUS_ZOMBIE and TREE_TAG_ENV in proc.environ()
                    and Path(proc.cwd()).is_relative_to(folder)):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
            continue
    return found
