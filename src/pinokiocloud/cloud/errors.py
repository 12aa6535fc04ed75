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

Each is raised before anything is provisioned, except ``CloudLaunchError``. Defined here rather than in
``errors.py`` because that module belongs to another change in flight; they subclass its classes, so the CLI's
exit codes (2 for user errors) and the client's error mapping apply unchanged.
"""

from __future__ import annotations

from pinokiocloud.errors import PinokioCloudError, UserError

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


class CloudSetupError(UserError):
    """What is wrong, as one sentence, and the command that fixes it (also kept as ``fix``)."""

    def __init__(self, message: str, fix: str) -> None:
        self.fix = fix
        super().__init__(f"{message}; {fix}")


class SkyPilotMissingError(CloudSetupError):
    def __init__(self, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(f"SkyPilot is not installed{why}",
                         "install it with `pip install skypilot` (what the cloud extra of pinokiocloud brings)")


class NoCloudEnabledError(CloudSetupError):
    def __init__(self, wanted: str | None, enabled: list[str]) -> None:
        self.wanted = wanted
        self.enabled = enabled
        if wanted is None:
            super().__init__("no cloud is enabled in SkyPilot",
                             "set up the credentials of one (see docs/cloud.md), then run `sky check` to enable it")
        else:
            have = f" (enabled: {', '.join(enabled)})" if enabled else " (none is enabled)"
            super().__init__(f"{wanted} is not enabled in SkyPilot{have}",
                             f"set up its credentials (see docs/cloud.md), then run `sky check {wanted}`")


class UnknownGpuError(CloudSetupError):
    def __init__(self, name: str, clouds: list[str]) -> None:
        self.name = name
        where = ", ".join(clouds) or "the enabled clouds"
        super().__init__(f"no GPU called {name!r} is offered on {where}",
                         "list the names with `sky show-gpus` and pass one as --gpus NAME:COUNT")


class NoOfferError(CloudSetupError):
    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"no offer on the enabled clouds meets {what} ({reason})",
                         "see what exists with `sky show-gpus --all`, then pass --gpus or --infra, or enable "
                         "another cloud with `sky check`")


class MissingTokenError(CloudSetupError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"the token {name} is to be sent to the cloud machine but is not set here",
                         f"export {name}=… (SkyPilot's `--secret {name}` reads it the same way) or leave "
                         f"out --secret {name}")


class ClusterNotFoundError(CloudSetupError):
    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        super().__init__(f"SkyPilot has no cluster {cluster!r}",
                         "`pinokiocloud cloud status` lists the clusters of your apps (`sky status`, all of them)")


class CloudLaunchError(PinokioCloudError):
    """The machine came up but the app did not; its last lines say why. The cluster is left for inspection."""

    def __init__(self, cluster: str, reason: str) -> None:
        self.cluster = cluster
        self.reason = reason
        super().__init__(f"{cluster}: {reason}")
        self.hint = (f"read the whole log with `pinokiocloud cloud logs` (sky logs {cluster}); stop paying with "
                     f"`pinokiocloud cloud down`")
