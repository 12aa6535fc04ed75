"""The Pinokio runtime: the Node sidecar, script loading, templates and launchers."""

from __future__ import annotations

from pinokiocloud.kernel.bridge import NodeSidecar, find_node
from pinokiocloud.kernel.context import KernelContext
from pinokiocloud.kernel.launcher import Launcher, find_launcher_root, load_launcher
from pinokiocloud.kernel.scripts import (
    LoadedScript,
    RenderedStep,
    load_script,
    render_script,
    render_steps,
    render_template,
)

__all__ = [
    "KernelContext",
    "Launcher",
    "LoadedScript",
    "NodeSidecar",
    "RenderedStep",
    "find_launcher_root",
    "find_node",
    "load_launcher",
    "load_script",
    "render_script",
    "render_steps",
    "render_template",
]
