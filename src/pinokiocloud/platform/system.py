"""The machine facts launchers branch on (spec §2.5: platform, arch, gpu, gpu_model, vram, ram).

Values use the original's vocabulary (Node's ``os.platform()``/``os.arch()`` names, lower-cased GPU
vendor and model) because launchers compare against those exact strings.
"""

from __future__ import annotations

import os
import platform as _platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["GpuInfo", "SystemFacts", "detect_system"]

_NODE_PLATFORM = {"linux": "linux", "darwin": "darwin", "win32": "win32", "cygwin": "win32"}
_NODE_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "i686": "ia32", "i386": "ia32"}
NVIDIA_SMI_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True)
class GpuInfo:
    name: str
    """Vendor, lower case (``nvidia``, ``amd``, ``apple``, ``intel``), as ``gpus[].name`` in the original."""
    model: str
    driver: str | None
    vram: int
    """Memory in GB, rounded."""
    target: str | None = None
    """``sm_XY`` for NVIDIA."""


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


def _ram_gb() -> int:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3)
    except (ValueError, OSError, AttributeError):
        return 0


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """Parse ``nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader``."""
    gpus: list[GpuInfo] = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0]:
            continue
        mem = parts[2].split()[0] if parts[2] else "0"
        try:
            vram = round(float(mem) / 1024)
        except ValueError:
            vram = 0
        target = None
        if len(parts) > 3 and parts[3].replace(".", "").isdigit():
            target = "sm_" + parts[3].replace(".", "")
        gpus.append(GpuInfo("nvidia", parts[0].lower(), parts[1] or None, vram, target))
    return gpus


def _nvidia_gpus() -> list[GpuInfo]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    query = "--query-gpu=name,driver_version,memory.total,compute_cap"
    try:
        done = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return parse_nvidia_smi(done.stdout) if done.returncode == 0 else []


def detect_system() -> SystemFacts:
    """Read this machine's facts; a missing or failing GPU tool means no GPU, never an error."""
    return SystemFacts(
        platform=_NODE_PLATFORM.get(sys.platform, sys.platform),
        arch=_NODE_ARCH.get(_platform.machine().lower(), _platform.machine().lower()),
        ram=_ram_gb(),
        gpus=_nvidia_gpus(),
    )
