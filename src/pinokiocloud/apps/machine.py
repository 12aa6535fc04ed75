"""The machine report that ``doctor`` prints and the dashboard's System page shows: one assembly for both, so
they never disagree (the tools as an app shell finds them with where each comes from, how a stop finds an app's
processes, the persistent root)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from pinokiocloud.config import Settings
from pinokiocloud.errors import NodeNotFoundError
from pinokiocloud.platform.policy import Requirements
from pinokiocloud.platform.report import MachineReport, ProcessTracking, build_report

__all__ = ["known_tools", "machine_report"]


def known_tools(settings: Settings) -> tuple[dict[str, Path | None], dict[str, str]]:
    """Each command as an app shell finds it (``envs.tools``: our links first, then the machine's PATH) with
    where it comes from, and the Node the sidecar will really use. Blocking (subprocesses, files)."""
    from pinokiocloud.envs.tools import ensure_shims, inventory
    from pinokiocloud.kernel import find_node

    try:
        node: Path | None = find_node(settings.node, settings.environ.get("PATH"))
    except NodeNotFoundError:
        node = None
    with contextlib.suppress(OSError):  # a read-only home: the machine's own tools are still listed
        ensure_shims(settings.home)
    found = inventory(settings.home, settings.environ.get("PATH"))
    known: dict[str, Path | None] = {s.command: Path(s.path) if s.path else None for s in found}
    origins = {s.command: s.origin for s in found}
    if known.get("node") is None and node is not None:
        known["node"], origins["node"] = node, "the sidecar's Node"
    return known, origins


def machine_report(settings: Settings, requirements: Requirements | None = None) -> tuple[MachineReport,
                                                                                         dict[str, Any]]:
    """The report and the persistent root's description. Blocking: call it from a thread in the daemon."""
    from pinokiocloud.procs.cgroups import probe
    from pinokiocloud.store.persist import describe_root

    support = probe()
    known, origins = known_tools(settings)
    report = build_report(
        settings.environ, home=settings.home, is_home_set=settings.is_home_set,
        platform_override=settings.cloud_platform, persist=settings.persist,
        known_tools=known, tool_names=list(known), tool_origins=origins, requirements=requirements,
        processes=ProcessTracking(support.available, support.describe()),
    )
    return report, describe_root(settings)
