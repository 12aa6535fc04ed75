"""What a supervised process tree costs right now: CPU, memory, listening TCP ports and GPU memory.

The ports matter beyond monitoring: a launcher rarely says where its web UI listens, so the share layer
finds it by the ports the app's tree listens on. GPU readings come from ``platform.gpu`` (NVML, then
``nvidia-smi``, then ``rocm-smi``); this module only picks the tree's processes out of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass

import psutil

from pinokiocloud.platform.gpu import GpuProbe, GpuProcess, GpuReading, probe_gpus
from pinokiocloud.procs.cgroups import Cgroup
from pinokiocloud.procs.tree import find_tree

__all__ = ["Listener", "Usage", "UsageSampler", "gpu_processes_for", "listeners_for"]


@dataclass(frozen=True, slots=True)
class Listener:
    """One listening TCP socket: ``address`` is ``0.0.0.0``/``::`` for every interface."""

    address: str
    port: int
    pid: int | None


@dataclass(frozen=True, slots=True)
class Usage:
    """One reading of a process tree."""

    time: float
    """Wall-clock time of the reading (``time.time()``)."""
    pids: tuple[int, ...]
    """Live processes of the tree, the root first when it is alive."""
    cpu_percent: float | None
    """CPU used by the tree since the previous reading, 100 = one core (so it can pass 100);
    ``None`` on a sampler's first reading, when there is nothing to compare with."""
    rss_bytes: int
    """Sum of the processes' resident memory (pages shared between them count once per process)."""
    listeners: tuple[Listener, ...]
    """TCP sockets the tree listens on, sorted by port."""
    gpu_processes: tuple[GpuProcess, ...] = ()
    """The tree's processes that hold GPU memory."""
    gpu_memory_mb: int | None = None
    """GPU memory held by the tree; ``None`` when not asked for or no GPU tool answered."""

    @property
    def ports(self) -> tuple[int, ...]:
        """Distinct listening ports, ascending."""
        return tuple(sorted({item.port for item in self.listeners}))


def gpu_processes_for(pids: Collection[int], readings: Iterable[GpuReading]) -> tuple[GpuProcess, ...]:
    """The GPU processes among ``pids``. Inside a container NVML may report host PIDs, which match none."""
    return tuple(proc for reading in readings for proc in reading.processes if proc.pid in pids)


def listeners_for(procs: Sequence[psutil.Process]) -> tuple[Listener, ...]:
    """Listening TCP sockets of ``procs``. Each process is asked on its own (cheap: only its own file
    descriptors are read); where the OS refuses that, one system-wide scan filtered by PID stands in."""
    found: set[Listener] = set()
    refused = False
    for proc in procs:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.AccessDenied:
            refused = True
            continue
        except psutil.Error:
            continue
        found.update(Listener(c.laddr.ip, c.laddr.port, proc.pid)
                     for c in conns if c.status == psutil.CONN_LISTEN and c.laddr)
    if refused:
        pids = {proc.pid for proc in procs}
        with contextlib.suppress(psutil.Error, OSError):
            found.update(Listener(c.laddr.ip, c.laddr.port, c.pid) for c in psutil.net_connections(kind="tcp")
                         if c.status == psutil.CONN_LISTEN and c.laddr and c.pid in pids)
    return tuple(sorted(found, key=lambda item: (item.port, item.address, item.pid or 0)))


class UsageSampler:
    """Repeated readings of one tree. CPU % is a difference of CPU times, so the sampler remembers the
    previous reading; a process born since then counts from its start."""

    def __init__(self, root_pid: int, *, tag: str | None = None, cgroup: Cgroup | None = None,
                 gpu_probe: Callable[[], GpuProbe] = probe_gpus) -> None:
        self.root_pid = root_pid
        self.tag = tag
        self.cgroup = cgroup
        """The tree's cgroup: its members count even when they left the group and cleared the tag."""
        self._gpu_probe = gpu_probe
        self._cpu_s: dict[tuple[int, float], float] = {}
        self._last_wall: float | None = None
        self._last_mono = 0.0

    def sample(self, *, gpu: bool = False) -> Usage:
        """Read the tree now. Blocking (``/proc``, and with ``gpu`` NVML or a GPU tool): async callers
        use a thread. ``gpu`` is off by default because ``nvidia-smi`` can take a second."""
        procs = find_tree(self.root_pid, tag=self.tag, also=self.cgroup.pids() if self.cgroup is not None else ())
        wall, mono = time.time(), time.monotonic()
        cpu_s: dict[tuple[int, float], float] = {}
        rss = 0
        alive: list[psutil.Process] = []
        used_s = 0.0
        for proc in procs:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue
            alive.append(proc)
            cpu_s[key] = times.user + times.system
            if key in self._cpu_s:
                used_s += cpu_s[key] - self._cpu_s[key]
            elif self._last_wall is not None and key[1] >= self._last_wall:
                used_s += cpu_s[key]
        cpu: float | None = None
        if self._last_wall is not None and mono > self._last_mono:
            cpu = round(max(used_s, 0.0) / (mono - self._last_mono) * 100, 1)
        self._cpu_s, self._last_wall, self._last_mono = cpu_s, wall, mono
        alive.sort(key=lambda p: (p.pid != self.root_pid, p.pid))
        gpu_procs: tuple[GpuProcess, ...] = ()
        gpu_mb: int | None = None
        if gpu:
            probe = self._gpu_probe()
            if probe.source != "none":
                gpu_procs = gpu_processes_for({p.pid for p in alive}, probe.readings)
                gpu_mb = sum(p.memory_used_mb or 0 for p in gpu_procs)
        return Usage(wall, tuple(p.pid for p in alive), cpu, rss, listeners_for(alive), gpu_procs, gpu_mb)
