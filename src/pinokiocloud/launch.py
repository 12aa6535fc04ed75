"""``pinokiocloud.launch()``: one call from a notebook cell to get the daemon and the dashboard running.

It starts the daemon when needed (detached, so it outlives the cell), asks it for the dashboard, and shows
the links: the local one, the platform's own proxy link inside a Colab kernel, and a public one with
``share=True`` (behind the same passcode).
"""

from __future__ import annotations

import dataclasses
import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pinokiocloud.client import Client
from pinokiocloud.config import Settings

__all__ = ["Launched", "launch"]


@dataclass(frozen=True, slots=True)
class Launched:
    daemon_url: str
    ui_url: str
    token_url: str
    passcode: str | None
    """The dashboard's passcode when it was just made; ``None`` when the one given earlier is kept (it is stored
    only as a hash, so it cannot be shown again; the one-click link still opens the dashboard)."""
    platform_url: str | None = None
    """The platform's own link to the dashboard (Colab's kernel proxy), when there is one."""
    public_url: str | None = None

    @property
    def passcode_text(self) -> str:
        if self.passcode:
            return self.passcode
        return ("unchanged (the one given when the dashboard first started; "
                "`pinokiocloud up --new-passcode` makes a new one)")

    def html(self) -> str:
        best = self.public_url or self.platform_url or self.token_url
        link = f'<a href="{best}" target="_blank">{best}</a>'
        shown = f"<code>{self.passcode}</code>" if self.passcode else html.escape(self.passcode_text)
        lines = [f"<p><b>PinokioCloud is running.</b> Open the dashboard: {link}</p>",
                 f"<p>Passcode: {shown}</p>"]
        if best != self.token_url:
            lines.append(f'<p>On this machine: <a href="{self.token_url}">{self.ui_url}</a></p>')
        return "\n".join(lines)


def _show(launched: Launched) -> None:
    try:
        import IPython.display
    except ImportError:
        print(f"PinokioCloud dashboard: {launched.public_url or launched.platform_url or launched.token_url}")
        print(f"passcode: {launched.passcode_text}")
        return
    shown: Any = IPython.display  # untyped where IPython is installed, missing where it is not
    shown.display(shown.HTML(launched.html()))


def launch(*, share: bool = False, home: str | Path | None = None, port: int | None = None,
           ui_port: int | None = None, show: bool = True, settings: Settings | None = None,
           new_passcode: bool = False) -> Launched:
    """Start (or reuse) the daemon and the dashboard and return their links. The dashboard keeps its passcode
    across restarts unless ``new_passcode`` asks for a new one (which ends every login)."""
    environ = dict(os.environ)
    if home is not None:
        environ["PINOKIO_HOME"] = str(Path(home).expanduser())
    base = settings or Settings.from_env(environ)
    base = dataclasses.replace(base, port=port or base.port, ui_port=ui_port or base.ui_port)
    with Client(base) as client:
        client.ensure_daemon()
        ui: dict[str, Any] = client.request("POST", "/api/ui", json_body={"new_passcode": new_passcode})
        public = None
        if share:
            shared: dict[str, Any] = client.request("POST", "/api/ui/share")
            public = shared.get("public_url")
    from pinokiocloud.platform.cloud import colab_proxy_url

    launched = Launched(daemon_url=base.daemon_url, ui_url=ui["url"], token_url=ui["token_url"],
                        passcode=ui["passcode"], platform_url=colab_proxy_url(base.ui_port), public_url=public)
    if show:
        _show(launched)
    return launched
