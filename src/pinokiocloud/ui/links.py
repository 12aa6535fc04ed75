"""Links a user can open, and what to say when sharing found no public URL (dashboard, CLI and notebook).

An app prints the address its server binds (``http://0.0.0.0:7860``), which no browser on another machine
reaches and many do not even accept. Every link we show goes through :func:`browser_link`: the share's
public URL when the app is shared, else the platform's proxy URL for the port (RunPod, Lightning, a
Vast.ai port map), else the address on 127.0.0.1, never ``0.0.0.0``.

This module imports nothing heavy (no Streamlit), so the CLI uses it too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from pinokiocloud.ui.jsonread import objs

__all__ = ["Link", "ShareFailure", "browser_link", "is_local_url", "share_failure"]

_ANY_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    how: str
    """``share``, ``platform`` (the platform's proxy for the port) or ``local`` (this machine only)."""
    note: str = ""
    """One sentence for the user when the link works only in a browser on this machine."""


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def is_local_url(url: str | None) -> bool:
    """Whether ``url`` points at this machine only (loopback, ``0.0.0.0``, ``localhost``): no public URL."""
    if not url:
        return True
    host = _host(url)
    if host in _ANY_HOSTS or host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _on_loopback(url: str) -> str:
    """``url`` with an any-address host (``0.0.0.0``, ``::``) replaced by 127.0.0.1."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host not in _ANY_HOSTS and host != "[::]":
        return url
    netloc = f"127.0.0.1:{parts.port}" if parts.port else "127.0.0.1"
    return urlunsplit((parts.scheme or "http", netloc, parts.path, parts.query, parts.fragment))


def browser_link(url: str, *, exposure: Mapping[str, object] | None = None,
                 share: Mapping[str, object] | None = None) -> Link:
    """Where the user's browser should go for an app at ``url`` (what the app printed or its menu links).

    ``exposure`` is ``/api/system``'s ``facts.cloud.exposure``; ``share`` the app's share (``GET
    /api/apps/{name}/share``), when it is shared."""
    public = (share or {}).get("public_url")
    if public and not is_local_url(str(public)):
        return Link(str(public), "share")
    if not is_local_url(url):
        return Link(url, "platform" if url else "local")
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    exposure = exposure or {}
    kind = str(exposure.get("kind") or "")
    template = exposure.get("url_template")
    ports = exposure.get("mapped_ports")
    mapped = {str(k): str(v) for k, v in ports.items()} if isinstance(ports, dict) else {}
    suffix = parts.path if parts.path not in ("", "/") else ""
    suffix += f"?{parts.query}" if parts.query else ""
    if template and kind != "localhost":
        return Link(str(template).format(port=port).rstrip("/") + suffix, "platform")
    if str(port) in mapped:
        return Link(f"http://{mapped[str(port)]}{suffix}", "platform")
    local = _on_loopback(str((share or {}).get("local_url") or url))
    note = "" if kind in ("localhost", "") else ("This address opens only in a browser on this machine; share "
                                                 "the app to open it from yours.")
    return Link(local, "local", note)


@dataclass(frozen=True, slots=True)
class ShareFailure:
    """Why sharing found no public URL, and what to do about it (one sentence each)."""

    reason: str
    fix: str

    def text(self) -> str:
        return f"no public URL: {self.reason}. {self.fix}"


_NETWORK = re.compile(
    r"name or service not known|temporary failure in name resolution|network is unreachable|no route to host|"
    r"getaddrinfo|nodename nor servname|cannot download|could not install|timed out|did not answer|"
    r"connection refused|connection reset|no working public URL|no public URL within|urlopen error|"
    r"unreachable|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|could not resolve", re.IGNORECASE)


def _fix_for(provider: str, reason: str, app: str | None) -> str:
    target = f"pinokiocloud share {app}" if app else "pinokiocloud share APP"
    if "NGROK_AUTHTOKEN" in reason:
        return ("ngrok needs NGROK_AUTHTOKEN: set it to your free ngrok account's authtoken (or save it in the "
                f"dashboard's Settings), then `{target} --provider ngrok`")
    if "does not allow public tunnels" in reason:
        return ("this platform forbids tunnels: open the app through the platform's own proxy, or name a "
                f"provider to use one anyway (`{target} --provider cloudflare`)")
    if _NETWORK.search(reason):
        return ("no internet from this machine (or the tunnel service is blocked here): check the network, set "
                f"NGROK_AUTHTOKEN and try `{target} --provider ngrok`, or use the platform's own proxy")
    return f"try another provider: `{target} --provider cloudflare` (or ngrok, localtunnel, ssh, bore)"


def share_failure(info: Mapping[str, object], *, app: str | None = None) -> ShareFailure | None:
    """``None`` when ``info`` (a share's API answer) has a public URL; else the top reason and its fix.

    The top reason is the first real failure that looks like the network (the usual cause when every
    provider fails), else the first provider's reason."""
    public = info.get("public_url")
    if public and not is_local_url(str(public)):
        return None
    attempts = [a for a in objs(info.get("attempts")) if a.get("reason")]
    useful = [a for a in attempts if "another provider won" not in str(a.get("reason"))]
    if not useful:
        return ShareFailure("no tunnel provider is configured or usable here",
                            _fix_for("", "", app))
    top = next((a for a in useful if _NETWORK.search(str(a.get("reason")))), useful[0])
    provider, reason = str(top.get("provider") or "?"), str(top.get("reason")).rstrip(".")
    return ShareFailure(f"{provider}: {reason}", _fix_for(provider, reason, app))
