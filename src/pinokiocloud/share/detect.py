"""Finding an app's web UI and telling what serves it.

Candidate URLs come from three places, in this order of trust: the ``local.url`` a launcher set, URL
lines in the app's output ("Running on local URL: http://127.0.0.1:7860"), and the ports the app's
process tree listens on. Each candidate is probed; the answers (paths that only one kind of server
has, its headers, its page) say whether it is Gradio, Streamlit, Jupyter, ComfyUI, A1111/Forge,
Ollama, FastAPI, Flask or some other HTTP server. Everything here takes plain values (strings and
port numbers), so it needs no kernel or supervisor.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from pinokiocloud.share.probe import ProbeResult, probe, probe_client

if TYPE_CHECKING:
    import httpx

__all__ = [
    "KINDS",
    "WebUI",
    "candidates_from_local_url",
    "candidates_from_ports",
    "candidates_from_text",
    "detect_web_ui",
    "detect_web_uis",
    "fingerprint",
]

DETECT_TIMEOUT_S = 3.0
KINDS = ("a1111", "forge", "comfyui", "gradio", "streamlit", "jupyter", "ollama", "fastapi", "flask", "http")
_LOCAL_HOSTS = {"127.0.0.1", "localhost", "0.0.0.0", "::", "::1", "[::]", "[::1]"}
_URL = re.compile(r"https?://[^\s'\"<>`|)\]]+")
_PROBE_PATHS = ("/config", "/system_stats", "/_stcore/health", "/healthz", "/api", "/api/version",
                "/openapi.json", "/internal/ping", "/sdapi/v1/options")


@dataclass(frozen=True, slots=True)
class WebUI:
    """A web UI that answered: what it is and where."""

    url: str
    kind: str
    """One of ``KINDS``; ``http`` when it answers HTTP but looks like nothing we know."""
    source: str
    """``local.url``, ``output`` or ``port``."""
    title: str | None = None


def _normalize(url: str) -> str | None:
    """A URL a local client can open: ``0.0.0.0``/``[::]`` become ``127.0.0.1``; trailing dots go."""
    url = url.rstrip(".,;:!?")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or host is None:
        return None
    if host in ("0.0.0.0", "::", "localhost"):
        host = "127.0.0.1"
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in _LOCAL_HOSTS or host.startswith("127.")


def candidates_from_local_url(value: object) -> list[str]:
    """``local.url`` as set by a launcher (a URL string; anything else gives nothing)."""
    if not isinstance(value, str):
        return []
    url = _normalize(value.strip())
    return [url] if url else []


def candidates_from_text(text: str) -> list[str]:
    """Local URLs printed in ``text``, newest last, without duplicates; public share links are skipped."""
    seen: dict[str, None] = {}
    for match in _URL.finditer(text):
        url = _normalize(match.group(0))
        if url and _is_local(url):
            seen.pop(url, None)
            seen[url] = None
    return list(seen)


def candidates_from_ports(ports: Iterable[int]) -> list[str]:
    return [f"http://127.0.0.1:{port}" for port in dict.fromkeys(p for p in ports if 0 < p < 65536)]


def _title(html: str) -> str | None:
    match = re.search(r"<title[^>]*>(.*?)</title>", html, re.IGNORECASE | re.DOTALL)
    return match.group(1).strip()[:200] if match else None


def _classify(root: ProbeResult, extra: dict[str, ProbeResult]) -> str | None:
    """The kind of server, from its root page and the answers at paths typical of each kind."""
    if not root.answered:
        return None
    page = root.text.lower()
    server = root.headers.get("server", "").lower()

    def ok(path: str) -> ProbeResult | None:
        result = extra.get(path)
        return result if result is not None and result.status == 200 else None

    def json_keys(path: str) -> set[str]:
        result = ok(path)
        body = result.json() if result is not None else None
        return set(body) if isinstance(body, dict) else set()

    is_gradio = "gradio_config" in page or "gradio-app" in page or {"version", "components"} <= json_keys("/config")
    if ok("/sdapi/v1/options") or (is_gradio and (ok("/internal/ping") or "stable-diffusion-webui" in page
                                                  or "sd-webui" in page)):
        return "forge" if "forge" in page else "a1111"
    if {"system", "devices"} <= json_keys("/system_stats") or "<title>comfyui" in page:
        return "comfyui"
    if is_gradio:
        return "gradio"
    stcore = ok("/_stcore/health") or ok("/healthz")
    if (stcore is not None and stcore.text.strip() == "ok" and "streamlit" in page) or "<title>streamlit" in page:
        return "streamlit"
    if "version" in json_keys("/api") and ("jupyter" in page or "tornado" in server):
        return "jupyter"
    if "jupyter" in page and ("jupyter-config-data" in page or "<title>jupyter" in page or "tornado" in server):
        return "jupyter"
    if "ollama is running" in page or ("version" in json_keys("/api/version") and "ollama" in page):
        return "ollama"
    if "openapi" in json_keys("/openapi.json"):
        return "fastapi"
    if "werkzeug" in server:
        return "flask"
    return "http"


async def fingerprint(url: str, *, timeout_s: float = DETECT_TIMEOUT_S,
                      client: httpx.AsyncClient | None = None) -> tuple[str, str | None] | None:
    """``(kind, page title)`` of the server at ``url``, or ``None`` when nothing answers there."""
    own = client is None
    http = client or probe_client(timeout_s)
    try:
        root = await probe(url + "/", client=http, timeout_s=timeout_s, follow_redirects=True)
        if not root.answered:
            return None
        base = url.rstrip("/")
        results = await asyncio.gather(*(probe(base + path, client=http, timeout_s=timeout_s)
                                         for path in _PROBE_PATHS))
        kind = _classify(root, dict(zip(_PROBE_PATHS, results, strict=True)))
        return (kind or "http"), _title(root.text)
    finally:
        if own:
            await http.aclose()


async def detect_web_uis(*, local_url: object = None, output: str = "", ports: Sequence[int] = (),
                         timeout_s: float = DETECT_TIMEOUT_S) -> list[WebUI]:
    """Every candidate that answers, best first: ``local.url``, then output URLs (newest first), then ports."""
    ordered: dict[str, str] = {}
    for url in candidates_from_local_url(local_url):
        ordered.setdefault(url, "local.url")
    for url in reversed(candidates_from_text(output)):
        ordered.setdefault(url, "output")
    covered = {urlsplit(u).port for u in ordered}
    for url in candidates_from_ports(ports):
        if urlsplit(url).port not in covered:
            ordered.setdefault(url, "port")
    async with probe_client(timeout_s) as http:
        found = await asyncio.gather(*(fingerprint(u, timeout_s=timeout_s, client=http) for u in ordered))
    return [WebUI(url, result[0], source, result[1])
            for (url, source), result in zip(ordered.items(), found, strict=True) if result is not None]


async def detect_web_ui(*, local_url: object = None, output: str = "", ports: Sequence[int] = (),
                        timeout_s: float = DETECT_TIMEOUT_S) -> WebUI | None:
    """The app's web UI: the best candidate that answers, or ``None``."""
    found = await detect_web_uis(local_url=local_url, output=output, ports=ports, timeout_s=timeout_s)
    return found[0] if found else None
