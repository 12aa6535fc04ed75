"""``pinokiocloud.launch()``: one call from a notebook cell to get the daemon and the dashboard running.

It starts the daemon when needed (detached, so it outlives the cell), asks it for the dashboard, and shows
the links: the local one, the platform's own proxy link inside a Colab kernel, and a public one with
``share=True`` (behind the same passcode). When no tunnel works it says "no public URL", with the top
reason and a fix, and never passes a local address off as public (``Launched.share_failure``).
"""

from __future__ import annotations

import dataclasses
import html
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinokiocloud.client import Client
from pinokiocloud.config import Settings

if TYPE_CHECKING:
    from pinokiocloud.server.models import ShareInfo

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
    """The dashboard's public URL, only when a tunnel works (never a local address)."""
    share_failure: str | None = None
    """With ``share=True`` and no public URL: "no public URL: <top reason>. <fix>"."""

    @property
    def best_url(self) -> str:
        """The link to open: the public one, else the platform's proxy, else the one-click local link."""
        return self.public_url or self.platform_url or self.token_url

    @property
    def passcode_text(self) -> str:
        if self.passcode:
            return self.passcode
        return ("unchanged (the one given when the dashboard first started; "
                "`pinokiocloud up --new-passcode` makes a new one)")

    def html(self) -> str:
        best = html.escape(self.best_url)
        link = f'<a href="{best}" target="_blank">{best}</a>'
        shown = f"<code>{self.passcode}</code>" if self.passcode else html.escape(self.passcode_text)
        lines = [f"<p><b>PinokioCloud is running.</b> Open the dashboard: {link}</p>",
                 f"<p>Passcode: {shown}</p>"]
        if self.share_failure:
            lines.append(f"<p><b>{html.escape(self.share_failure)}</b></p>")
        if self.best_url != self.token_url:
            lines.append(f'<p>On this machine: <a href="{html.escape(self.token_url)}">{self.ui_url}</a></p>')
        return "\n".join(lines)

    def text(self) -> str:
        lines = [f"PinokioCloud is running. Open the dashboard: {self.best_url}", f"Passcode: {self.passcode_text}"]
        if self.share_failure:
            lines.append(self.share_failure)
        return "\n".join(lines)


def _show(launched: Launched) -> None:
    try:
        import IPython.display
    except ImportError:
        print(launched.text())
        return
    shown: Any = IPython.display  # untyped where IPython is installed, missing where it is not
    shown.display(shown.HTML(launched.html()))


SHARE_POLL_S = 0.5
DASHBOARD_SHARE = "pinokiocloud-dashboard"
"""``server.shares.DASHBOARD`` (not imported: that loads the daemon's modules into a notebook kernel)."""


def _print_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _share_dashboard(client: Client, progress: Callable[[str], None]) -> ShareInfo:
    """``POST /api/ui/share``, telling ``progress`` each provider's outcome as it comes (from ``/api/shares``)."""
    answer: list[ShareInfo] = []
    failure: list[BaseException] = []

    def post() -> None:
        try:
            answer.append(client.share_ui())
        except BaseException as exc:  # raised again in the caller's thread
            failure.append(exc)

    told: set[str] = set()

    def tell(info: ShareInfo) -> None:
        for attempt in info.get("attempts") or []:
            provider, reason = str(attempt.get("provider")), attempt.get("reason")
            if provider not in told and (reason or info.get("public_url")):
                told.add(provider)
                progress(f"  {provider}: {reason or 'works'}")

    worker = threading.Thread(target=post, name="share-dashboard", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(SHARE_POLL_S)
        if worker.is_alive():
            try:
                shares = client.shares()
            except Exception:  # the final answer says everything
                continue
            for info in shares:
                if info.get("app") == DASHBOARD_SHARE:
                    tell(info)
    if failure:
        raise failure[0]
    tell(answer[0])
    return answer[0]


def launch(*, share: bool = False, home: str | Path | None = None, port: int | None = None,
           ui_port: int | None = None, show: bool = True, settings: Settings | None = None,
           new_passcode: bool = False, progress: Callable[[str], None] | None = None) -> Launched:
    """Start (or reuse) the daemon and the dashboard and return their links. The dashboard keeps its passcode
    across restarts unless ``new_passcode`` asks for a new one (which ends every login). ``progress`` hears
    each share provider's outcome while the public URL is opened (default: lines on stderr)."""
    environ = dict(os.environ)
    if home is not None:
        environ["PINOKIO_HOME"] = str(Path(home).expanduser())
    base = settings or Settings.from_env(environ)
    base = dataclasses.replace(base, port=port or base.port, ui_port=ui_port or base.ui_port)
    with Client(base) as client:
        client.ensure_daemon()
        from pinokiocloud.cli.store import follow_restore

        follow_restore(client, progress or _print_progress)  # a new machine: what the persistent root puts back
        ui = client.start_ui(new_passcode=new_passcode)
        public = failure = None
        if share:
            from pinokiocloud.ui.links import share_failure

            (progress or _print_progress)("opening a public URL for the dashboard …")
            shared = _share_dashboard(client, progress or _print_progress)
            failed = share_failure(shared)
            if failed is None:
                public = shared.get("public_url")
            else:
                failure = failed.text()
    from pinokiocloud.platform.cloud import colab_proxy_url

    launched = Launched(daemon_url=base.daemon_url, ui_url=ui["url"], token_url=ui["token_url"],
                        passcode=ui["passcode"], platform_url=colab_proxy_url(base.ui_port), public_url=public,
                        share_failure=failure)
    if show:
        _show(launched)
    return launched
