"""GPUs: what launchers branch on (spec §2.5) and live readings for monitoring.

Sources, in order: NVML (``nvidia-ml-py``, no subprocess, ~ms), then ``nvidia-smi``, then ``rocm-smi``.
A missing library, a missing or broken tool, or output we cannot parse never raises: the probe answers
"no GPU" and says why in ``warnings``, because a CPU machine or a half-installed driver is routine on clouds.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

__all__ = [
    "GpuInfo",
    "GpuProbe",
    "GpuProcess",
    "GpuReading",
    "convert_nvml_device",
    "parse_nvidia_smi",
    "parse_nvidia_smi_query",
    "parse_rocm_smi",
    "probe_gpus",
]

GPU_TOOL_TIMEOUT_S = 10
MIB = 1024**2
GPU_FIELDS = (
    "index", "uuid", "name", "driver_version", "memory.total", "memory.used", "utilization.gpu",
    "temperature.gpu", "power.draw", "compute_cap",
)
"""``nvidia-smi --query-gpu`` fields we ask for; ``compute_cap`` needs a driver from 2022 or later."""
APP_FIELDS = ("gpu_uuid", "pid", "process_name", "used_memory")
ROCM_ARGS = ("--showproductname", "--showmeminfo", "vram", "--showuse", "--showtemp", "--showdriverversion",
             "--showpids", "--json")
_MISSING = {"", "n/a", "[n/a]", "[not supported]", "not supported", "[unknown error]", "[insufficient permissions]"}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GpuInfo:
    name: str
    """Vendor, lower case (``nvidia``, ``amd``, ``apple``, ``intel``), as ``gpus[].name`` in the original."""
    model: str
    driver: str | None
    vram: int
    """Memory in GB, rounded."""
    target: str | None = None
    """``sm_XY`` for NVIDIA, ``gfxNNNN`` for AMD."""


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A process holding GPU memory. Inside a container NVML may list none (other PID namespace)."""

    pid: int
    name: str | None
    memory_used_mb: int | None
    gpu_index: int | None


@dataclass(frozen=True, slots=True)
class GpuReading:
    """One card's live state; ``None`` where the card or tool does not report a value."""

    index: int
    model: str
    uuid: str | None
    memory_total_mb: int | None
    memory_used_mb: int | None
    utilization_pct: int | None
    temperature_c: int | None
    power_w: float | None
    processes: tuple[GpuProcess, ...] = ()


@dataclass(frozen=True, slots=True)
class GpuProbe:
    source: str
    """``nvml``, ``nvidia-smi``, ``rocm-smi`` or ``none``."""
    gpus: tuple[GpuInfo, ...]
    readings: tuple[GpuReading, ...]
    warnings: tuple[str, ...] = ()


# --- values shared by the parsers -------------------------------------------------------------------------------


