"""The one module that imports SkyPilot (the optional ``cloud`` extra), and translates its errors.

``import sky`` takes seconds (tens on a busy 2-core machine), so nothing else imports it and only the
commands that talk to SkyPilot pay for it. Checks that can fail before anything is provisioned run first:
enabled clouds through SkyPilot's own ``check`` (in this process when the API server is the local one, so no
server has to start just to say "no cloud"; through the API server when a remote one is configured), then
the GPU name against the enabled clouds' catalogs. Launching, status, logs, stop and down go through
SkyPilot's client SDK (``sky.launch``, ``sky.status`` …), which talks to its API server as ``sky`` does.
"""

from __future__ import annotations

import contextlib
import copy
import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, cast

from typing_extensions import NotRequired, TypedDict

from pinokiocloud.cloud.errors import (
    CloudLaunchError,
    ClusterNotFoundError,
    NoCloudEnabledError,
    NoOfferError,
    SkyPilotMissingError,
    UnknownGpuError,
)

if TYPE_CHECKING:
    from pinokiocloud.cloud.remote import Ready

__all__ = ["Cluster", "Launched", "cloud_of", "enabled_clouds", "launch", "load", "preflight", "validate"]

_INFRA_ALIASES = {"k8s": "kubernetes"}


def load() -> ModuleType:
    """``sky``, or the error that says how to install it."""
    try:
        import sky
    except ImportError as exc:
        raise SkyPilotMissingError(str(exc) if "sky" not in str(exc) else "") from None
    module: ModuleType = sky
    return module


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """SkyPilot's server-side code writes progress markers to stdout; they must not reach ``--json`` output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _local_api_server() -> bool:
    from sky.server import common as server_common

    return bool(server_common.is_api_server_local())


def enabled_clouds() -> list[str]:
    """The clouds SkyPilot may launch on (lower case), as ``sky check`` decides."""
    load()
    if _local_api_server():
        from sky import check as sky_check

        with _quiet():
            found = sky_check.check_capabilities(quiet=True)
        names: set[str] = set()
        for clouds in (found or {}).values():
            names.update(str(name).lower() for name in (clouds or {}))
        return sorted(names)
    from sky.client import sdk

    return sorted(str(c).lower() for c in sdk.get(sdk.enabled_clouds()))


def cloud_of(infra: str | None) -> str | None:
    """The cloud part of SkyPilot's ``infra`` (``aws/us-east-1`` → ``aws``; ``k8s/ctx`` → ``kubernetes``)."""
    if not infra:
        return None
    head = infra.strip().split("/", 1)[0].lower()
    return _INFRA_ALIASES.get(head, head)


def _check_gpu(name: str, clouds: list[str]) -> None:
    """A name that no enabled cloud's catalog lists is refused (catalogs come from SkyPilot's servers)."""
    import sky

    try:
        with _quiet():
            found = sky.list_accelerators(gpus_only=True, name_filter=name, case_sensitive=False, clouds=clouds)
    except Exception:  # a catalog that cannot be fetched: the optimizer decides at launch instead
        return
    if not any(str(key).lower() == name.lower() for key in found):
        raise UnknownGpuError(name, clouds)


def preflight(infra: str | None, gpu_name: str | None) -> list[str]:
    """Every check that needs no machine; returns the enabled clouds."""
    clouds = enabled_clouds()
    wanted = cloud_of(infra)
    if not clouds or (wanted is not None and wanted not in clouds):
        raise NoCloudEnabledError(wanted, clouds)
    if gpu_name is not None:
        _check_gpu(gpu_name, [wanted] if wanted else clouds)
    return clouds


def validate(config: dict[str, object], secrets: dict[str, str] | None = None) -> object:
    """``sky.Task`` from our task dict, checked by SkyPilot's schema; secret values join only here. (SkyPilot
    is untyped: the task is handed back to :func:`launch` as it is.)"""
    sky = load()
    return sky.Task.from_yaml_config(copy.deepcopy(config), secrets_overrides=list((secrets or {}).items()))


@dataclass(frozen=True, slots=True)
class Launched:
    cluster: str
    job_id: int | None
    ready: Ready
    """What the task printed when the app came up (port, app URL, public URL when shared)."""
    endpoint: str | None
    """SkyPilot's address for the task's port."""
    cost_per_hour: float | None


