"""Facts about the machine PinokioCloud runs on: cloud platform, OS, CPU, memory, disks, GPUs, and the
judgments made from them (does an app fit, what should the user be warned about)."""

from __future__ import annotations

from pinokiocloud.platform.cloud import CloudInfo, Exposure, Persistence, SessionHints, colab_proxy_url, detect_cloud
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
