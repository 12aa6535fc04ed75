"""Tokens only where they belong: ``HF_TOKEN`` to Hugging Face, ``CIVITAI_TOKEN`` to Civitai, nothing else.

Every hop of a download (the URL asked for and each redirect) gets its headers from :func:`headers_for`,
computed from that hop's host alone, so a token is dropped as soon as a redirect leaves its service (the
lesson of vast-ai/base-image#215: a token sent along to a CDN or an attacker's host is a leaked token).
A caller's own ``Authorization`` or ``Cookie`` header goes to the host of the URL asked for only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

__all__ = ["CIVITAI_HOSTS", "HF_HOSTS", "Tokens", "headers_for", "host_of", "tokens_from_env"]

HF_HOSTS = ("huggingface.co", "hf.co")
"""Hugging Face's own hosts (and ``www.``): its CDN URLs are pre-signed and need no token."""
CIVITAI_HOSTS = ("civitai.com",)
"""Civitai and its subdomains (``civitai.com``, ``www.civitai.com``)."""
_PRIVATE_HEADERS = ("authorization", "cookie", "proxy-authorization")


@dataclass(frozen=True, slots=True)
class Tokens:
    hf: str | None = None
    civitai: str | None = None

    def __repr__(self) -> str:  # never print a token in a traceback or a log
        return f"Tokens(hf={'set' if self.hf else None}, civitai={'set' if self.civitai else None})"


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def _is_hf(host: str) -> bool:
    return any(host == h or host == f"www.{h}" for h in HF_HOSTS)


def _is_civitai(host: str) -> bool:
    return any(host == h or host.endswith(f".{h}") for h in CIVITAI_HOSTS)


def headers_for(url: str, base: Mapping[str, str], tokens: Tokens, *, origin: str) -> httpx.Headers:
    """The headers for one request to ``url``: ``base`` without private headers off ``origin``'s host, plus
    the one token that belongs to this host (if any)."""
    import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

    host = host_of(url)
    headers = httpx.Headers(base)
    if host != host_of(origin):
        for name in _PRIVATE_HEADERS:
            headers.pop(name, None)
    if "authorization" not in headers:
        if tokens.hf and _is_hf(host):
            headers["Authorization"] = f"Bearer {tokens.hf}"
        elif tokens.civitai and _is_civitai(host):
            headers["Authorization"] = f"Bearer {tokens.civitai}"
    return headers


def tokens_from_env(env: Mapping[str, str], *, home: Path | None = None,
                    civitai_setting: str | None = None) -> Tokens:
    """The tokens an app's downloads may use: ``HF_TOKEN`` (or the older ``HUGGING_FACE_HUB_TOKEN``, or the
    token file at ``HF_TOKEN_PATH`` / ``<home>/cache/HF_AUTH/token`` that Settings writes), and
    ``CIVITAI_TOKEN`` (or the daemon's ``civitai_token`` setting)."""
    hf = env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None
    if hf is None:
        token_file = env.get("HF_TOKEN_PATH") or (str(home / "cache" / "HF_AUTH" / "token") if home else None)
        if token_file:
            try:
                hf = Path(token_file).read_text().strip() or None
            except OSError:
                hf = None
    civitai = env.get("CIVITAI_TOKEN") or civitai_setting or None
    return Tokens(hf=hf, civitai=civitai)
