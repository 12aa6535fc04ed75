"""The machine facts launchers branch on (spec §2.5: platform, arch, gpu, gpu_model, vram, ram), and the
wider facts ``doctor`` reports: CPU, memory, disks, network interfaces and tools.

Template values use the original's vocabulary (Node's ``os.platform()``/``os.arch()`` names, lower-cased GPU
vendor and model) because launchers compare against those exact strings.

Readers of ``/proc`` and ``/sys`` take the filesystem ``root`` as a parameter, so tests can hand them a fake
tree; a file that is missing or unreadable gives ``None`` and a sentence in ``warnings``, never an exception.
"""

from __future__ import annotations

import ipaddress
import os
import platform as _platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pinokiocloud.platform.gpu import GpuInfo, GpuProbe, parse_nvidia_smi, probe_gpus

__all__ = [
    "CpuInfo",
    "DiskInfo",
    "GpuInfo",
    "MemoryInfo",
    "NetInterface",
    "SystemFacts",
    "ToolInfo",
    "detect_system",
    "disk_info",
    "find_tools",
    "holding_mount",
    "node_arch",
    "node_platform",
    "parse_nvidia_smi",
    "read_cpu",
    "read_interfaces",
    "read_memory",
    "read_mounts",
]

_NODE_PLATFORM = {"linux": "linux", "darwin": "darwin", "win32": "win32", "cygwin": "win32"}
_NODE_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "i686": "ia32", "i386": "ia32"}
NVIDIA_SMI_TIMEOUT_S = 10
TOOL_VERSION_TIMEOUT_S = 5
TOOLS = ("node", "uv", "git", "ffmpeg", "conda")
"""The tools launchers call most (app-patterns): reported by ``doctor``."""
_VERSION_ARGS = {"ffmpeg": ["-version"]}
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class SystemFacts:
    platform: str
    arch: str
    ram: int
    gpus: list[GpuInfo] = field(default_factory=list)

    @property
    def selected_gpu(self) -> GpuInfo | None:
        """NVIDIA first, else the AMD card with the most memory, else the first card (spec §2.5)."""
        for gpu in self.gpus:
            if gpu.name == "nvidia":
                return gpu
        amd = [g for g in self.gpus if g.name == "amd"]
        if amd:
            return max(amd, key=lambda g: g.vram)
        return self.gpus[0] if self.gpus else None

    def template_values(self) -> dict[str, Any]:
        """The global template values of spec §2.5 for these facts."""
        gpu = self.selected_gpu
        return {
            "platform": self.platform,
            "arch": self.arch,
            "gpu": gpu.name if gpu else "none",
            "gpu_model": gpu.model if gpu else None,
            "gpu_driver": gpu.driver if gpu else None,
            "gpu_target": gpu.target if gpu else None,
            "gpus": [{"name": g.name, "model": g.model, "driver": g.driver, "vram": g.vram} for g in self.gpus],
            "vram": gpu.vram if gpu else 0,
            "ram": self.ram,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def node_platform() -> str:
    """``os.platform()`` as Node names it."""
    return _NODE_PLATFORM.get(sys.platform, sys.platform)


def node_arch() -> str:
    """``os.arch()`` as Node names it."""
    machine = _platform.machine().lower()
    return _NODE_ARCH.get(machine, machine)


def _ram_gb() -> int:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB)
    except (ValueError, OSError, AttributeError):
        return 0


def detect_system(path_env: str | None = None, *, probe: GpuProbe | None = None) -> SystemFacts:
    """Read this machine's facts; a missing or failing GPU tool means no GPU, never an error.

    ``path_env`` is the PATH to look for ``nvidia-smi``/``rocm-smi`` on; ``probe`` reuses a GPU probe
    already made (``doctor`` makes one and reports its warnings).
    """
    found = probe if probe is not None else probe_gpus(path_env, timeout_s=NVIDIA_SMI_TIMEOUT_S)
    return SystemFacts(platform=node_platform(), arch=node_arch(), ram=_ram_gb(), gpus=list(found.gpus))


# --- files under /proc and /sys ---------------------------------------------------------------------------------


def _under(root: Path, path: str | Path) -> Path:
    """``path`` (absolute, as on the real machine) inside the tree at ``root``."""
    p = Path(path)
    return root / p.relative_to(p.anchor) if p.is_absolute() else root / p


def _read(root: Path, path: str, warnings: list[str] | None) -> str | None:
    try:
        return _under(root, path).read_text(errors="replace")
    except OSError as exc:
        if warnings is not None:
            warnings.append(f"cannot read {path} ({exc.strerror or exc})")
        return None


@dataclass(frozen=True, slots=True)
class CpuInfo:
    count: int
    """Logical CPUs of the machine."""
    usable: int
    """CPUs this process may run on (affinity, container cpuset), and at most a cgroup CPU quota."""
    model: str | None


