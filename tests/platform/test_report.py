"""The whole ``doctor`` report for fake machines: a Kaggle box with 2×T4 and a broken box."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pinokiocloud.platform import Requirements, build_report
from tests.platform.conftest import make_root, mountinfo, nvidia_smi_body
from tests.platform.test_machine import CPUINFO, MEMINFO


def test_kaggle_with_two_t4s(tmp_path: Path, tool_path: Callable[..., str]) -> None:
    root = make_root(tmp_path, ("/kaggle/working", "/kaggle/temp"), {
        "/proc/cpuinfo": CPUINFO, "/proc/meminfo": MEMINFO, "/proc/self/mountinfo": mountinfo(),
        "/sys/class/net/eth0/operstate": "up\n",
    })
    env = {"HOME": "/root", "KAGGLE_KERNEL_RUN_TYPE": "Interactive",
           "PATH": tool_path(nvidia_smi=nvidia_smi_body("nvidia-smi-2xt4.csv", "nvidia-smi-2xt4-apps.csv"))}
    report = build_report(env, home=Path("/kaggle/temp/pinokio"), is_home_set=True, root=root, use_nvml=False,
                          requirements=Requirements(vram_gb=16, gpu="nvidia"))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["platform"]["id"] == "kaggle" and data["platform"]["is_tunnel_allowed"] is False
    assert data["paths"]["home"] == {
        "path": "/kaggle/temp/pinokio", "is_set": True, "recommended": "/kaggle/temp/pinokio",
        "disk": data["paths"]["home"]["disk"]}
    assert data["paths"]["home"]["disk"]["exists"] is False
    assert data["paths"]["persist"]["path"] == "/kaggle/working" and data["paths"]["persist"]["is_mounted"]
    assert data["gpu"]["source"] == "nvidia-smi" and len(data["gpu"]["readings"]) == 2
    assert data["template"] == {
        "platform": "linux", "arch": data["system"]["arch"], "gpu": "nvidia", "gpu_model": "tesla t4",
        "gpu_driver": "550.90.07", "gpu_target": "sm_75",
        "gpus": [{"name": "nvidia", "model": "tesla t4", "driver": "550.90.07", "vram": 15}] * 2,
        "vram": 15, "ram": data["template"]["ram"]}
    assert data["system"]["cpu"]["model"] == "Intel(R) Xeon(R) CPU @ 2.20GHz"
    assert data["system"]["memory"]["total_gb"] == 12.7
    assert data["requirements"] == {
        "needs": {"vram_gb": 16, "disk_gb": 0, "gpu": "nvidia", "ram_gb": 0},
        "fits": False, "reasons": ["needs 16 GB of GPU memory; the tesla t4 has 15 GB"]}
    assert set(data["tools"]) == {"node", "uv", "git", "ffmpeg", "conda"}
    assert data["warnings"][0].startswith("Kaggle stops sessions that open public tunnels")


def test_a_broken_machine_degrades_to_warnings(tmp_path: Path, tool_path: Callable[..., str]) -> None:
    root = make_root(tmp_path)  # no /proc, no /sys: nothing readable
    env = {"HOME": "/root", "PATH": tool_path(nvidia_smi=nvidia_smi_body("nvidia-smi-driver-failed.txt", rc=9))}
    report = build_report(env, home=Path("/root/pinokio"), root=root, platform_override="colb", use_nvml=False)
    data = report.to_dict()
    assert data["platform"]["id"] == "local"
    assert data["gpu"]["source"] == "none" and data["template"]["gpu"] == "none"
    text = "\n".join(data["warnings"])
    for expected in ("PINOKIOCLOUD_PLATFORM='colb' is not a platform", "nvidia-smi failed (exit 9)",
                     "cannot read /proc/cpuinfo", "cannot read /proc/meminfo", "cannot list network interfaces",
                     "no GPU found", "git not found", "node not found"):
        assert expected in text
    assert data["system"]["memory"] == {"total_gb": None, "available_gb": None, "limit_gb": None}
