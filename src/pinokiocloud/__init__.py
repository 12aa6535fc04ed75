"""PinokioCloud: run unmodified Pinokio launchers on cloud GPU machines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from pinokiocloud.client import Client
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


def __getattr__(name: str) -> Any:
    """``Client`` and ``launch`` load HTTP machinery; they are imported on first use, so the CLI and the
    daemon do not pay for them when they do not need them."""
    if name == "Client":
        from pinokiocloud.client import Client

        return Client
    if name == "launch":
        from pinokiocloud.launch import launch

        return launch
    raise AttributeError(f"module 'pinokiocloud' has no attribute {name!r}")
