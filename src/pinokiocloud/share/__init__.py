"""Sharing an app's web UI: detection, tunnel providers, the auth gateway and the share manager.

Other layers import from here, never from the modules directly.
"""

from __future__ import annotations

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
    "local_share_value",
    "qr_png",
    "qr_text",
    "share_request_for_local_set",
    "verify_passcode",
]
