"""PinokioCloud: run unmodified Pinokio launchers on cloud GPU machines."""

from __future__ import annotations

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
