"""Sharing an app's web UI: detection, tunnel providers, the auth gateway and the share manager.

Other layers import from here, never from the modules directly.
"""

from __future__ import annotations

from pinokiocloud.share.config import DEFAULT_PROVIDERS, ShareSettings
from pinokiocloud.share.detect import WebUI, detect_web_ui, detect_web_uis, fingerprint
from pinokiocloud.share.gateway import AccessRecord, Gateway, generate_passcode
from pinokiocloud.share.localset import LocalSetShare, local_share_value, share_request_for_local_set
from pinokiocloud.share.manager import (
    PROBE_INTERVAL_S,
    ProviderAttempt,
    RememberedShare,
    ShareEvent,
    ShareInfo,
    ShareManager,
    ShareState,
)
from pinokiocloud.share.providers import PROVIDERS, Provider, ProviderContext, create_provider, gradio_share_env
from pinokiocloud.share.qr import qr_png, qr_text

__all__ = [
    "DEFAULT_PROVIDERS",
    "PROBE_INTERVAL_S",
    "PROVIDERS",
    "AccessRecord",
    "Gateway",
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
    "WebUI",
    "create_provider",
    "detect_web_ui",
    "detect_web_uis",
    "fingerprint",
    "generate_passcode",
    "gradio_share_env",
    "local_share_value",
    "qr_png",
    "qr_text",
    "share_request_for_local_set",
]
