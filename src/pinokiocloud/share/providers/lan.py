"""The local network: the gateway listens on all interfaces and the URL is this machine's LAN address
(Pinokio's ``PINOKIO_SHARE_LOCAL``). Not in the default order; name it to use it."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import psutil

from pinokiocloud.share.providers.base import Provider, ProviderContext, register

__all__ = ["LanProvider", "lan_address"]


def lan_address() -> str | None:
    """The first IPv4 address that is not loopback or link-local (what Pinokio prints)."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(address.address)
            if not (ip.is_loopback or ip.is_link_local):
                return str(ip)
    return None


@register
class LanProvider(Provider):
    name = "lan"
    is_tunnel = False

    def __init__(self, ctx: ProviderContext) -> None:
        super().__init__(ctx)
        self.address = lan_address()

    @property
    def reason(self) -> str | None:
        return None if self.address else "this machine has no local-network IPv4 address"

    @property
    def needs_public_bind(self) -> bool:
        return True

    async def start(self, target_url: str) -> str:
        if self.address is None:
            raise self.fail("this machine has no local-network IPv4 address")
        self.public_url = f"http://{self.address}:{urlsplit(target_url).port or 80}"
        return self.public_url

    async def health(self) -> bool:
        return self.public_url is not None

    async def stop(self) -> None:
        self.public_url = None
