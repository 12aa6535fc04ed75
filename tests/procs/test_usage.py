"""Resource usage of real process trees, and GPU memory picked from recorded nvidia-smi output."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from pinokiocloud.platform.gpu import GpuProbe, parse_nvidia_smi_query
from pinokiocloud.procs import UsageSampler, gpu_processes_for
from tests.procs.conftest import Recorder, Spawn, run

PY = sys.executable
GPU_DATA = Path(__file__).parent.parent / "platform" / "data"


def test_usage_finds_the_port_a_grandchild_web_server_listens_on(spawn: Spawn) -> None:
    # "; true" keeps bash alive as the parent, so the server is one level down the tree.
    cmd = f"{PY} -m http.server 0 --bind 127.0.0.1; true"

    async def body() -> None:
        rec = Recorder()
        proc = await spawn(["bash", "-c", cmd], on_event=rec)
        port = int((await rec.expect(r"port (\d+)", timeout_s=3)).group(1))
        usage = await proc.usage()
        assert port in usage.ports
        (listener,) = [item for item in usage.listeners if item.port == port]
        assert listener.address == "127.0.0.1"
        assert listener.pid != proc.pid and listener.pid in usage.pids
        assert usage.pids[0] == proc.pid and len(usage.pids) == 2
        assert usage.rss_bytes > 5_000_000  # bash plus a Python interpreter
        assert usage.cpu_percent is None  # nothing to compare with yet
        assert usage.gpu_memory_mb is None
        await proc.stop(grace_s=0.3)
        assert (await proc.usage()).pids == ()

    run(body())


def test_cpu_percent_of_a_busy_child_is_high_and_of_an_idle_one_low(spawn: Spawn) -> None:
    async def body() -> None:
        busy = await spawn(["bash", "-c", f"{PY} -c 'while True: pass'; true"])
        idle = await spawn(["sleep", "30"])
        await asyncio.gather(busy.usage(), idle.usage())
        await asyncio.sleep(0.3)
        busy_now, idle_now = await asyncio.gather(busy.usage(), idle.usage())
        assert busy_now.cpu_percent is not None and busy_now.cpu_percent > 30
        assert idle_now.cpu_percent is not None and idle_now.cpu_percent < 10
        await asyncio.gather(busy.stop(grace_s=0.3), idle.stop(grace_s=0.3))

    run(body())


def _recorded_h100(pid_for_913: int | None = None) -> GpuProbe:
    apps = (GPU_DATA / "nvidia-smi-h100-apps.csv").read_text()
    if pid_for_913 is not None:
        apps = apps.replace(", 913,", f", {pid_for_913},")
    gpus, readings = parse_nvidia_smi_query((GPU_DATA / "nvidia-smi-h100.csv").read_text(), apps)
    return GpuProbe("nvidia-smi", tuple(gpus), tuple(readings))


def test_gpu_memory_is_picked_per_process_from_recorded_nvidia_smi_output() -> None:
    readings = _recorded_h100().readings
    (comfy,) = gpu_processes_for({913, 4242}, readings)
    assert (comfy.pid, comfy.memory_used_mb, comfy.gpu_index) == (913, 70650, 0)
    assert comfy.name == "/workspace/ComfyUI/venv/bin/python"
    assert gpu_processes_for({1}, readings) == ()


def test_sampler_reports_the_gpu_memory_of_its_tree(spawn: Spawn) -> None:
    async def body() -> None:
        proc = await spawn(["sleep", "30"])
        sampler = UsageSampler(proc.pid, tag=proc.tag, gpu_probe=lambda: _recorded_h100(pid_for_913=proc.pid))
        usage = await asyncio.to_thread(sampler.sample, gpu=True)
        assert usage.gpu_memory_mb == 70650 and [p.pid for p in usage.gpu_processes] == [proc.pid]
        no_gpu = UsageSampler(proc.pid, gpu_probe=lambda: GpuProbe("none", (), ()))
        assert (await asyncio.to_thread(no_gpu.sample, gpu=True)).gpu_memory_mb is None
        await proc.stop(grace_s=0.3)

    run(body())
