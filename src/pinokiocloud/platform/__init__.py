"""Facts about the machine PinokioCloud runs on: cloud platform, OS, CPU, memory, disks, GPUs, and the
judgments made from them (does an app fit, what should the user be warned about).

The names load on first use (PEP 562), so a module that needs one probe does not import them all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinokiocloud.lazy import lazy_exports

if TYPE_CHECKING:
    from pinokiocloud.platform.cloud import (
        CloudInfo,
        Exposure,
        Persistence,
        SessionHints,
        colab_proxy_url,
        detect_cloud,
    )
    from pinokiocloud.platform.gpu import GpuInfo, GpuProbe, GpuProcess, GpuReading, probe_gpus
    from pinokiocloud.platform.policy import Fit, Requirements, check_requirements, review
    from pinokiocloud.platform.report import MachineReport, build_report
    from pinokiocloud.platform.system import SystemFacts, detect_system

__all__ = [
    "CloudInfo",
    "Exposure",
    "Fit",
    "GpuInfo",
    "GpuProbe",
    "GpuProcess",
    "GpuReading",
    "MachineReport",
    "Persistence",
    "Requirements",
    "SessionHints",
    "SystemFacts",
    "build_report",
    "check_requirements",
    "colab_proxy_url",
    "detect_cloud",
    "detect_system",
    "probe_gpus",
    "review",
]

_HOMES = {
    "cloud": ("CloudInfo", "Exposure", "Persistence", "SessionHints", "colab_proxy_url", "detect_cloud"),
    "gpu": ("GpuInfo", "GpuProbe", "GpuProcess", "GpuReading", "probe_gpus"),
    "policy": ("Fit", "Requirements", "check_requirements", "review"),
    "report": ("MachineReport", "build_report"),
    "system": ("SystemFacts", "detect_system"),
}
"""Each submodule and the names it exports (what ``__getattr__`` imports on first use)."""

if not TYPE_CHECKING:  # for the type checker the names above are the whole surface (a typo stays an error)
    __getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
