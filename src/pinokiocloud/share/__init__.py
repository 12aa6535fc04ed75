"""Sharing an app's web UI: detection, tunnel providers, the auth gateway and the share manager.

Other layers import from here, never from the modules directly. The names load on first use (PEP 562):
the daemon imports this package to read a status, and the gateway's aiohttp, the providers' httpx and the
QR code's imaging stack would otherwise cost every start about half a second before anything is shared.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pinokiocloud.lazy import lazy_exports

if TYPE_CHECKING:
    from pinokiocloud.share.config import DEFAULT_PROVIDERS, ShareSettings
    from pinokiocloud.share.detect import WebUI, detect_web_ui, detect_web_uis, fingerprint
    from pinokiocloud.share.gateway import AccessRecord, Gateway
    from pinokiocloud.share.lanes import AppLanes
    from pinokiocloud.share.limiter import GuessLimiter, LimiterPolicy, TooManyAttempts
    from pinokiocloud.share.localset import LocalSetShare, local_share_value, share_request_for_local_set
    from pinokiocloud.share.manager import (
        PROBE_INTERVAL_S,
        ProviderAttempt,
        RememberedShare,
        ShareEvent,
        ShareInfo,
        ShareManager,
        ShareTimings,
    )
    from pinokiocloud.share.passcodes import (
        WeakPasscodeError,
        check_passcode_strength,
        generate_link_token,
        generate_passcode,
        hash_passcode,
        verify_passcode,
    )
    from pinokiocloud.share.providers import PROVIDERS, Provider, ProviderContext, create_provider, gradio_share_env
    from pinokiocloud.share.qr import qr_png, qr_text
    from pinokiocloud.share.states import ShareState

__all__ = [
    "DEFAULT_PROVIDERS",
    "PROBE_INTERVAL_S",
    "PROVIDERS",
    "AccessRecord",
    "AppLanes",
    "Gateway",
    "GuessLimiter",
    "LimiterPolicy",
    "LocalSetShare",
    "Provider",
    "ProviderAttempt",
    "ProviderContext",
    "RememberedShare",
    "ShareEvent",
    "ShareInfo",
    "ShareManager",
    "ShareSettings",
    "ShareState",
    "ShareTimings",
    "TooManyAttempts",
    "WeakPasscodeError",
    "WebUI",
    "check_passcode_strength",
    "create_provider",
    "detect_web_ui",
    "detect_web_uis",
    "fingerprint",
    "generate_link_token",
    "generate_passcode",
    "gradio_share_env",
    "hash_passcode",
    "load_gateway",
    "load_probes",
    "local_share_value",
    "qr_png",
    "qr_text",
    "share_request_for_local_set",
    "verify_passcode",
]

_HOMES = {
    "config": ("DEFAULT_PROVIDERS", "ShareSettings"),
    "detect": ("WebUI", "detect_web_ui", "detect_web_uis", "fingerprint"),
    "gateway": ("AccessRecord", "Gateway"),
    "lanes": ("AppLanes",),
    "limiter": ("GuessLimiter", "LimiterPolicy", "TooManyAttempts"),
    "localset": ("LocalSetShare", "local_share_value", "share_request_for_local_set"),
    "manager": ("PROBE_INTERVAL_S", "ProviderAttempt", "RememberedShare", "ShareEvent", "ShareInfo", "ShareManager",
                "ShareTimings"),
    "passcodes": ("WeakPasscodeError", "check_passcode_strength", "generate_link_token", "generate_passcode",
                  "hash_passcode", "verify_passcode"),
    "providers": ("PROVIDERS", "Provider", "ProviderContext", "create_provider", "gradio_share_env"),
    "qr": ("qr_png", "qr_text"),
    "states": ("ShareState",),
}
"""Each submodule and the names it exports (what ``__getattr__`` imports on first use)."""


async def load_gateway() -> type[Gateway]:
    """The gateway's class, for a share or the dashboard about to start one: the first call imports it and
    its aiohttp (about 0.3 s) in a worker thread, so the daemon's event loop goes on serving meanwhile."""

    def load() -> type[Gateway]:
        from pinokiocloud.share.gateway import Gateway

        return Gateway

    return await asyncio.to_thread(load)


async def load_probes() -> None:
    """Load what probing a web UI needs (httpx and the probes' TLS context, about 0.1 s) in a worker thread,
    for a daemon about to start apps again (a restore, an autorestore): the first probe of such an app's
    web UI would otherwise wait for them, and build the TLS context on the event loop."""
    from pinokiocloud.share.probe import load_client

    await asyncio.to_thread(load_client)


if not TYPE_CHECKING:  # for the type checker the names above are the whole surface (a typo stays an error)
    __getattr__, __dir__ = lazy_exports(__name__, _HOMES, globals())
