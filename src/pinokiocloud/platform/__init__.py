"""Facts about the machine PinokioCloud runs on: OS, CPU architecture, memory, GPUs."""

from __future__ import annotations

from pinokiocloud.platform.system import GpuInfo, SystemFacts, detect_system

__all__ = ["GpuInfo", "SystemFacts", "detect_system"]
