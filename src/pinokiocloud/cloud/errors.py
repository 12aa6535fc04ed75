"""The cloud launcher's errors, under the project's one tree (``pinokiocloud.errors``).

    UserError
    └── CloudSetupError            SkyPilot cannot launch what was asked; names the command that fixes it
        ├── SkyPilotMissingError   the optional extra is not installed
        ├── NoCloudEnabledError    no cloud (or not the one asked for) has credentials in SkyPilot
        ├── UnknownGpuError        a GPU name no enabled cloud offers
        ├── NoOfferError           no offer meets the app's needs (GPU, disk) on the enabled clouds
        ├── MissingTokenError      a token the task forwards is not set here
        └── ClusterNotFoundError   no cluster of that app in SkyPilot
    PinokioCloudError
    └── CloudLaunchError           SkyPilot provisioned, but the app did not come up (its last lines)

Each is raised before anything is provisioned, except ``CloudLaunchError``. They are defined in ``errors.py``
(the one tree) and re-exported here for the cloud modules.
"""

from __future__ import annotations

from pinokiocloud.errors import (
    CloudLaunchError,
    CloudSetupError,
    ClusterNotFoundError,
    MissingTokenError,
    NoCloudEnabledError,
    NoOfferError,
    SkyPilotMissingError,
    UnknownGpuError,
)

__all__ = [
    "CloudLaunchError",
    "CloudSetupError",
    "ClusterNotFoundError",
    "MissingTokenError",
    "NoCloudEnabledError",
    "NoOfferError",
    "SkyPilotMissingError",
    "UnknownGpuError",
]


