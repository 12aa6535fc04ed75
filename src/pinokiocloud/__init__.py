"""PinokioCloud: run unmodified Pinokio launchers on cloud GPU machines."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinokiocloud.lazy import lazy_exports

if TYPE_CHECKING:
    from pinokiocloud.client import Client
    from pinokiocloud.errors import (
        BadParamError,
        CatalogError,
        DaemonUnavailableError,
        DiskFullError,
        DownloadError,
        InputRequiredError,
        LauncherNotFoundError,
        NodeNotFoundError,
        PinokioCloudError,
        ScriptLoadError,
        ScriptTimeoutError,
        SidecarError,
        StepError,
        TunnelError,
        UserError,
    )
    from pinokiocloud.launch import launch

__all__ = [
    "BadParamError",
    "CatalogError",
    "Client",
    "DaemonUnavailableError",
    "DiskFullError",
    "DownloadError",
    "InputRequiredError",
    "LauncherNotFoundError",
    "NodeNotFoundError",
    "PinokioCloudError",
    "ScriptLoadError",
    "ScriptTimeoutError",
    "SidecarError",
    "StepError",
    "TunnelError",
    "UserError",
    "launch",
]
__version__ = "0.1.0"


_HOMES = {
    "client": ("Client",),
    "errors": tuple(n for n in __all__ if n.endswith("Error")),
    "launch": ("launch",),
}
"""Where each public name lives. Every name loads on first use: the watchdog and the restore's worker import
modules of this package, and would otherwise pay for the error tree (and ``typing``) first; ``Client`` and
``launch`` load HTTP machinery the CLI and the daemon do not need."""

if not TYPE_CHECKING:
    __getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
