"""PinokioCloud: run unmodified Pinokio launchers on cloud GPU machines."""

from __future__ import annotations

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

__all__ = [
    "BadParamError",
    "CatalogError",
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
]
__version__ = "0.1.0"
