"""``pinokiocloud doctor``: what this machine is and what will go wrong, before anything is installed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.config import Settings
from pinokiocloud.errors import BadParamError
from pinokiocloud.platform.policy import GPU_VENDORS, Requirements

if TYPE_CHECKING:
    from pinokiocloud.platform.report import MachineReport

__all__ = ["doctor", "format_report"]

NeedVramOpt = Annotated[float, typer.Option("--need-vram", min=0, help="Check that the GPU has this many GB.")]
NeedDiskOpt = Annotated[float, typer.Option("--need-disk", min=0, help="Check for this many GB free at PINOKIO_HOME.")]
NeedGpuOpt = Annotated[
    str | None, typer.Option("--need-gpu", help=f"Check for a GPU of this vendor ({', '.join(GPU_VENDORS)}).")
]


def doctor(
    as_json: JsonOpt = False,
    need_vram: NeedVramOpt = 0,
    need_disk: NeedDiskOpt = 0,
    need_gpu: NeedGpuOpt = None,
) -> None:
    """Platform, GPUs, disks, tools and every warning; with --need-*, whether an app would fit."""
    settings = Settings.from_env()
    requirements = None
    if need_vram or need_disk or need_gpu:
        if need_gpu is not None and need_gpu.lower() not in GPU_VENDORS:
            raise BadParamError(f"--need-gpu must be one of {', '.join(GPU_VENDORS)}, got {need_gpu!r}")
        requirements = Requirements(vram_gb=need_vram, disk_gb=need_disk,
                                    gpu=need_gpu.lower() if need_gpu else None)
    from pinokiocloud.apps.machine import machine_report

    report, root = machine_report(settings, requirements)
    if as_json:
        data = report.to_dict()
        data["paths"]["persistent_root"] = root
        output.result(data, as_json=True)
    else:
        typer.echo(format_report(report, root=root))


def _gb(value: float | None) -> str:
    return "?" if value is None else f"{value:g} GB"


def _disk(disk: object) -> str:
    if not isinstance(disk, Mapping) or disk.get("free_gb") is None:
        return "size unknown"
    text = f"{_gb(disk['free_gb'])} free of {_gb(disk['total_gb'])}"
    return text + (f", {disk['fs_type']}" if disk.get("fs_type") else "")


def _persist_state(persist: Mapping[str, object]) -> str:
    if persist["is_mounted"]:
        return "mounted, " + _disk(persist["disk"])
    return "NOT mounted" if persist["exists"] else "missing"


def _root_line(root: Mapping[str, object] | None) -> str | None:
    """The persistent root: where, why, free space and what it holds (model files, backup, archives)."""
    from pinokiocloud.units import human_bytes

    if root is None:
        return None
    if root["path"] is None:
        return "Root       none: models and state last only this session"
    if not root["exists"]:
        return f"Root       {root['path']} ({root['why']}) does not exist yet: nothing is kept until it does"
    free_bytes, blob_bytes, backup_at, archives = (root["free_bytes"], root["blob_bytes"], root["backup_at"],
                                                   root["archives"])
    free = f"{free_bytes / 1024**3:.1f} GB free" if isinstance(free_bytes, (int, float)) else "free space unknown"
    holds = [f"{root['blobs']} model file(s), {human_bytes(blob_bytes if isinstance(blob_bytes, (int, float)) else 0)}"]
    if isinstance(backup_at, (int, float)) and backup_at:
        import time

        holds.append("a state backup of " + time.strftime("%Y-%m-%d %H:%M", time.localtime(backup_at)))
    if isinstance(archives, dict) and archives:
        holds.append(f"{len(archives)} app archive(s) ("
                     + ", ".join(f"{n} {human_bytes(b)}" for n, b in archives.items()) + ")")
    return f"Root       {root['path']} ({root['why']}), {free}; holds " + "; ".join(holds)


def format_report(report: MachineReport, *, root: Mapping[str, object] | None = None) -> str:
    """The report for people: one section per topic, warnings last so they are what stays on screen."""
    data = report.to_dict()
    plat, paths, gpu, system = data["platform"], data["paths"], data["gpu"], data["system"]
    home, persist = paths["home"], paths["persist"]
    exposure = plat["exposure"]
    lines: list[str | None] = [
        f"Platform   {plat['name']} ({plat['id']}), detected by {plat['detected_by']}",
        f"  session  {plat['session']['max_hours']:g} h at most" if plat["session"]["max_hours"] else None,
        *[f"  note     {n}" for n in plat["session"]["notes"]],
        f"  ports    {exposure['kind']}: {exposure['how']}",
        f"           e.g. port 7860 → {example}" if (example := report.cloud.exposure.url_for(7860)) else None,
        *[f"  mapped   {port} → {where}" for port, where in exposure["mapped_ports"].items()],
        f"  tunnels  {'allowed' if plat['is_tunnel_allowed'] else 'NOT allowed here'}",
        "",
        f"Home       {home['path']} ({_disk(home['disk'])})"
        + ("" if home["path"] == home["recommended"] else f"; recommended here: {home['recommended']}"),
        f"Persist    {persist['path']} ({_persist_state(persist)}); {persist['keeps']}" if persist["path"]
        else f"Persist    none; {persist['how_to_mount'] or persist['keeps']}",
        _root_line(root),
        "",
        f"GPU        {len(gpu['gpus'])} found via {gpu['source']}" if gpu["gpus"] else "GPU        none",
    ]
    for g, r in zip(gpu["gpus"], gpu["readings"], strict=False):
        lines.append(f"  [{r['index']}] {r['model']}  {g['vram']} GB  driver {g['driver']}  {g['target'] or ''}")
        live = [f"{r['utilization_pct']}% busy" if r["utilization_pct"] is not None else "",
                f"{r['memory_used_mb']}/{r['memory_total_mb']} MiB used" if r["memory_used_mb"] is not None else "",
                f"{r['temperature_c']} °C" if r["temperature_c"] is not None else "",
                f"{r['power_w']} W" if r["power_w"] is not None else ""]
        if any(live):
            lines.append("      " + ", ".join(x for x in live if x))
        lines += [f"      pid {p['pid']} {p['name'] or '?'} {p['memory_used_mb'] or '?'} MiB" for p in r["processes"]]
    tv = data["template"]
    lines += [
        f"  template gpu={tv['gpu']} gpu_model={tv['gpu_model']} gpu_target={tv['gpu_target']} vram={tv['vram']} "
        f"ram={tv['ram']} platform={tv['platform']} arch={tv['arch']}",
        "",
        f"CPU        {system['cpu']['usable']} usable of {system['cpu']['count']}: {system['cpu']['model']}",
        f"Memory     {_gb(system['memory']['total_gb'])} total, {_gb(system['memory']['available_gb'])} available"
        + (f", container limit {_gb(system['memory']['limit_gb'])}" if system["memory"]["limit_gb"] else ""),
    ]
    for net in system["network"]:
        addresses = ", ".join([*net["ipv4"], *net["ipv6"]]) or "no address"
        lines.append(f"Network    {net['name']} ({net['state'] or '?'}): {addresses}")
    lines.append("")
    for name, tool in data["tools"].items():
        where = (f"{tool['version'] or '?'}  {tool['path']}" if tool["path"] else
                 "not found; installed when a script's requires asks for it" if tool.get("origin") == "missing"
                 else "not found")
        origin = f"  ({tool['origin']})" if tool.get("origin") and tool["path"] else ""
        lines.append(f"Tool       {name:<16}{where}{origin}")
    if system["processes"]:
        procs = system["processes"]
        lines += ["", f"Processes  {'cgroups' if procs['cgroups'] else 'NO cgroups'}: {procs['how']}"]
    if data["requirements"]:
        req = data["requirements"]
        lines += ["", "Fits       yes" if req["fits"] else "Fits       NO", *[f"  - {r}" for r in req["reasons"]]]
    if data["warnings"]:
        lines += ["", "Warnings", *[f"  ! {w}" for w in data["warnings"]]]
    else:
        lines += ["", "No warnings."]
    return "\n".join(line for line in lines if line is not None)
