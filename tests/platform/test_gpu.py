"""GPU detection from recorded nvidia-smi / rocm-smi output and NVML-shaped values (spec §2.5 vocabulary).

Probes run with ``use_nvml=False`` so a GPU machine answers with the stand-in tools, not its own cards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from pinokiocloud.platform import GpuInfo, SystemFacts, probe_gpus
from pinokiocloud.platform.gpu import (
    GpuProcess,
    convert_nvml_device,
    parse_nvidia_smi_query,
    parse_rocm_smi,
)
from tests.platform.conftest import DATA, nvidia_smi_body

ToolPath = Callable[..., str]


def read(name: str) -> str:
    return (DATA / name).read_text()


def test_colab_t4_reads_as_launchers_expect() -> None:
    gpus, readings = parse_nvidia_smi_query(read("nvidia-smi-t4.csv"), read("nvidia-smi-t4-apps.csv"))
    assert gpus == [GpuInfo("nvidia", "tesla t4", "535.104.05", 15, "sm_75")]
    (t4,) = readings
    assert (t4.model, t4.memory_total_mb, t4.memory_used_mb, t4.utilization_pct, t4.temperature_c, t4.power_w) == (
        "Tesla T4", 15360, 0, 0, 41, 9.6)
    assert t4.processes == ()


def test_two_t4s_each_get_their_own_processes() -> None:
    gpus, readings = parse_nvidia_smi_query(read("nvidia-smi-2xt4.csv"), read("nvidia-smi-2xt4-apps.csv"))
    assert [g.model for g in gpus] == ["tesla t4", "tesla t4"]
    assert [r.index for r in readings] == [0, 1]
    assert readings[0].processes == (GpuProcess(2871, "/opt/conda/bin/python3.10", 6128, 0),)
    assert readings[0].utilization_pct == 87 and readings[0].memory_used_mb == 6134
    assert readings[1].processes == ()
    values = SystemFacts("linux", "x64", 31, gpus).template_values()
    assert len(values["gpus"]) == 2 and values["vram"] == 15


def test_a100_in_mig_mode_reports_unknown_values_as_null() -> None:
    gpus, readings = parse_nvidia_smi_query(read("nvidia-smi-a100-mig.csv"), read("nvidia-smi-a100-mig-apps.csv"))
    assert gpus == [GpuInfo("nvidia", "nvidia a100-sxm4-40gb", "535.129.03", 40, "sm_80")]
    assert readings[0].utilization_pct is None and readings[0].power_w is None
    assert readings[0].processes == (GpuProcess(1402, "python", None, 0),)


def test_h100_template_values_and_processes() -> None:
    gpus, readings = parse_nvidia_smi_query(read("nvidia-smi-h100.csv"), read("nvidia-smi-h100-apps.csv"))
    values = SystemFacts("linux", "x64", 1007, gpus).template_values()
    assert (values["gpu"], values["gpu_model"], values["gpu_driver"], values["gpu_target"], values["vram"]) == (
        "nvidia", "nvidia h100 80gb hbm3", "550.54.15", "sm_90", 80)
    assert [(p.pid, p.memory_used_mb) for p in readings[0].processes] == [(913, 70650), (1177, 512)]


def test_probe_runs_nvidia_smi_for_cards_and_processes(tool_path: ToolPath) -> None:
    path = tool_path(nvidia_smi=nvidia_smi_body("nvidia-smi-h100.csv", "nvidia-smi-h100-apps.csv"))
    probe = probe_gpus(path, use_nvml=False)
    assert probe.source == "nvidia-smi" and probe.warnings == ()
    assert probe.gpus[0].model == "nvidia h100 80gb hbm3"
    assert len(probe.readings[0].processes) == 2


def test_old_driver_without_compute_cap_is_asked_again(tool_path: ToolPath) -> None:
    error = DATA / "nvidia-smi-old-driver-error.txt"
    retry = DATA / "nvidia-smi-p100-old-driver.csv"
    body = (f'case "$*" in\n  *query-compute-apps*) ;;\n  *compute_cap*) cat {error}; exit 2;;\n'
            f'  *) cat {retry};;\nesac')
    probe = probe_gpus(tool_path(nvidia_smi=body), use_nvml=False)
    assert probe.gpus == (GpuInfo("nvidia", "tesla p100-pcie-16gb", "470.82.01", 16, None),)
    assert probe.warnings == ()


def test_driver_without_cards_is_no_gpu_and_no_warning(tool_path: ToolPath) -> None:
    probe = probe_gpus(tool_path(nvidia_smi=nvidia_smi_body("nvidia-smi-no-devices.txt", rc=6)), use_nvml=False)
    assert (probe.source, probe.gpus, probe.warnings) == ("none", (), ())


def test_broken_driver_is_no_gpu_with_the_tools_own_words(tool_path: ToolPath) -> None:
    probe = probe_gpus(tool_path(nvidia_smi=nvidia_smi_body("nvidia-smi-driver-failed.txt", rc=9)), use_nvml=False)
    assert probe.source == "none" and probe.gpus == ()
    assert probe.warnings == ("nvidia-smi failed (exit 9): NVIDIA-SMI has failed because it couldn't communicate "
                              "with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and "
                              "running.",)
    assert SystemFacts("linux", "x64", 12, list(probe.gpus)).template_values()["gpu"] == "none"


def test_hanging_tool_is_given_up_on(tool_path: ToolPath) -> None:
    probe = probe_gpus(tool_path(nvidia_smi="exec sleep 30"), use_nvml=False, timeout_s=0.5)
    assert probe.source == "none"
    assert probe.warnings == ("nvidia-smi failed (exit -1): no answer within 0.5 s",)


def test_tool_that_cannot_start_is_a_warning(tool_path: ToolPath) -> None:
    path = tool_path(nvidia_smi="true")
    (Path(path) / "nvidia-smi").write_text("#!/no/such/interpreter\n")
    probe = probe_gpus(path, use_nvml=False)
    assert probe.source == "none" and len(probe.warnings) == 1
    assert probe.warnings[0].startswith("nvidia-smi failed (exit -1)")


def test_amd_card_from_rocm_smi_after_its_warning_line(tool_path: ToolPath) -> None:
    body = f"cat {DATA / 'rocm-smi-warning-prefix.txt'} {DATA / 'rocm-smi-mi210.json'}"
    probe = probe_gpus(tool_path(rocm_smi=body), use_nvml=False)
    assert probe.source == "rocm-smi"
    assert probe.gpus == (GpuInfo("amd", "amd instinct mi210", "6.7.0", 64, "gfx90a"),)
    reading = probe.readings[0]
    assert (reading.utilization_pct, reading.temperature_c, reading.power_w, reading.memory_used_mb) == (
        12, 34, 43.0, 10800)
    assert reading.processes == (GpuProcess(4242, "python3", 10752, 0),)
    values = SystemFacts("linux", "x64", 64, list(probe.gpus)).template_values()
    assert (values["gpu"], values["gpu_target"], values["vram"]) == ("amd", "gfx90a", 64)


def test_broken_nvidia_smi_falls_back_to_rocm_smi(tool_path: ToolPath) -> None:
    path = tool_path(nvidia_smi=nvidia_smi_body("nvidia-smi-driver-failed.txt", rc=9),
                     rocm_smi=f"cat {DATA / 'rocm-smi-mi210.json'}")
    probe = probe_gpus(path, use_nvml=False)
    assert probe.source == "rocm-smi" and probe.gpus[0].name == "amd"
    assert len(probe.warnings) == 1 and probe.warnings[0].startswith("nvidia-smi failed (exit 9)")


def test_two_radeons_select_the_one_with_more_memory() -> None:
    gpus, _ = parse_rocm_smi(read("rocm-smi-2cards.json"))
    assert [(g.model, g.vram, g.target) for g in gpus] == [
        ("navi 23 [radeon rx 6600/6600 xt/6600m]", 8, "gfx1032"),
        ("navi 31 [radeon rx 7900 xt/7900 xtx]", 24, "gfx1100"),
    ]
    selected = SystemFacts("linux", "x64", 32, gpus).template_values()["gpu_model"]
    assert selected == "navi 31 [radeon rx 7900 xt/7900 xtx]"


def test_rocm_smi_garbage_is_a_warning_not_a_crash(tool_path: ToolPath) -> None:
    probe = probe_gpus(tool_path(rocm_smi="echo 'ERROR: GPU[0] : Unable to read'"), use_nvml=False)
    assert probe.source == "none" and probe.warnings[0].startswith("rocm-smi printed output we could not read")


def test_nvml_values_convert_like_the_tools() -> None:
    values = {
        "name": b"Tesla T4",
        "uuid": "GPU-3f1c2a6e-8d4b-4b1e-9a57-2c0f5e1d7b90",
        "driver": "535.104.05",
        "memory": SimpleNamespace(total=15843721216, used=2147483648, free=13696237568),
        "cuda_capability": (7, 5),
        "utilization": SimpleNamespace(gpu=57, memory=20),
        "temperature": 63,
        "power_mw": 41234,
        "processes": [SimpleNamespace(pid=100, usedGpuMemory=2097152000), SimpleNamespace(pid=101, usedGpuMemory=None),
                      SimpleNamespace(pid=100, usedGpuMemory=2097152000)],
        "process_names": {100: b"python3", 101: "Xorg"},
    }
    info, reading = convert_nvml_device(0, values)
    assert info == GpuInfo("nvidia", "tesla t4", "535.104.05", 15, "sm_75")
    assert (reading.memory_total_mb, reading.memory_used_mb, reading.utilization_pct, reading.temperature_c,
            reading.power_w) == (15110, 2048, 57, 63, 41.2)
    assert reading.processes == (GpuProcess(100, "python3", 2000, 0), GpuProcess(101, "Xorg", None, 0))


def test_nvml_queries_a_card_does_not_support_become_null() -> None:
    info, reading = convert_nvml_device(1, {"name": "NVIDIA A100-SXM4-80GB", "memory": None, "utilization": None})
    assert info == GpuInfo("nvidia", "nvidia a100-sxm4-80gb", None, 0, None)
    assert (reading.index, reading.memory_total_mb, reading.utilization_pct, reading.processes) == (1, None, None, ())


def test_probing_this_machine_never_raises() -> None:
    probe = probe_gpus()
    assert probe.source in ("nvml", "nvidia-smi", "rocm-smi", "none")
    assert len(probe.gpus) == len(probe.readings)


def test_garbage_from_nvidia_smi_reads_as_no_gpu() -> None:
    for text in ("", "\n\n", "name\n", 'name, memory.total [MiB]\n"unterminated, 12\n', "index, name\n0\n",
                 "\x00\x01\x02", "name, memory.total [MiB]\nTesla T4, lots\n"):
        gpus, readings = parse_nvidia_smi_query(text, text)
        assert len(gpus) == len(readings) <= 1
        assert all(g.vram == 0 for g in gpus)
