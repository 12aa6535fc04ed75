"""Platform-native exposure: the URL a cloud already gives a port (RunPod proxy, Lightning port URL,
Vast.ai port map, the Colab proxy). Preferred where it exists: nothing to run, and no third party
that the platform's rules forbid. The facts come from :mod:`pinokiocloud.platform`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pinokiocloud.platform import CloudInfo, colab_proxy_url, detect_cloud
from pinokiocloud.share.providers.base import Provider, ProviderContext, register

__all__ = ["PlatformProvider"]

_PUBLIC_BIND_KINDS = frozenset({"runpod-proxy", "lightning-port", "vast-port-map", "paperspace-proxy"})


@register
class PlatformProvider(Provider):
    name = "platform"
    is_tunnel = False
    is_probe_strict = False

    def __init__(self, ctx: ProviderContext, *, cloud: CloudInfo | None = None) -> None:
        super().__init__(ctx)
        self.cloud = cloud or detect_cloud(self.settings.environ, override=self.settings.cloud_platform)

    @property
    def reason(self) -> str | None:
        exposure = self.cloud.exposure
        if exposure.kind in ("localhost", "none"):
            return f"{self.cloud.name} has no native way to reach a port from outside"
        if exposure.kind in ("modal-forward", "space-url"):
            return f"{self.cloud.name}: {exposure.how}"
        if exposure.kind == "paperspace-proxy" and exposure.url_template is None:
            return "Paperspace reaches ports only through paths behind its notebook proxy"
        if not exposure.url_template and not exposure.mapped_ports and exposure.kind != "colab-proxy":
            return f"{self.cloud.name}: the variables that name this machine's public address are not set"
        return None

    @property
    def needs_public_bind(self) -> bool:
        return self.cloud.exposure.kind in _PUBLIC_BIND_KINDS

    async def start(self, target_url: str) -> str:
        if (why := self.reason) is not None:
            raise self.fail(why)
        port = urlsplit(target_url).port or 80
        exposure = self.cloud.exposure
        url = colab_proxy_url(port) if exposure.kind == "colab-proxy" else exposure.url_for(port)
        if url is None:
            if exposure.kind == "colab-proxy":
                raise self.fail("the Colab proxy URL can only be made from a notebook cell "
                                "(pinokiocloud.launch()); use a tunnel from the daemon")
            raise self.fail(f"port {port} is not exposed on {self.cloud.name} ({exposure.how}); set "
                            "PINOKIOCLOUD_SHARE_PORT to an exposed port")
        self.public_url = url.rstrip("/")
        return self.public_url

    async def health(self) -> bool:
        """Nothing runs locally; the manager's probe of the public URL is the health check."""
        return self.public_url is not None

    async def stop(self) -> None:
        self.public_url = None