def _translate(exc: Exception) -> Exception:
    from sky import exceptions as sky_exceptions

    if isinstance(exc, sky_exceptions.ResourcesUnavailableError):
        return NoOfferError("the task's resources", str(exc).strip().splitlines()[0] if str(exc).strip() else
                            "SkyPilot found no offer")
    if isinstance(exc, sky_exceptions.NoCloudAccessError):
        return NoCloudEnabledError(None, [])
    if isinstance(exc, sky_exceptions.ClusterDoesNotExist):
        return ClusterNotFoundError(str(exc))
    return exc


def launch(task: object, cluster: str, *, port: int, on_line: Callable[[str], None],
           markers: tuple[str, str]) -> Launched:
    """Provision (streaming SkyPilot's progress), then follow the job's output until the app is ready."""
    import json

    from sky.client import sdk

    ready_marker, failed_marker = markers
    try:
        request = sdk.launch(task, cluster_name=cluster)
        job_id, handle = sdk.stream_and_get(request)
    except Exception as exc:
        translated = _translate(exc)
        if translated is exc:
            raise
        raise translated from None
    ready: Ready | None = None
    lines: list[str] = []
    for chunk in sdk.tail_logs(cluster, job_id, follow=True, preload_content=False):
        if chunk is None:
            continue
        for line in str(chunk).splitlines():
            on_line(line)
            lines = [*lines[-19:], line]
            if line.startswith(ready_marker):
                ready = cast("Ready", json.loads(line[len(ready_marker):].strip()))
            elif line.startswith(failed_marker):
                reason = json.loads(line[len(failed_marker):].strip()).get("reason", "the app failed")
                raise CloudLaunchError(cluster, str(reason))
        if ready is not None:
            break
    if ready is None:
        raise CloudLaunchError(cluster, "the task ended before the app was ready:\n" + "\n".join(lines))
    endpoint = None
    with contextlib.suppress(Exception):
        endpoints = sdk.get(sdk.endpoints(cluster, port))
        endpoint = endpoints.get(port) or endpoints.get(str(port))
    cost = None
    with contextlib.suppress(Exception):
        cost = float(handle.launched_resources.get_cost(3600))
    return Launched(cluster, job_id, ready, endpoint, cost)


class Cluster(TypedDict):
    """One cluster as ``cloud status`` shows it: SkyPilot's record (its values as SkyPilot keeps them: the
    package is untyped), and what the CLI adds from its own launch record."""

    cluster: str
    status: object
    resources: object
    autostop_minutes: object
    launched_at: object
    app: NotRequired[object]
    url: NotRequired[object]
    cost_per_hour: NotRequired[object]


def clusters(names: list[str] | None) -> list[Cluster]:
    """SkyPilot's records of these clusters (all ``pinokio-*`` ones when ``names`` is ``None``)."""
    from sky.client import sdk

    try:
        found = sdk.get(sdk.status(names))
    except Exception as exc:
        translated = _translate(exc)
        if translated is exc:
            raise
        raise translated from None
    out: list[Cluster] = []
    for record in found:
        name = str(getattr(record, "name", ""))
        if names is None and not name.startswith("pinokio-"):
            continue
        status = getattr(record, "status", None)
        out.append({"cluster": name, "status": getattr(status, "value", str(status)),
                    "resources": getattr(record, "resources_str", None),
                    "autostop_minutes": getattr(record, "autostop", None),
                    "launched_at": getattr(record, "launched_at", None)})
    return out


def tail(cluster: str, *, follow: bool, lines: int) -> int:
    from sky.client import sdk

    try:
        return int(sdk.tail_logs(cluster, None, follow=follow, tail=lines, output_stream=sys.stdout))
    except Exception as exc:
        translated = _translate(exc)
        if translated is exc:
            raise
        raise translated from None


def stop_or_down(cluster: str, *, down: bool) -> None:
    from sky.client import sdk

    try:
        sdk.stream_and_get(sdk.down(cluster) if down else sdk.stop(cluster))
    except Exception as exc:
        translated = _translate(exc)
        if translated is exc:
            raise
        raise translated from None
