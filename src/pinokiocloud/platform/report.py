"""Everything ``doctor`` shows, gathered in one value: platform, paths, GPUs, system, tools, warnings.

The daemon and the UI will serve the same report, so it is built here from explicit inputs (environment
mapping, filesystem root, settings values) rather than in the CLI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from pinokiocloud.platform.cloud import CloudInfo, detect_cloud
from pinokiocloud.platform.gpu import GpuProbe, GpuReading, probe_gpus
from pinokiocloud.platform.policy import Fit, Requirements, check_requirements, review
from pinokiocloud.platform.system import (
    CpuInfo,
    DiskInfo,
    MemoryInfo,
    NetInterface,
    SystemFacts,
    ToolInfo,
    detect_system,
    disk_info,
    find_tools,
    read_cpu,
    read_interfaces,
    read_memory,
    read_mounts,
)

__all__ = ["MachineReport", "ProcessTracking", "build_report", "to_jsonable"]


@dataclass(frozen=True, slots=True)
class ProcessTracking:
    """Whether each app command gets its own cgroup, in words. Found by ``procs.cgroups.probe`` (a layer
    above this one), so callers pass it in."""

    cgroups: bool
    how: str


@dataclass(frozen=True, slots=True)
class MachineReport:
    cloud: CloudInfo
    home: str
    is_home_set: bool
    home_disk: DiskInfo
    persist_disk: DiskInfo | None
    facts: SystemFacts
    """The values that feed the kernel facade and template variables (spec §2.5)."""
    gpu_source: str
    gpu_readings: tuple[GpuReading, ...]
    cpu: CpuInfo
    memory: MemoryInfo
    network: tuple[NetInterface, ...]
    tools: tuple[ToolInfo, ...]
    fit: Fit | None
    """The answer for ``requirements``, when some were given."""
    requirements: Requirements | None
    warnings: tuple[str, ...]
    """Everything the user should read: the platform's policy first, then problems found."""
    processes: ProcessTracking | None = None
    """How a stop finds an app's processes here (``procs.cgroups``), when the caller checked."""
    tool_origins: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Where each tool of app shells comes from (``envs.tools.inventory``, a layer above), when given."""

    def to_dict(self) -> dict[str, Any]:
        """The ``doctor --json`` shape."""
        persist = to_jsonable(self.cloud.persist)
        persist["disk"] = to_jsonable(self.persist_disk)
        return {
            "platform": {
                "id": self.cloud.id,
                "name": self.cloud.name,
                "detected_by": self.cloud.detected_by,
                "session": to_jsonable(self.cloud.session),
                "exposure": to_jsonable(self.cloud.exposure),
                "is_tunnel_allowed": self.cloud.is_tunnel_allowed,
                "policy": list(self.cloud.policy),
            },
            "paths": {
                "home": {"path": self.home, "is_set": self.is_home_set, "recommended": self.cloud.home,
                         "disk": to_jsonable(self.home_disk)},
                "persist": persist,
            },
            "gpu": {
                "source": self.gpu_source,
                "selected": to_jsonable(self.facts.selected_gpu),
                "gpus": to_jsonable(self.facts.gpus),
                "readings": to_jsonable(self.gpu_readings),
            },
            "template": self.facts.template_values(),
            "system": {
                "os": self.facts.platform,
                "arch": self.facts.arch,
                "cpu": to_jsonable(self.cpu),
                "memory": to_jsonable(self.memory),
                "network": to_jsonable(self.network),
                "processes": to_jsonable(self.processes),
            },
            "tools": {t.name: {"path": t.path, "version": t.version, "origin": self.tool_origins.get(t.name)}
                      for t in self.tools},
            "requirements": None if self.requirements is None else {
                "needs": to_jsonable(self.requirements), **to_jsonable(self.fit)},
            "warnings": list(self.warnings),
        }


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tuples, paths and int-keyed dicts as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    return value


def build_report(
    environ: Mapping[str, str],
    *,
    home: Path,
    is_home_set: bool = True,
    platform_override: str | None = None,
    persist: Path | None = None,
    root: Path = Path("/"),
    known_tools: Mapping[str, Path | None] | None = None,
    requirements: Requirements | None = None,
    use_nvml: bool = True,
    processes: ProcessTracking | None = None,
    tool_names: Sequence[str] | None = None,
    tool_origins: Mapping[str, str] | None = None,
) -> MachineReport:
    """Detect everything for ``doctor``. Never raises for what it finds: problems become ``warnings``.

    The GPU probe and the tool versions (subprocesses) run while the files are read, to keep ``doctor``
    quick on a 2-core machine.
    """
    path_env = environ.get("PATH")
    with ThreadPoolExecutor(max_workers=2) as pool:
        gpu_job = pool.submit(probe_gpus, path_env, use_nvml=use_nvml)
        tools_job = (pool.submit(find_tools, path_env, tool_names, known=known_tools) if tool_names
                     else pool.submit(find_tools, path_env, known=known_tools))
        warnings: list[str] = []
        cloud = detect_cloud(environ, root, override=platform_override, persist=persist)
        mounts = read_mounts(root)
        home_disk = disk_info(home, root, warnings, mounts)
        persist_disk = (disk_info(Path(cloud.persist.path), root, warnings, mounts)
                        if cloud.persist.path is not None else None)
        cpu = read_cpu(root, warnings)
        memory = read_memory(root, warnings)
        network = tuple(read_interfaces(root, warnings))
        probe: GpuProbe = gpu_job.result()
        tools = tuple(tools_job.result())
    facts = detect_system(path_env, probe=probe)
    fit = None
    if requirements is not None:
        fit = check_requirements(requirements, gpu=facts.selected_gpu, disk=home_disk, memory=memory)
    advice = review(cloud, home=str(home), is_home_set=is_home_set, home_disk=home_disk,
                    home_fs_type=home_disk.fs_type, gpus=facts.gpus, memory=memory)
    missing = [f"{t.name} not found" for t in tools if t.path is None and t.name in ("git", "node")]
    escapable = (processes.how,) if processes is not None and not processes.cgroups else ()
    return MachineReport(
        cloud=cloud, home=str(home), is_home_set=is_home_set, home_disk=home_disk, persist_disk=persist_disk,
        facts=facts, gpu_source=probe.source, gpu_readings=probe.readings, cpu=cpu, memory=memory,
        network=network, tools=tools, fit=fit, requirements=requirements,
        warnings=(*cloud.policy, *cloud.warnings, *probe.warnings, *warnings, *advice,
                  *(f"{m}: launchers that need it will fail" for m in missing), *escapable),
        processes=processes, tool_origins=dict(tool_origins or {}),
    )