def _cgroup_cpu_quota(root: Path) -> float | None:
    text = _read(root, "/sys/fs/cgroup/cpu.max", None)
    if text:
        quota, _, period = text.strip().partition(" ")
        if quota != "max" and quota.isdigit() and period.isdigit() and int(period) > 0:
            return int(quota) / int(period)
    quota_v1 = _read(root, "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", None)
    period_v1 = _read(root, "/sys/fs/cgroup/cpu/cpu.cfs_period_us", None)
    if quota_v1 and period_v1:
        try:
            q, p = int(quota_v1), int(period_v1)
        except ValueError:
            return None
        if q > 0 and p > 0:
            return q / p
    return None


def read_cpu(root: Path = Path("/"), warnings: list[str] | None = None) -> CpuInfo:
    """CPU count and model; containers often allow fewer CPUs than the host shows, so both are given."""
    count = os.cpu_count() or 1
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = count
    quota = _cgroup_cpu_quota(root)
    if quota is not None:
        usable = max(1, min(usable, int(quota + 0.999)))
    model = None
    text = _read(root, "/proc/cpuinfo", warnings)
    if text:
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model", "Hardware") and value.strip():
                model = value.strip()
                break
    if model is None:
        model = _platform.processor() or None
    return CpuInfo(count=count, usable=usable, model=model)


@dataclass(frozen=True, slots=True)
class MemoryInfo:
    total_gb: float | None
    """``MemTotal``: what launchers see as ``ram`` (the host's memory, also inside containers)."""
    available_gb: float | None
    limit_gb: float | None
    """The container's memory limit (cgroup) when it is below ``total_gb``, else ``None``."""


def _cgroup_memory_limit(root: Path) -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        text = _read(root, path, None)
        if text and text.strip().isdigit():
            return int(text.strip())
    return None


def read_memory(root: Path = Path("/"), warnings: list[str] | None = None) -> MemoryInfo:
    text = _read(root, "/proc/meminfo", warnings)
    values: dict[str, int] = {}
    for line in (text or "").splitlines():
        match = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if match:
            values[match.group(1)] = int(match.group(2)) * 1024
    total = values.get("MemTotal")
    available = values.get("MemAvailable", values.get("MemFree"))
    if total is None and text is not None and warnings is not None:
        warnings.append("cannot find MemTotal in /proc/meminfo")
    limit = _cgroup_memory_limit(root)
    if limit is not None and total is not None and limit >= total:
        limit = None
    if limit is not None and available is not None:
        available = min(available, limit)
    return MemoryInfo(
        total_gb=None if total is None else round(total / GIB, 1),
        available_gb=None if available is None else round(available / GIB, 1),
        limit_gb=None if limit is None else round(limit / GIB, 1),
    )


# --- mounts and disks -------------------------------------------------------------------------------------------


def _unescape_mount(text: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as octal (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def read_mounts(root: Path = Path("/")) -> dict[str, str] | None:
    """Mount point → filesystem type, from ``/proc/self/mountinfo``; ``None`` when it cannot be read."""
    text = _read(root, "/proc/self/mountinfo", None)
    if text is None:
        return None
    mounts: dict[str, str] = {}
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        mounts[_unescape_mount(fields[4])] = right.split()[0] if right.split() else "unknown"
    return mounts


def holding_mount(path: str, mounts: Mapping[str, str]) -> tuple[str, str] | None:
    """The deepest mount point at or above ``path`` (absolute, as on the real machine) and its type."""
    best: tuple[str, str] | None = None
    for point, fs_type in mounts.items():
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[0])):
            best = (point, fs_type)
    return best


@dataclass(frozen=True, slots=True)
class DiskInfo:
    path: str
    """The folder asked about (as on the real machine)."""
    measured_at: str | None
    """The nearest existing folder at or above ``path`` (a home not created yet is measured at its parent)."""
    total_gb: float | None
    free_gb: float | None
    exists: bool
    fs_type: str | None = None
    """Type of the filesystem holding ``path`` (``ext4``, ``overlay``, ``fuse.drive`` …), when known."""


def disk_info(
    path: Path,
    root: Path = Path("/"),
    warnings: list[str] | None = None,
    mounts: Mapping[str, str] | None = None,
) -> DiskInfo:
    """Size and free space of the filesystem that holds ``path`` (or would, once it is created)."""
    target = _under(root, path) if path.is_absolute() else path
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        if warnings is not None:
            warnings.append(f"cannot measure the disk at {path} ({exc.strerror or exc})")
        return DiskInfo(str(path), None, None, None, target.exists())
    measured = "/" / probe.relative_to(root) if probe.is_relative_to(root) else probe
    holder = holding_mount(str(measured), mounts) if mounts is not None else None
    return DiskInfo(str(path), str(measured), round(usage.total / GIB, 1), round(usage.free / GIB, 1),
                    target.exists(), holder[1] if holder else None)


