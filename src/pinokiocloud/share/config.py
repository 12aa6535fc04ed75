"""Share settings: which providers to try and where each provider's server is.

Built from :class:`pinokiocloud.config.Settings` (its ``environ`` mapping, which ``config`` read once at
the entry point), or from a plain mapping, so tests point every provider at loopback servers without
touching the process environment. Variable names follow DESIGN §6.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pinokiocloud.config import Settings
from pinokiocloud.errors import BadParamError

__all__ = [
    "DEFAULT_LOCALTUNNEL_HOST",
    "DEFAULT_PROVIDERS",
    "GATEWAY_PREFIX",
    "ShareSettings",
    "parse_resolve",
    "resolve_url",
]

DEFAULT_PROVIDERS: tuple[str, ...] = ("platform", "cloudflare", "ngrok", "localtunnel", "ssh", "gradio", "bore")
DEFAULT_LOCALTUNNEL_HOST = "https://localtunnel.me"
DEFAULT_SSH_TARGET = "nokey@localhost.run"
DEFAULT_BORE_SERVER = "bore.pub"
GATEWAY_PREFIX = "/_pinokiocloud"
"""Where a share gateway answers for itself (its health, login and logout) under the app's URLs; here, not in
:mod:`~pinokiocloud.share.gateway`, so that checking a share needs no aiohttp."""


@dataclass(frozen=True, slots=True)
class ShareSettings:
    """Everything the share layer reads from the environment, already parsed."""

    home: Path
    """``PINOKIO_HOME``: downloaded tunnel binaries go to ``bin/``, remembered shares to ``share/``."""
    providers: tuple[str, ...] = DEFAULT_PROVIDERS
    """``PINOKIOCLOUD_SHARE_PROVIDERS``: provider names in order of preference."""
    localtunnel_host: str = DEFAULT_LOCALTUNNEL_HOST
    """``PINOKIOCLOUD_LOCALTUNNEL_HOST``: the localtunnel server."""
    ssh_target: str = DEFAULT_SSH_TARGET
    """``PINOKIOCLOUD_SSH_TARGET``: ``nokey@localhost.run``, ``serveo.net``, ``a.pinggy.io`` or ``user@host``."""
    ssh_port: int | None = None
    """``PINOKIOCLOUD_SSH_PORT``: the SSH server's port (default: 443 for Pinggy, else 22)."""
    ssh_lifetime_s: float | None = None
    """``PINOKIOCLOUD_SSH_LIFETIME_S``: how long the SSH server keeps a tunnel (Pinggy free: 3600, the
    default for Pinggy); the manager opens a new one before that."""
    ssh_key: Path | None = None
    """``PINOKIOCLOUD_SSH_KEY``: an identity file for the SSH server."""
    cloudflared: Path | None = None
    """``PINOKIOCLOUD_CLOUDFLARED``: a cloudflared executable to use instead of downloading one."""
    ngrok: Path | None = None
    """``PINOKIOCLOUD_NGROK``: an ngrok agent executable (default: ``ngrok`` on PATH)."""
    ngrok_authtoken: str | None = None
    """``NGROK_AUTHTOKEN``: ngrok's own variable; without it ngrok refuses to start."""
    gradio_share_server: str | None = None
    """``PINOKIOCLOUD_GRADIO_SHARE_SERVER``: a self-hosted Gradio share server (``host:port``)."""
    bore_server: str = DEFAULT_BORE_SERVER
    """``PINOKIOCLOUD_BORE_SERVER``: bore server ``host[:port]``."""
    bore_secret: str | None = None
    """``PINOKIOCLOUD_BORE_SECRET``: the bore server's shared secret."""
    gateway_port: int | None = None
    """``PINOKIOCLOUD_SHARE_PORT``: the first port for share gateways (the next shares take the next ones);
    set it to a port the platform exposes (RunPod's "Expose HTTP ports"). Default: any free port."""
    resolve: tuple[tuple[str, str], ...] = ()
    """``PINOKIOCLOUD_SHARE_RESOLVE``: ``host=addr[:port]`` pairs (``*.suffix`` allowed), comma-separated,
    used instead of DNS when probing public URLs, like curl's ``--resolve`` (split DNS, test servers)."""
    tools_dir: Path | None = None
    """Where tunnel clients are installed (default ``PINOKIO_HOME/bin``); tests share one cached folder."""
    node: Path | None = None
    """``PINOKIOCLOUD_NODE``: the node that runs the localtunnel client."""
    cloud_platform: str | None = None
    """``PINOKIOCLOUD_PLATFORM``: the platform override, for native exposure."""
    environ: Mapping[str, str] = field(default_factory=dict)
    """The environment the platform is detected from, and that tunnel clients inherit."""

    @property
    def bin_dir(self) -> Path:
        return self.tools_dir if self.tools_dir is not None else self.home / "bin"

    @property
    def state_dir(self) -> Path:
        """Remembered shares, SSH known hosts, access logs."""
        return self.home / "share"

    @classmethod
    def from_settings(cls, settings: Settings) -> ShareSettings:
        return cls.from_mapping(settings.environ, home=settings.home, node=settings.node,
                                cloud_platform=settings.cloud_platform)

    @classmethod
    def from_mapping(
        cls,
        env: Mapping[str, str],
        *,
        home: Path,
        node: Path | None = None,
        cloud_platform: str | None = None,
    ) -> ShareSettings:
        """Parse the share variables of ``env``; a bad value raises :class:`BadParamError` naming it."""

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def path(name: str) -> Path | None:
            value = text(name)
            return Path(value).expanduser() if value else None

        providers = DEFAULT_PROVIDERS
        if names := text("PINOKIOCLOUD_SHARE_PROVIDERS"):
            providers = tuple(n.strip().lower() for n in names.split(",") if n.strip())
        return cls(
            home=home,
            providers=providers,
            localtunnel_host=(text("PINOKIOCLOUD_LOCALTUNNEL_HOST") or DEFAULT_LOCALTUNNEL_HOST).rstrip("/"),
            ssh_target=text("PINOKIOCLOUD_SSH_TARGET") or DEFAULT_SSH_TARGET,
            ssh_port=_port("PINOKIOCLOUD_SSH_PORT", text("PINOKIOCLOUD_SSH_PORT")),
            ssh_key=path("PINOKIOCLOUD_SSH_KEY"),
            ssh_lifetime_s=_seconds("PINOKIOCLOUD_SSH_LIFETIME_S", text("PINOKIOCLOUD_SSH_LIFETIME_S")),
            cloudflared=path("PINOKIOCLOUD_CLOUDFLARED"),
            ngrok=path("PINOKIOCLOUD_NGROK"),
            ngrok_authtoken=text("NGROK_AUTHTOKEN"),
            gradio_share_server=text("PINOKIOCLOUD_GRADIO_SHARE_SERVER"),
            bore_server=text("PINOKIOCLOUD_BORE_SERVER") or DEFAULT_BORE_SERVER,
            bore_secret=text("PINOKIOCLOUD_BORE_SECRET"),
            gateway_port=_port("PINOKIOCLOUD_SHARE_PORT", text("PINOKIOCLOUD_SHARE_PORT")),
            resolve=parse_resolve(text("PINOKIOCLOUD_SHARE_RESOLVE") or ""),
            node=node,
            cloud_platform=cloud_platform,
            environ=dict(env),
        )


