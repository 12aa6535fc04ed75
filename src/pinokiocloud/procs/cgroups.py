"""A cgroup (v2) per supervised command, so a stop reaches everything the command started.

The process group and the environment tag of ``tree`` miss a child that leaves the session, wipes its
environment and changes folder (``env -i setsid sh -c '… &'`` started from ``/``). Such a child cannot
leave its cgroup: only a process with write access to another cgroup's ``cgroup.procs`` can move it, and
an app's processes do not get that from us. So where the machine lets us create a child cgroup and move a
process into it (cgroup v2 mounted, our own cgroup writable: root in most cloud containers), every
command starts in its own group (the child joins it between fork and exec, before it runs anything), and a
stop ends with ``cgroup.kill`` (kernel 5.14+; before that: freeze, SIGKILL every member, thaw).

Elsewhere (cgroup v1 only, a non-root user in a systemd session) ``probe()`` says why, the supervisor
keeps the group + tag method, and ``doctor`` shows which one is in use.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CGROUP_FOLDER", "OFF_ENV", "Cgroup", "CgroupSupport", "own_cgroup", "probe", "v2_mount"]

log = logging.getLogger(__name__)

CGROUP_FOLDER = "pinokiocloud"
"""Folder under the daemon's own cgroup that holds one cgroup per supervised command."""
OFF_ENV = "PINOKIOCLOUD_CGROUPS"
"""Set to ``0``/``off`` to keep the group + tag method even where cgroups would work."""
KILL_POLL_S = 0.01
STALE_AFTER_S = 60.0
"""An empty group this old is left over (a new one is joined within milliseconds), so ``sweep`` removes it."""
"""How often ``Cgroup.kill`` looks whether the group has emptied."""


def v2_mount(mountinfo: Path = Path("/proc/self/mountinfo")) -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup`` on a v2 machine,
    ``/sys/fs/cgroup/unified`` on a hybrid one), or ``None``."""
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        head, sep, tail = line.partition(" - ")
        if sep and tail.split(" ", 1)[0] == "cgroup2":
            return Path(head.split(" ")[4])
    return None


def own_cgroup(pid: int | str = "self") -> str | None:
    """The v2 cgroup of ``pid`` (``/`` or ``/some/path``), from the ``0::`` line of ``/proc/PID/cgroup``."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):
            return line[3:] or "/"
    return None


@dataclass(frozen=True, slots=True)
class CgroupSupport:
    """Whether commands get their own cgroup here, and why (or why not), in words for ``doctor``."""

    available: bool
    parent: Path | None
    """The folder new cgroups are made in (``CGROUP_FOLDER`` under our own cgroup)."""
    has_kill: bool
    """``cgroup.kill`` exists (kernel 5.14+); without it a kill freezes the group first."""
    detail: str

    def describe(self) -> str:
        """One sentence saying how a stop finds a command's processes on this machine."""
        if self.available:
            how = "cgroup.kill" if self.has_kill else "freeze + SIGKILL of every member"
            return (f"each command runs in its own cgroup under {self.parent}; stop ends it with {how}, "
                    "so no child escapes")
        return (f"no cgroups ({self.detail}); stop finds a command's processes by process group, session "
                "and an environment tag, so a child that leaves its session and clears its environment "
                "can escape a stop")


