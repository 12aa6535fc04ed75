"""GPU facts from nvidia-smi output, in the vocabulary launchers compare against (spec §2.5)."""

from __future__ import annotations

from pinokiocloud.platform import GpuInfo, SystemFacts
from pinokiocloud.platform.system import parse_nvidia_smi

# `nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader,nounits`
T4 = "Tesla T4, 535.104.05, 15360, 7.5\n"
TWO_T4 = T4 + T4
H100 = "NVIDIA H100 80GB HBM3, 550.54.15, 81559, 9.0\n"


def test_single_t4() -> None:
    assert parse_nvidia_smi(T4) == [GpuInfo("nvidia", "tesla t4", "535.104.05", 15, "sm_75")]


def test_two_cards_and_blank_lines() -> None:
    assert len(parse_nvidia_smi(TWO_T4 + "\n")) == 2


def test_h100_values_for_templates() -> None:
    facts = SystemFacts("linux", "x64", 1007, parse_nvidia_smi(H100))
    assert facts.template_values() == {
        "platform": "linux", "arch": "x64", "gpu": "nvidia", "gpu_model": "nvidia h100 80gb hbm3",
        "gpu_driver": "550.54.15", "gpu_target": "sm_90",
        "gpus": [{"name": "nvidia", "model": "nvidia h100 80gb hbm3", "driver": "550.54.15", "vram": 80}],
        "vram": 80, "ram": 1007,
    }


def test_no_gpu_is_none_not_an_error() -> None:
    assert parse_nvidia_smi("") == []
    assert parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.") == []
    values = SystemFacts("linux", "x64", 24, []).template_values()
    assert (values["gpu"], values["gpu_model"], values["vram"], values["gpus"]) == ("none", None, 0, [])


def test_nvidia_wins_over_amd_and_amd_with_most_memory_wins() -> None:
    amd_small = GpuInfo("amd", "radeon rx 6600", None, 8, None)
    amd_big = GpuInfo("amd", "radeon rx 7900 xtx", None, 24, None)
    nvidia = GpuInfo("nvidia", "tesla t4", "535", 15, "sm_75")
    assert SystemFacts("linux", "x64", 1, [amd_small, nvidia]).selected_gpu == nvidia
    assert SystemFacts("linux", "x64", 1, [amd_small, amd_big]).selected_gpu == amd_big