# --- network ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NetInterface:
    name: str
    state: str | None
    """``up``, ``down``, ``unknown`` (loopback and many virtual links say unknown)."""
    mac: str | None
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]


def _ipv4_addresses(route_text: str, fib_text: str) -> dict[str, list[str]]:
    """Local IPv4 addresses per interface, from ``/proc/net/fib_trie`` (addresses) and ``/proc/net/route``
    (which interface holds which subnet; values in host byte order). Loopback addresses belong to ``lo``."""
    routes: list[tuple[ipaddress.IPv4Network, str]] = []
    for line in route_text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        try:
            dest = ipaddress.IPv4Address(int(parts[1], 16).to_bytes(4, sys.byteorder))
            mask = ipaddress.IPv4Address(int(parts[7], 16).to_bytes(4, sys.byteorder))
            routes.append((ipaddress.IPv4Network(f"{dest}/{mask}", strict=False), parts[0]))
        except (ValueError, OverflowError):
            continue
    local: list[str] = []
    previous = ""
    for line in fib_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            previous = stripped[3:].strip()
        elif stripped.startswith("/32 host LOCAL") and previous and previous not in local:
            local.append(previous)
    found: dict[str, list[str]] = {}
    for text in local:
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            continue
        if address.is_loopback:
            found.setdefault("lo", []).append(text)
            continue
        matches = [(net.prefixlen, name) for net, name in routes if address in net and net.prefixlen > 0]
        if matches:
            found.setdefault(max(matches)[1], []).append(text)
    return found


def _ipv6_addresses(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or len(parts[0]) != 32:
            continue
        try:
            address, prefix = ipaddress.IPv6Address(bytes.fromhex(parts[0])), int(parts[2], 16)
        except ValueError:
            continue
        found.setdefault(parts[5], []).append(f"{address}/{prefix}")
    return found


def read_interfaces(root: Path = Path("/"), warnings: list[str] | None = None) -> list[NetInterface]:
    """Network interfaces with state, MAC and addresses (Linux ``/sys/class/net`` and ``/proc/net``)."""
    net = _under(root, "/sys/class/net")
    try:
        names = sorted(p.name for p in net.iterdir())
    except OSError as exc:
        if warnings is not None:
            warnings.append(f"cannot list network interfaces in /sys/class/net ({exc.strerror or exc})")
        names = []
    v4 = _ipv4_addresses(_read(root, "/proc/net/route", None) or "", _read(root, "/proc/net/fib_trie", None) or "")
    v6 = _ipv6_addresses(_read(root, "/proc/net/if_inet6", None) or "")
    names += sorted(n for n in {*v4, *v6} if n not in names)
    result = []
    for name in names:
        state = _read(root, f"/sys/class/net/{name}/operstate", None)
        mac = _read(root, f"/sys/class/net/{name}/address", None)
        mac = mac.strip() if mac else None
        result.append(NetInterface(
            name=name, state=state.strip() if state else None,
            mac=None if not mac or mac == "00:00:00:00:00:00" else mac,
            ipv4=tuple(v4.get(name, ())), ipv6=tuple(v6.get(name, ())),
        ))
    return result


# --- tools ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolInfo:
    name: str
    path: str | None
    version: str | None


def _version(name: str, exe: str) -> str | None:
    try:
        done = subprocess.run([exe, *_VERSION_ARGS.get(name, ["--version"])], capture_output=True, text=True,
                              timeout=TOOL_VERSION_TIMEOUT_S, check=False, errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip()
    first = text.splitlines()[0].strip() if text else ""
    match = re.search(r"\d+\.\d+(?:\.\d+)?[\w.+-]*", first)
    return match.group().rstrip(",") if match else (first or None)


def find_tools(
    path_env: str | None,
    names: Sequence[str] = TOOLS,
    known: Mapping[str, Path | None] | None = None,
) -> list[ToolInfo]:
    """Where each tool is and its version. ``known`` gives paths found another way (the Node the sidecar
    will use, the uv next to this Python); the rest are looked up on ``path_env``. Versions are asked in
    parallel, because a ``conda --version`` alone can take half a second."""
    paths: dict[str, str | None] = {}
    for name in names:
        given = (known or {}).get(name)
        paths[name] = str(given) if given is not None else shutil.which(name, path=path_env)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        versions = {name: pool.submit(_version, name, exe) for name, exe in paths.items() if exe}
        return [ToolInfo(name, paths[name], versions[name].result() if name in versions else None)
                for name in names]