class Cgroup:
    """One cgroup folder: its members, signals to them, a kill that leaves none, removal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._procs = str(path / "cgroup.procs")

    @classmethod
    def create(cls, parent: Path, name: str) -> Cgroup:
        """Make ``parent/name`` (and ``parent``). Raises ``OSError`` when the machine does not allow it."""
        parent.mkdir(exist_ok=True)
        path = parent / name
        path.mkdir()
        return cls(path)

    def join(self) -> None:
        """Move the calling process into this group. Safe between fork and exec (no locks, plain
        syscalls); errors are left to the caller, which checks membership from the parent."""
        fd = os.open(self._procs, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def add(self, pid: int) -> None:
        """Move process ``pid`` into this group."""
        with open(self._procs, "w") as procs:
            procs.write(str(pid))

    def pids(self) -> list[int]:
        """Live members (zombies are not listed); empty once the group is gone."""
        try:
            return [int(p) for p in Path(self._procs).read_text().split()]
        except (OSError, ValueError):
            return []

    def contains(self, pid: int) -> bool:
        """Whether ``pid`` is in this group (or one below it)."""
        mount, theirs = v2_mount(), own_cgroup(pid)
        return mount is not None and theirs is not None and (mount / theirs.lstrip("/")).is_relative_to(self.path)

    def signal(self, sig: signal.Signals) -> int:
        """Send ``sig`` to every member; how many were signalled."""
        sent = 0
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
                sent += 1
        return sent

    def kill(self, timeout_s: float = 2.0) -> bool:
        """SIGKILL every member, forks in flight included; True once the group is empty. Blocking (it
        polls the group until it empties), so async callers use a thread."""
        kill_file = self.path / "cgroup.kill"
        freeze_file = self.path / "cgroup.freeze"
        deadline = time.monotonic() + timeout_s
        try:
            kill_file.write_text("1")
        except FileNotFoundError:
            self._kill_frozen(freeze_file)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return True
            log.warning("cgroup.kill of %s failed (%s); killing its members one by one", self.path, exc)
            self._kill_frozen(freeze_file)
        while self.pids():
            if time.monotonic() >= deadline:
                return False
            self.signal(signal.SIGKILL)
            time.sleep(KILL_POLL_S)
        return True

    def _kill_frozen(self, freeze_file: Path) -> None:
        """Older kernels: freeze the group so nobody forks, SIGKILL every member, thaw (a frozen process
        only dies once thawed)."""
        frozen = False
        with contextlib.suppress(OSError):
            freeze_file.write_text("1")
            frozen = True
        self.signal(signal.SIGKILL)
        if frozen:
            with contextlib.suppress(OSError):
                freeze_file.write_text("0")

    def remove(self) -> bool:
        """Remove the (empty) group; False while it still has members."""
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True


def sweep(parent: Path, min_age_s: float = STALE_AFTER_S) -> int:
    """Remove empty groups under ``parent`` older than ``min_age_s`` (left by a daemon that was killed, or
    whose leftovers someone else killed); a group in use has a member, and a new one is not old yet."""
    removed = 0
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False) and now - entry.stat().st_mtime >= min_age_s:
                    group = Cgroup(Path(entry.path))
                    if not group.pids() and group.remove():
                        removed += 1
    return removed


@functools.cache
def probe() -> CgroupSupport:
    """Find out once per process whether commands can get their own cgroup: make a test group, move a
    short-lived child into it, kill it through the group, remove the group."""
    return probe_now()


def probe_now() -> CgroupSupport:
    """``probe`` without the cache (the real test every time)."""
    if os.environ.get(OFF_ENV, "").strip().lower() in ("0", "off", "no", "false"):
        return CgroupSupport(False, None, False, f"turned off by {OFF_ENV}")
    if not sys.platform.startswith("linux"):
        return CgroupSupport(False, None, False, "cgroups exist on Linux only")
    mount = v2_mount()
    if mount is None:
        return CgroupSupport(False, None, False, "cgroup v2 is not mounted (only cgroup v1 or none)")
    own = own_cgroup()
    if own is None:
        return CgroupSupport(False, None, False, "this process has no cgroup v2 path in /proc/self/cgroup")
    parent = mount / own.lstrip("/") / CGROUP_FOLDER
    try:
        group = Cgroup.create(parent, f"probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    except OSError as exc:
        return CgroupSupport(False, None, False, f"cannot create a cgroup in {parent.parent}: {exc.strerror}")
    child: subprocess.Popen[bytes] | None = None
    try:
        child = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            group.add(child.pid)
        except OSError as exc:
            return CgroupSupport(False, None, False,
                                 f"cannot move a process into a new cgroup under {parent}: {exc.strerror}")
        if not group.contains(child.pid):
            return CgroupSupport(False, None, False, f"a process moved into {group.path} did not arrive there")
        has_kill = (group.path / "cgroup.kill").exists()
        if not group.kill():
            return CgroupSupport(False, None, False, f"a process in {group.path} survived a kill of the group")
        sweep(parent)
        return CgroupSupport(True, parent, has_kill, f"cgroup v2 at {mount}")
    except OSError as exc:
        return CgroupSupport(False, None, False, f"testing a cgroup under {parent} failed: {exc}")
    finally:
        if child is not None:
            with contextlib.suppress(OSError):
                child.kill()
            child.wait()
        group.remove()
