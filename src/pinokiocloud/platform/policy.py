"""Judgments over the facts: does an app fit this machine, and what should the user be warned about.

Kept apart from detection so the same rules serve ``doctor``, ``install`` (warn before a 10 GB install
onto 5 GB free) and the UI, and so each rule can be tested with plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: `doctor`'s options read this module without probing the machine
    from pinokiocloud.platform.cloud import CloudInfo
    from pinokiocloud.platform.gpu import GpuInfo
    from pinokiocloud.platform.system import DiskInfo, MemoryInfo

__all__ = ["GPU_VENDORS", "LOW_DISK_GB", "Fit", "Requirements", "check_requirements", "review"]

GPU_VENDORS = ("nvidia", "amd", "apple", "intel")
LOW_DISK_GB = 10.0
"""Below this much free space at PINOKIO_HOME most AI apps cannot install (torch alone is 2–4 GB)."""
_NETWORK_FS = ("fuse", "nfs", "nfs4", "cifs", "smb3", "9p", "virtiofs")
_VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "apple": "Apple", "intel": "Intel"}


@dataclass(frozen=True, slots=True)
class Requirements:
    """What an app needs. Zero or ``None`` means "no requirement"."""

    vram_gb: float = 0
    disk_gb: float = 0
    gpu: str | None = None
    """Vendor the app needs (``nvidia``, ``amd``, ``apple``, ``intel``), or ``None`` for any or none."""
    ram_gb: float = 0

    def __post_init__(self) -> None:
        if self.gpu is not None and self.gpu.lower() not in GPU_VENDORS:
            raise ValueError(f"unknown GPU vendor {self.gpu!r}; use one of {', '.join(GPU_VENDORS)}")
        for name in ("vram_gb", "disk_gb", "ram_gb"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


@dataclass(frozen=True, slots=True)
class Fit:
    fits: bool
    reasons: tuple[str, ...]
    """Why not (empty when it fits); each says what is missing and what to do."""


def _gb(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") + " GB"


def check_requirements(
    needs: Requirements,
    *,
    gpu: GpuInfo | None,
    disk: DiskInfo | None,
    memory: MemoryInfo | None = None,
) -> Fit:
    """Whether an app with ``needs`` fits: ``gpu`` is the selected GPU (spec §2.5), ``disk`` the free space
    where it will be installed (PINOKIO_HOME), ``memory`` this machine's RAM."""
    reasons: list[str] = []
    if needs.gpu is not None:
        vendor = needs.gpu.lower()
        if gpu is None:
            reasons.append(f"needs an {_VENDOR_NAMES[vendor]} GPU; this machine has none (pick a GPU runtime)")
        elif gpu.name != vendor:
            reasons.append(f"needs an {_VENDOR_NAMES[vendor]} GPU; this machine has the {gpu.model} "
                           f"({_VENDOR_NAMES.get(gpu.name, gpu.name)})")
    if needs.vram_gb > 0:
        if gpu is None:
            if needs.gpu is None:
                reasons.append(f"needs {_gb(needs.vram_gb)} of GPU memory; this machine has no GPU")
        elif gpu.vram < needs.vram_gb:
            reasons.append(f"needs {_gb(needs.vram_gb)} of GPU memory; the {gpu.model} has {_gb(gpu.vram)}")
    if needs.disk_gb > 0:
        if disk is None or disk.free_gb is None:
            reasons.append(f"needs {_gb(needs.disk_gb)} of disk; the free space could not be measured")
        elif disk.free_gb < needs.disk_gb:
            reasons.append(f"needs {_gb(needs.disk_gb)} of disk, {disk.path} has {_gb(disk.free_gb)} free; "
                           "free space or set PINOKIO_HOME to a bigger disk")
    if needs.ram_gb > 0 and memory is not None:
        have = memory.limit_gb if memory.limit_gb is not None else memory.total_gb
        if have is not None and have < needs.ram_gb:
            reasons.append(f"needs {_gb(needs.ram_gb)} of RAM; this machine has {_gb(have)}")
    return Fit(not reasons, tuple(reasons))


def _is_network_fs(fs_type: str | None) -> bool:
    if fs_type is None or fs_type == "fuse.fuse-overlayfs":  # rootless containers' local root filesystem
        return False
    return any(fs_type == n or fs_type.startswith(n + ".") for n in _NETWORK_FS)


def review(
    cloud: CloudInfo,
    *,
    home: str,
    is_home_set: bool,
    home_disk: DiskInfo | None,
    home_fs_type: str | None,
    gpus: Sequence[GpuInfo],
    memory: MemoryInfo | None,
) -> list[str]:
    """Warnings a user should read before installing apps, beyond those detection already made."""
    warnings: list[str] = []
    if not is_home_set and cloud.id != "local" and home != cloud.home:
        warnings.append(f"PINOKIO_HOME is not set, so apps go to {home}; on {cloud.name} use {cloud.home} "
                        f"(export PINOKIO_HOME={cloud.home})")
    if home_disk is not None and home_disk.free_gb is not None and home_disk.free_gb < LOW_DISK_GB:
        warnings.append(f"only {_gb(home_disk.free_gb)} free at {home}; most AI apps need 10–30 GB "
                        "(free space or set PINOKIO_HOME to a bigger disk)")
    if _is_network_fs(home_fs_type):
        warnings.append(f"PINOKIO_HOME ({home}) is on a network filesystem ({home_fs_type}): installs will be "
                        "slow and venvs may break; keep PINOKIO_HOME on local disk and use PINOKIOCLOUD_PERSIST "
                        "for models")
    if cloud.id not in ("local",) and cloud.persist.path is None:
        warnings.append(f"no persistent storage: everything is lost when this {cloud.name} session ends"
                        + (f"; {cloud.persist.how_to_mount}" if cloud.persist.how_to_mount else ""))
    if not gpus:
        warnings.append("no GPU found: launchers will install CPU builds, and most image and video apps "
                        "will be very slow or refuse to start")
    if memory is not None and memory.limit_gb is not None and memory.total_gb is not None:
        warnings.append(f"this container may use {_gb(memory.limit_gb)} of RAM although the machine shows "
                        f"{_gb(memory.total_gb)} (launchers see the larger number as `ram`)")
    return warnings