def _port(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise BadParamError(f"{name} must be a port number (1-65535), got {value!r}")
    return int(value)


def _seconds(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise BadParamError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise BadParamError(f"{name} must be above 0, got {value!r}")
    return seconds


_RESOLVE_ITEM = re.compile(r"(\*\.)?[A-Za-z0-9.-]+=(https?://)?[A-Za-z0-9.:\[\]-]+")


def parse_resolve(value: str) -> tuple[tuple[str, str], ...]:
    """``"*.lt.test=127.0.0.1:8080,a.b=10.0.0.2"`` → ``(("*.lt.test", "127.0.0.1:8080"), ("a.b", "10.0.0.2"))``."""
    pairs: list[tuple[str, str]] = []
    for item in (i.strip() for i in value.split(",")):
        if not item:
            continue
        if not _RESOLVE_ITEM.fullmatch(item):
            raise BadParamError(f"PINOKIOCLOUD_SHARE_RESOLVE items look like host=addr[:port], got {item!r}")
        host, addr = item.split("=", 1)
        pairs.append((host.lower(), addr))
    return tuple(pairs)


def resolve_url(url: str, resolve: tuple[tuple[str, str], ...]) -> tuple[str, dict[str, str]]:
    """The URL to connect to and the headers to add, after applying ``resolve`` to ``url``'s host.

    A match replaces the host (and the port, when the entry has one; the scheme too, when it starts with
    ``http://`` or ``https://``) and sends the original ``host[:port]`` as the ``Host`` header, so
    virtual-host routers (localtunnel) still see the public name.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for pattern, addr in resolve:
        matched = host.endswith(pattern[1:]) and host != pattern[2:] if pattern.startswith("*.") else host == pattern
        if not matched:
            continue
        scheme = parts.scheme
        if "://" in addr:
            scheme, addr = addr.split("://", 1)
        if ":" in addr and not addr.startswith("["):
            new_netloc = addr
        else:
            new_netloc = addr + (f":{parts.port}" if parts.port else "")
        return urlunsplit((scheme, new_netloc, parts.path, parts.query, parts.fragment)), {"Host": parts.netloc}
    return url, {}
