"""Gradio share links: the app's own ``launch(share=True)`` tunnel, turned on with ``GRADIO_SHARE``.

Gradio runs the tunnel client (frpc) itself and prints "Running on public URL: https://….gradio.live";
this provider only reads that line from the app's output. The link reaches the app directly, not our
gateway, so a share made this way is marked unprotected (``uses_gateway = False``). The daemon adds
:func:`gradio_share_env` to the app's environment before starting a Gradio app that may be shared.
"""

from __future__ import annotations

import asyncio
import re

from pinokiocloud.share.config import ShareSettings
from pinokiocloud.share.providers.base import Provider, register

__all__ = ["GradioProvider", "find_gradio_share_url", "gradio_share_env"]

START_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.25
_PUBLIC_LINE = re.compile(r"(?:Running on public URL|start proxy success):\s*(https?://\S+)")
_GRADIO_LIVE = re.compile(r"https://[\w-]+\.gradio\.live\b")


def gradio_share_env(settings: ShareSettings) -> dict[str, str]:
    """Environment that makes a Gradio app open its share link (on our own share server, when set)."""
    env = {"GRADIO_SHARE": "True"}
    if settings.gradio_share_server:
        env["GRADIO_SHARE_SERVER_ADDRESS"] = settings.gradio_share_server
    return env


def find_gradio_share_url(text: str) -> str | None:
    """The last share link in ``text`` (a restarted tunnel prints a new one)."""
    found = [m.group(1) for m in _PUBLIC_LINE.finditer(text)] or [m.group(0) for m in _GRADIO_LIVE.finditer(text)]
    return found[-1].rstrip("/.,;") if found else None


@register
class GradioProvider(Provider):
    name = "gradio"
    uses_gateway = False

    @property
    def reason(self) -> str | None:
        if self.ctx.app_output is None:
            return "needs the app's output to find its gradio.live link"
        return None

    async def start(self, target_url: str) -> str:
        output = self.ctx.app_output
        if output is None:
            raise self.fail("needs the app's output to find its gradio.live link")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while (url := find_gradio_share_url(output())) is None:
            if loop.time() > deadline:
                raise self.fail("no Gradio share link in the app's output; only Gradio apps started with "
                                "GRADIO_SHARE=True print one")
            await asyncio.sleep(POLL_INTERVAL_S)
        self.public_url = url
        return url

    async def health(self) -> bool:
        """The link is alive while the app prints no newer one; the manager probes the URL itself."""
        output = self.ctx.app_output
        return output is not None and find_gradio_share_url(output()) == self.public_url

    async def stop(self) -> None:
        """Nothing to stop: the tunnel belongs to the app and ends with it."""
