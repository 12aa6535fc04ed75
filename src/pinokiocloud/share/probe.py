"""HTTP probes of local targets and public URLs, with ``PINOKIOCLOUD_SHARE_RESOLVE`` applied."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pinokiocloud.share.config import resolve_url

if TYPE_CHECKING:
    import httpx

__all__ = ["PROBE_CONNECTIONS", "PROBE_TIMEOUT_S", "ProbeResult", "answers", "load_client", "probe", "probe_client"]

PROBE_TIMEOUT_S = 10.0
BODY_LIMIT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one GET returned; ``status`` is ``None`` when no HTTP answer came (refused, timeout, DNS)."""

    url: str
    status: int | None
    headers: Mapping[str, str]
    body: bytes
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> object:
        import json

        try:
            return json.loads(self.body)
        except ValueError:
            return None


PROBE_CONNECTIONS = 4
"""Connections one probing client opens to a server at once. A small server's listen backlog is small
(Python's ``http.server``: 5); a burst of ten probes overflowed it, and the dropped connection waited for
the kernel's 1 s retry: every status read of such an app stalled a second."""


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Built once (about 50 ms of CA parsing on the event loop per client otherwise): certifi's CAs, as
    httpx's default."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def load_client() -> None:
    """Import httpx and build the TLS context now (what the first :func:`probe_client` would do)."""
    import httpx  # noqa: F401

    _tls_context()


def probe_client(timeout_s: float = PROBE_TIMEOUT_S) -> httpx.AsyncClient:
    """An HTTP client for probing apps' servers (close it after use)."""
    import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

    return httpx.AsyncClient(timeout=timeout_s, trust_env=False, verify=_tls_context(),
                             limits=httpx.Limits(max_connections=PROBE_CONNECTIONS))


async def probe(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    resolve: tuple[tuple[str, str], ...] = (),
    timeout_s: float = PROBE_TIMEOUT_S,
    client: httpx.AsyncClient | None = None,
    follow_redirects: bool = False,
) -> ProbeResult:
    """GET ``url`` and keep the first ``BODY_LIMIT_BYTES`` of the body; never raises for network trouble."""
    import httpx  # here, not at the top: the daemon starts without it (tests/server/test_import_cost.py)

    target, extra = resolve_url(url, resolve)
    send_headers = {**(headers or {}), **extra}
    own = client is None
    http = client or probe_client(timeout_s)
    try:
        async with http.stream("GET", target, headers=send_headers, follow_redirects=follow_redirects,
                               timeout=timeout_s) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= BODY_LIMIT_BYTES:
                    break
            return ProbeResult(url, response.status_code, dict(response.headers), bytes(body[:BODY_LIMIT_BYTES]))
    except (httpx.HTTPError, OSError) as exc:
        return ProbeResult(url, None, {}, b"", f"{type(exc).__name__}: {exc}".rstrip(": "))
    finally:
        if own:
            await http.aclose()


async def answers(url: str, *, timeout_s: float = 5.0) -> bool:
    """Whether anything answers HTTP at ``url`` (any status: a 404 still means the server runs)."""
    return (await probe(url, timeout_s=timeout_s)).answered
