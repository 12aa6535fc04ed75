"""PinokioCloud: run unmodified Pinokio launchers on cloud GPU machines."""

from __future__ import annotations

from pinokiocloud.errors import (
    BadParamError,
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
    UserError,
)

__all__ = [
    "BadParamError",
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
    "UserError",
]
__version__ = "0.1.0"
