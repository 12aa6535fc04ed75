"""Pinokio's share-on-``local.set`` (spec §5.1), decided from plain values.

In Pinokio, a script that runs ``local.set {url: …}`` shares that URL when the merged environment has
``PINOKIO_SHARE_CLOUDFLARE`` (a Cloudflare quick tunnel, behind a passcode page when
``PINOKIO_SHARE_PASSCODE`` is set) or ``PINOKIO_SHARE_LOCAL`` (a LAN proxy). The key that triggers it
is ``PINOKIO_SHARE_VAR`` (default ``url``), and the result is stored in ``local.$share``.

The kernel calls :func:`share_request_for_local_set` with the merged env and the values being set; a
non-``None`` answer is passed to :meth:`ShareManager.share` by the daemon, and
:func:`local_share_value` turns the resulting :class:`ShareInfo` into what goes into ``local.$share``.
Deliberate differences (docs/compat.md "Sharing"): the gateway is always in front (a passcode is
generated when none is set), Cloudflare is tried first but other providers take over when it fails,
and the LAN share is the same gateway listening on all interfaces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pinokiocloud.share.config import DEFAULT_PROVIDERS

__all__ = [
    "DEFAULT_SHARE_VAR",
    "LOCAL_SHARE_FIRST_PORT",
    "LocalSetShare",
    "local_share_value",
    "share_request_for_local_set",
]

DEFAULT_SHARE_VAR = "url"
LOCAL_SHARE_FIRST_PORT = 42003
"""Pinokio picks the LAN proxy's port from here up when ``PINOKIO_SHARE_LOCAL_PORT`` is not set."""


@dataclass(frozen=True, slots=True)
class LocalSetShare:
    """What a ``local.set`` asks to share."""

    key: str
    """The ``local`` key that triggered it (``PINOKIO_SHARE_VAR``)."""
    target_url: str
    is_public: bool
    """``PINOKIO_SHARE_CLOUDFLARE``: a public tunnel."""
    is_local: bool
    """``PINOKIO_SHARE_LOCAL``: reachable from the local network."""
    providers: tuple[str, ...]
    passcode: str | None
    """``PINOKIO_SHARE_PASSCODE`` as given (comma-separated passcodes all work); ``None``: generate one."""
    local_port: int | None
    """``PINOKIO_SHARE_LOCAL_PORT``; ``None``: the first free port from ``LOCAL_SHARE_FIRST_PORT``."""


def _is_on(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1")


def share_request_for_local_set(env: Mapping[str, str], values: Mapping[str, object],
                                providers: tuple[str, ...] = DEFAULT_PROVIDERS) -> LocalSetShare | None:
    """The share a ``local.set`` of ``values`` asks for under the merged ``env``, or ``None``.

    ``None`` when neither switch is on, when the share key is not among ``values``, or when its value is
    not an http(s) URL (Pinokio would hand any string to cloudflared; a non-URL cannot be shared).
    ``providers`` is the configured order; Cloudflare is moved to the front, as Pinokio uses it.
    """
    key = (env.get("PINOKIO_SHARE_VAR") or DEFAULT_SHARE_VAR).strip() or DEFAULT_SHARE_VAR
    is_public = _is_on(env.get("PINOKIO_SHARE_CLOUDFLARE"))
    is_local = _is_on(env.get("PINOKIO_SHARE_LOCAL"))
    if not (is_public or is_local) or key not in values:
        return None
    value = values[key]
    if not isinstance(value, str) or not value.strip().lower().startswith(("http://", "https://")):
        return None
    order = ("cloudflare", *(p for p in providers if p != "cloudflare")) if is_public else ()
    passcode = (env.get("PINOKIO_SHARE_PASSCODE") or "").strip() or None
    port_text = (env.get("PINOKIO_SHARE_LOCAL_PORT") or "").strip()
    local_port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
    return LocalSetShare(key=key, target_url=value.strip(), is_public=is_public, is_local=is_local,
                         providers=order, passcode=passcode, local_port=local_port)


def local_share_value(request: LocalSetShare, *, public_url: str | None = None, lan_url: str | None = None,
                      provider: str | None = None, previous: object = None) -> dict[str, object]:
    """The new ``local.$share``: ``{"cloudflare": {target: public_url}, "local": {target: lan_url}}``.

    Pinokio files every public URL under ``cloudflare``; so do we, whichever provider made it, because
    launchers read that key. The provider's own name is added as a key of its own when it differs.
    ``previous`` is the run's current ``local.$share`` (whatever a script left there; a mapping is kept).
    """
    share: dict[str, object] = {}
    if isinstance(previous, Mapping):
        share = {str(k): dict(v) if isinstance(v, Mapping) else v for k, v in previous.items()}

    def file(kind: str, url: str) -> None:
        entry = share.get(kind)
        table: dict[object, object] = dict(entry) if isinstance(entry, Mapping) else {}
        table[request.target_url] = url
        share[kind] = table

    if public_url is not None:
        file("cloudflare", public_url)
        if provider and provider != "cloudflare":
            file(provider, public_url)
    if lan_url is not None:
        file("local", lan_url)
    return share
