"""Share providers, one module each, registered by name in :data:`PROVIDERS`."""

from __future__ import annotations

from pinokiocloud.share.providers import bore, cloudflare, gradio, lan, localtunnel, ngrok, platform, ssh
from pinokiocloud.share.providers.base import (
    PROVIDERS,
    ProcessProvider,
    Provider,
    ProviderContext,
    create_provider,
    register,
)
from pinokiocloud.share.providers.gradio import find_gradio_share_url, gradio_share_env

__all__ = [
    "PROVIDERS",
    "ProcessProvider",
    "Provider",
    "ProviderContext",
    "bore",
    "cloudflare",
    "create_provider",
    "find_gradio_share_url",
    "gradio",
    "gradio_share_env",
    "lan",
    "localtunnel",
    "ngrok",
    "platform",
    "register",
    "ssh",
]
