"""Sharing an app's web UI: detection, tunnel providers, the auth gateway and the share manager.

Other layers import from here, never from the modules directly.
"""

from __future__ import annotations

from pinokiocloud.share.config import DEFAULT_PROVIDERS, ShareSettings
from pinokiocloud.share.gateway import AccessRecord, Gateway, generate_passcode
from pinokiocloud.share.providers import PROVIDERS, Provider, ProviderContext, create_provider, gradio_share_env

__all__ = [
    "DEFAULT_PROVIDERS",
    "PROVIDERS",
    "AccessRecord",
    "Gateway",
    "Provider",
    "ProviderContext",
    "ShareSettings",
    "create_provider",
    "generate_passcode",
    "gradio_share_env",
]