def _value(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    return None if text.lower() in _MISSING else text


def _number(text: str | None) -> float | None:
    text = _value(text)
    if text is None:
        return None
    match = re.match(r"-?\d+(?:\.\d+)?", text)
    return float(match.group()) if match else None


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _sm_target(cap: str | None) -> str | None:
    """``"8.6"`` → ``"sm_86"`` (how the original writes ``gpu_target``)."""
    cap = _value(cap)
    if cap and re.fullmatch(r"\d+\.\d+", cap):
        return "sm_" + cap.replace(".", "")
    return None


def _vram_gb(total_mb: float | None) -> int:
    return round(total_mb / 1024) if total_mb else 0


# --- nvidia-smi -------------------------------------------------------------------------------------------------


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


def _csv_rows(text: str) -> list[dict[str, str]]:
    """Rows of ``--format=csv`` output keyed by field name, units (``memory.total [MiB]``) dropped."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    reader = csv.reader(io.StringIO("\n".join(lines)), skipinitialspace=True)
    header = [re.sub(r"\s*\[.*?\]\s*$", "", h).strip() for h in next(reader)]
    if "name" not in header and "pid" not in header:
        return []
    return [dict(zip(header, row, strict=True)) for row in reader if len(row) == len(header)]


def parse_nvidia_smi_query(gpu_csv: str, apps_csv: str = "") -> tuple[list[GpuInfo], list[GpuReading]]:
    """Parse ``nvidia-smi --query-gpu=<GPU_FIELDS> --format=csv,nounits`` (with its header line) and,
    optionally, ``--query-compute-apps=<APP_FIELDS> --format=csv,nounits``. Works with or without units."""
    procs_by_uuid: dict[str, list[GpuProcess]] = {}
    for row in _csv_rows(apps_csv):
        pid = _int(_number(row.get("pid")))
        uuid = _value(row.get("gpu_uuid"))
        if pid is None or uuid is None:
            continue
        used = _number(row.get("used_memory", row.get("used_gpu_memory")))
        procs_by_uuid.setdefault(uuid, []).append(
            GpuProcess(pid, _value(row.get("process_name")), _int(used), None))
    gpus: list[GpuInfo] = []
    readings: list[GpuReading] = []
    for position, row in enumerate(_csv_rows(gpu_csv)):
        model = _value(row.get("name"))
        if model is None:
            continue
        index = _int(_number(row.get("index")))
        index = position if index is None else index
        total = _number(row.get("memory.total"))
        uuid = _value(row.get("uuid"))
        procs = tuple(GpuProcess(p.pid, p.name, p.memory_used_mb, index) for p in procs_by_uuid.get(uuid or "", []))
        gpus.append(GpuInfo("nvidia", model.lower(), _value(row.get("driver_version")), _vram_gb(total),
                            _sm_target(row.get("compute_cap"))))
        readings.append(GpuReading(
            index=index, model=model, uuid=uuid, memory_total_mb=_int(total),
            memory_used_mb=_int(_number(row.get("memory.used"))),
            utilization_pct=_int(_number(row.get("utilization.gpu"))),
            temperature_c=_int(_number(row.get("temperature.gpu"))),
            power_w=_number(row.get("power.draw")), processes=procs,
        ))
    return gpus, readings


def _run(exe: str, args: Sequence[str], timeout_s: float) -> tuple[int, str]:
    """Exit code and stdout+stderr; a tool that cannot start or hangs is reported as code -1."""
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout_s, check=False,
                              errors="replace")
    except subprocess.TimeoutExpired:
        return -1, f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return -1, str(exc)
    return done.returncode, done.stdout if done.returncode == 0 else (done.stdout + done.stderr)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "no output"


def _probe_nvidia_smi(exe: str, timeout_s: float, warnings: list[str]) -> GpuProbe | None:
    fields = list(GPU_FIELDS)
    code, out = _run(exe, [f"--query-gpu={','.join(fields)}", "--format=csv,nounits"], timeout_s)
    if code != 0 and "compute_cap" in out:
        # Drivers before ~510 do not know the field; ask again without it (gpu_target becomes null).
        fields.remove("compute_cap")
        code, out = _run(exe, [f"--query-gpu={','.join(fields)}", "--format=csv,nounits"], timeout_s)
    if code != 0:
        if "no devices were found" not in out.lower():
            warnings.append(f"nvidia-smi failed (exit {code}): {_first_line(out)}")
        return None
    _, apps = _run(exe, [f"--query-compute-apps={','.join(APP_FIELDS)}", "--format=csv,nounits"], timeout_s)
    try:
        gpus, readings = parse_nvidia_smi_query(out, apps)
    except csv.Error as exc:
        warnings.append(f"nvidia-smi printed output we could not read ({exc})")
        return None
    if not gpus:
        warnings.append(f"nvidia-smi printed no GPU we could read: {_first_line(out)}")
        return None
    return GpuProbe("nvidia-smi", tuple(gpus), tuple(readings))


# --- rocm-smi ---------------------------------------------------------------------------------------------------


def _pick(card: Mapping[str, object], *patterns: str) -> str | None:
    """First value whose key matches one of ``patterns`` (key names vary across ROCm releases)."""
    for pattern in patterns:
        for key, value in card.items():
            if re.fullmatch(pattern, key, flags=re.IGNORECASE) and _value(str(value)) is not None:
                return str(value).strip()
    return None


def parse_rocm_smi(text: str) -> tuple[list[GpuInfo], list[GpuReading]]:
    """Parse ``rocm-smi --showproductname --showmeminfo vram --showuse --showtemp --showdriverversion
    --showpids --json``. Raises ``ValueError`` for output that is not the JSON object it prints."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("rocm-smi JSON is not an object")
    system = data.get("system") if isinstance(data.get("system"), dict) else {}
    driver = _pick(system, r"driver version") if system else None
    cards = sorted(((int(k[4:]), v) for k, v in data.items()
                    if re.fullmatch(r"card\d+", k) and isinstance(v, dict)), key=lambda kv: kv[0])
    procs: list[GpuProcess] = []
    for key, value in (system or {}).items():
        match = re.fullmatch(r"PID\s*(\d+)", key)
        if not match:
            continue
        # "name, gpu count, vram bytes, sdma bytes, cu occupancy"
        parts = [p.strip() for p in str(value).split(",")]
        used = _number(parts[2]) if len(parts) > 2 else None
        procs.append(GpuProcess(int(match.group(1)), _value(parts[0]) if parts else None,
                                None if used is None else round(used / MIB), 0 if len(cards) == 1 else None))
    gpus: list[GpuInfo] = []
    readings: list[GpuReading] = []
    for index, card in cards:
        model = _pick(card, r"card series", r"card sku", r"card model", r"device name", r"market name") or "amd gpu"
        total_b = _number(_pick(card, r"vram total memory \(b\)"))
        used_b = _number(_pick(card, r"vram total used memory \(b\)"))
        target = _pick(card, r"gfx version")
        gpus.append(GpuInfo("amd", model.lower(), _value(_pick(card, r"driver version")) or driver,
                            _vram_gb(None if total_b is None else total_b / MIB),
                            target.lower() if target and target.lower().startswith("gfx") else None))
        readings.append(GpuReading(
            index=index, model=model, uuid=_pick(card, r"unique id", r"guid"),
            memory_total_mb=None if total_b is None else round(total_b / MIB),
            memory_used_mb=None if used_b is None else round(used_b / MIB),
            utilization_pct=_int(_number(_pick(card, r"gpu use \(%\)"))),
            temperature_c=_int(_number(_pick(card, r"temperature \(sensor edge\) \(c\)",
                                             r"temperature \(sensor junction\) \(c\)"))),
            power_w=_number(_pick(card, r"(average|current) graphics package power \(w\)")),
            processes=tuple(p for p in procs if p.gpu_index == index),
        ))
    return gpus, readings


def _probe_rocm_smi(exe: str, timeout_s: float, warnings: list[str]) -> GpuProbe | None:
    code, out = _run(exe, ROCM_ARGS, timeout_s)
    if code != 0:
        warnings.append(f"rocm-smi failed (exit {code}): {_first_line(out)}")
        return None
    # rocm-smi may print warnings before the JSON object.
    start = out.find("{")
    try:
        gpus, readings = parse_rocm_smi(out[start:] if start >= 0 else out)
    except (ValueError, TypeError) as exc:
        warnings.append(f"rocm-smi printed output we could not read ({exc})")
        return None
    if not gpus:
        return None
    return GpuProbe("rocm-smi", tuple(gpus), tuple(readings))


# --- NVML -------------------------------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return _value(str(value))


def convert_nvml_device(index: int, values: Mapping[str, object]) -> tuple[GpuInfo, GpuReading]:
    """Turn what pynvml returned for one device into our values.

    ``values`` keys (each may be missing or ``None`` when the card does not support the query):
    ``name`` (str/bytes), ``uuid``, ``driver``, ``memory`` (object with ``total``/``used`` bytes),
    ``cuda_capability`` (``(major, minor)``), ``utilization`` (object with ``gpu`` %), ``temperature`` (°C),
    ``power_mw``, ``processes`` (objects with ``pid`` and ``usedGpuMemory`` bytes or ``None``),
    ``process_names`` (pid → name).
    """
    model = _text(values.get("name")) or "nvidia gpu"
    memory = values.get("memory")
    total = getattr(memory, "total", None)
    used = getattr(memory, "used", None)
    cap = values.get("cuda_capability")
    target = f"sm_{cap[0]}{cap[1]}" if isinstance(cap, Sequence) and len(cap) == 2 else None
    found_names = values.get("process_names")
    names: Mapping[object, object] = found_names if isinstance(found_names, Mapping) else {}
    found_procs = values.get("processes")
    procs: list[GpuProcess] = []
    seen: set[int] = set()
    for proc in found_procs if isinstance(found_procs, (list, tuple)) else []:
        pid = getattr(proc, "pid", None)
        if not isinstance(pid, int) or pid in seen:
            continue
        seen.add(pid)
        mem = getattr(proc, "usedGpuMemory", None)
        procs.append(GpuProcess(pid, _text(names.get(pid)), round(mem / MIB) if isinstance(mem, int) else None,
                                index))
    power = values.get("power_mw")
    util = getattr(values.get("utilization"), "gpu", None)
    temp = values.get("temperature")
    info = GpuInfo("nvidia", model.lower(), _text(values.get("driver")),
                   _vram_gb(total / MIB) if isinstance(total, int) else 0, target)
    reading = GpuReading(
        index=index, model=model, uuid=_text(values.get("uuid")),
        memory_total_mb=round(total / MIB) if isinstance(total, int) else None,
        memory_used_mb=round(used / MIB) if isinstance(used, int) else None,
        utilization_pct=util if isinstance(util, int) else None,
        temperature_c=temp if isinstance(temp, int) else None,
        power_w=round(power / 1000, 1) if isinstance(power, int) else None,
        processes=tuple(procs),
    )
    return info, reading


def _read_nvml_device(nvml: ModuleType, handle: object, driver: str | None) -> dict[str, object]:
    """Each query on its own: a card that does not support one (NOT_SUPPORTED) still reports the rest.
    (pynvml is untyped: ``nvml`` is the module, ``handle`` its opaque device handle.)"""

    def ask(fn: Callable[..., T], *args: object) -> T | None:
        try:
            return fn(*args)
        except nvml.NVMLError:
            return None

    processes = (ask(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []) + (
        ask(nvml.nvmlDeviceGetGraphicsRunningProcesses, handle) or [])
    names = {}
    for proc in processes:
        pid = getattr(proc, "pid", None)
        if isinstance(pid, int) and pid not in names:
            names[pid] = ask(nvml.nvmlSystemGetProcessName, pid)
    return {
        "name": ask(nvml.nvmlDeviceGetName, handle),
        "uuid": ask(nvml.nvmlDeviceGetUUID, handle),
        "driver": driver,
        "memory": ask(nvml.nvmlDeviceGetMemoryInfo, handle),
        "cuda_capability": ask(nvml.nvmlDeviceGetCudaComputeCapability, handle),
        "utilization": ask(nvml.nvmlDeviceGetUtilizationRates, handle),
        "temperature": ask(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
        "power_mw": ask(nvml.nvmlDeviceGetPowerUsage, handle),
        "processes": processes,
        "process_names": names,
    }


def _probe_nvml(warnings: list[str]) -> GpuProbe | None:
    try:
        nvml = importlib.import_module("pynvml")
    except ImportError:
        return None
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        # No libnvidia-ml.so simply means no NVIDIA driver here: not worth a warning on its own.
        if not isinstance(exc, nvml.NVMLError_LibraryNotFound):
            warnings.append(f"NVML could not start: {exc}")
        return None
    except OSError as exc:
        warnings.append(f"NVML could not start: {exc}")
        return None
    try:
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
        except nvml.NVMLError:
            driver = None
        gpus: list[GpuInfo] = []
        readings: list[GpuReading] = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            info, reading = convert_nvml_device(index, _read_nvml_device(nvml, handle, driver))
            gpus.append(info)
            readings.append(reading)
    except nvml.NVMLError as exc:
        warnings.append(f"NVML failed while listing GPUs: {exc}")
        return None
    finally:
        with contextlib.suppress(nvml.NVMLError):
            nvml.nvmlShutdown()
    return GpuProbe("nvml", tuple(gpus), tuple(readings)) if gpus else None


# --- the probe --------------------------------------------------------------------------------------------------


def probe_gpus(
    path_env: str | None = None, *, use_nvml: bool = True, timeout_s: float = GPU_TOOL_TIMEOUT_S
) -> GpuProbe:
    """GPUs on this machine: NVML, else ``nvidia-smi``, else ``rocm-smi`` (looked up on ``path_env``).

    Never raises: with nothing found the answer is source ``none`` and the warnings say what failed.
    ``use_nvml=False`` skips the library, so tests can feed recorded tool output on a GPU machine too.
    """
    warnings: list[str] = []
    found = _probe_nvml(warnings) if use_nvml else None
    if found is None and (exe := shutil.which("nvidia-smi", path=path_env)):
        found = _probe_nvidia_smi(exe, timeout_s, warnings)
    if found is None and (exe := shutil.which("rocm-smi", path=path_env)):
        found = _probe_rocm_smi(exe, timeout_s, warnings)
    if found is None:
        return GpuProbe("none", (), (), tuple(warnings))
    return GpuProbe(found.source, found.gpus, found.readings, tuple(warnings))
