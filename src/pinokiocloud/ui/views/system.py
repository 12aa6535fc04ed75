"""System: the platform, GPUs, disks, memory and network (the ``doctor`` report with its warnings), and
charts of CPU, memory, disk and GPU readings over the last minutes."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING

import streamlit as st

from pinokiocloud.client import Client
from pinokiocloud.ui import common
from pinokiocloud.ui.jsonread import number, obj, objs

if TYPE_CHECKING:
    from pinokiocloud.client import MachineReport

HISTORY_KEY = "_system_history"
HISTORY_S = 600.0  # how far back the charts go


def render() -> None:
    st.title("System")
    the_client = common.client()
    with common.shown_errors():
        if st.button("Refresh the report", key="system_refresh"):
            st.session_state.pop("_system_report", None)
        report = common.system_report(the_client)
        _report(report)
        _charts(the_client)
        _details(report)


def _report(report: MachineReport) -> None:
    warnings = report.get("warnings") or []
    for warning in warnings:
        st.warning(str(warning))
    if not warnings:
        st.success("doctor found nothing to warn about", icon=":material/check_circle:")
    cloud = obj(report.get("cloud"))
    facts = obj(report.get("facts"))
    cpu = obj(report.get("cpu"))
    memory = obj(report.get("memory"))
    disk = obj(report.get("home_disk"))
    gpu = common.selected_gpu(report)
    columns = st.columns(5)
    columns[0].metric("Platform", str(cloud.get("name") or "unknown"), help=str(cloud.get("detected_by") or ""))
    columns[1].metric("System", f"{facts.get('platform')} {facts.get('arch')}",
                      help=f"{cpu.get('count')} CPUs ({cpu.get('usable')} usable), {cpu.get('model') or ''}")
    columns[2].metric("GPU memory", common.fmt_gb(gpu.vram) if gpu else "no GPU",
                      help=f"{gpu.model if gpu else 'no GPU'}, found by {report.get('gpu_source')}")
    columns[3].metric("Free memory", common.fmt_gb(number(memory.get("available_gb"))),
                      help=f"of {common.fmt_gb(number(memory.get('total_gb')))}")
    columns[4].metric("Free disk", common.fmt_gb(number(disk.get("free_gb"))),
                      help=f"of {common.fmt_gb(number(disk.get('total_gb')))} at {disk.get('path')} (PINOKIO_HOME)")
    st.caption(f"{cpu.get('count')} CPUs ({cpu.get('model') or 'unknown model'}) · "
               f"GPU: {gpu.model + (' (' + str(gpu.driver) + ')' if gpu.driver else '') if gpu else 'none'} · "
               f"PINOKIO_HOME {disk.get('path')}")


@st.fragment(run_every=common.LIVE_REFRESH_S)
def _charts(the_client: Client) -> None:
    with common.shown_errors():
        reading = the_client.system_live()
        # one reading per point: "time" (a Unix time) and each series' value
        history: list[dict[str, float]] = st.session_state.setdefault(HISTORY_KEY, [])
        now = float(reading.get("time") or 0)
        point = {
            "time": now,
            "CPU %": float(reading.get("cpu_percent") or 0),
            "memory %": float(reading["memory"].get("percent") or 0),
            "disk free GB": round(float(reading["disk"].get("free") or 0) / 1e9, 2),
        }
        for gpu in reading.get("gpus") or []:
            if (utilization := number(gpu.get("utilization_pct"))) is not None:
                point[f"GPU{gpu.get('index')} %"] = utilization
            if (memory_mb := number(gpu.get("memory_used_mb"))) is not None:
                point[f"GPU{gpu.get('index')} memory MB"] = memory_mb
        history.append(point)
        cutoff = now - HISTORY_S
        history[:] = [p for p in history if p["time"] >= cutoff]
        st.subheader("Over the last minutes")
        st.caption(f"{len(history)} readings, one every {common.LIVE_REFRESH_S:g} s while this page is open")
        load, gpu_col = st.columns(2)
        with load:
            _chart(history, ["CPU %", "memory %"], "CPU and memory (%)")
            _chart(history, ["disk free GB"], "Free disk at PINOKIO_HOME (GB)")
        with gpu_col:
            gpu_series = sorted({k for p in history for k in p if k.startswith("GPU")})
            if gpu_series:
                _chart(history, [k for k in gpu_series if k.endswith("%")], "GPU utilisation (%)")
                _chart(history, [k for k in gpu_series if k.endswith("MB")], "GPU memory used (MB)")
            else:
                st.caption("No GPU readings on this machine.")


def _chart(history: list[dict[str, float]], series: list[str], title: str) -> None:
    if not series:
        return
    st.markdown(f"**{title}**")
    data = {"time": [datetime.datetime.fromtimestamp(p["time"]) for p in history],
            **{s: [p.get(s) for p in history] for s in series}}
    st.line_chart(data, x="time", y=series, height=200)


def _details(report: MachineReport) -> None:
    st.subheader("GPUs")
    gpus = objs(obj(report.get("facts")).get("gpus"))
    readings = {r.get("index"): r for r in report.get("gpu_readings") or []}
    if gpus:
        st.dataframe([{"vendor": g.get("name"), "model": g.get("model"), "VRAM GB": g.get("vram"),
                       "driver": g.get("driver"), "target": g.get("target"),
                       "memory used MB": obj(readings.get(i)).get("memory_used_mb"),
                       "utilisation %": obj(readings.get(i)).get("utilization_pct")}
                      for i, g in enumerate(gpus)], hide_index=True, width="stretch")
    else:
        st.caption("No GPU found.")

    st.subheader("Disks")
    disks = [("PINOKIO_HOME", report.get("home_disk")), ("persistent root", report.get("persist_disk"))]
    st.dataframe([{"use": use, "path": d.get("path"), "free GB": d.get("free_gb"), "total GB": d.get("total_gb"),
                   "filesystem": d.get("fs_type"), "exists": d.get("exists")}
                  for use, d in disks if isinstance(d, dict)], hide_index=True, width="stretch")
    persist = obj(obj(report.get("cloud")).get("persist"))
    if not report.get("persist_disk") and persist.get("how_to_mount"):
        st.caption(f"No persistent root: {persist['how_to_mount']}")

    st.subheader("Network")
    st.dataframe([{"interface": n.get("name"), "state": n.get("state"), "IPv4": _joined(n.get("ipv4")),
                   "IPv6": _joined(n.get("ipv6"))} for n in report.get("network") or []],
                 hide_index=True, width="stretch")
    exposure = obj(obj(report.get("cloud")).get("exposure"))
    if exposure.get("how"):
        st.caption(f"Reaching apps: {exposure['how']}")

    st.subheader("Tools")
    origins = report.get("tool_origins") or {}
    st.dataframe([{"tool": t.get("name"), "version": t.get("version") or "missing", "path": t.get("path") or "",
                   "comes from": _origin(t, origins)}
                  for t in report.get("tools") or []], hide_index=True, width="stretch")
    st.caption("App shells find these first on PATH. A tool this machine lacks is installed when a script's "
               "`requires` asks for it: from PyPI, conda (PINOKIOCLOUD_CONDA_CHANNELS or conda-forge) or apt.")


def _joined(addresses: object) -> str:
    return ", ".join(str(a) for a in addresses) if isinstance(addresses, list) else ""


def _origin(tool: Mapping[str, object], origins: Mapping[str, str]) -> str:
    """Where app shells get the tool: what envs.tools recorded, else the machine's PATH."""
    origin = origins.get(str(tool.get("name")))
    if origin == "missing" or (not origin and not tool.get("path")):
        return "not here; installed when a script requires it"
    return str(origin or "system")


render()
