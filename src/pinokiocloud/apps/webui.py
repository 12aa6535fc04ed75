"""The web-UI cache: what serves an app's UI (Gradio, ComfyUI, …), probed once and kept while its URL and
ports stay the same (a probe can take a second)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from pinokiocloud.share.detect import WebUI, detect_web_ui

__all__ = ["WEB_UI_CACHE_S", "WebUICache"]

WEB_UI_CACHE_S = 60.0
"""An answer is probed again after this long even when nothing seems to have changed."""


@dataclass(frozen=True, slots=True)
class _Entry:
    key: tuple[str | None, tuple[int, ...]]
    at: float
    found: WebUI | None


class WebUICache:
    """One probe per app per (``local.url``, ports): every reader of the app's status shares it."""

    def __init__(self, max_age_s: float = WEB_UI_CACHE_S) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[str, _Entry] = {}

    async def get(self, name: str, *, local_url: str | None, ports: Sequence[int],
                  output: Callable[[], Awaitable[str]]) -> WebUI | None:
        """The app's web UI, probed when its URL or ports changed or the answer is old. ``output`` gives the
        app's recent terminal output (URLs it printed), read only when a probe is needed."""
        key = (local_url, tuple(ports))
        cached = self._entries.get(name)
        now = time.monotonic()
        if cached is not None and cached.key == key and now - cached.at < self.max_age_s:
            return cached.found
        found = await detect_web_ui(local_url=local_url, output=await output(), ports=ports)
        self._entries[name] = _Entry(key, now, found)
        return found

    def forget(self, name: str) -> None:
        """The launcher changed (update, reinstall): probe again next time."""
        self._entries.pop(name, None)
