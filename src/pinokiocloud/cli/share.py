"""Public URLs: ``share`` (an app's web UI behind a passcode; exit 1 when no tunnel works) and ``unshare``."""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.common import client
from pinokiocloud.cli.options import AppArg, JsonOpt

if TYPE_CHECKING:
    from pinokiocloud.client import Client
    from pinokiocloud.server.models import ShareInfo

__all__ = ["share", "unshare"]

SHARE_POLL_S = 0.5


def _share_with_progress(the_client: Client, name: str, *, provider: str | None, passcode: str | None,
                         quiet: bool) -> ShareInfo:
    """Open the share and, while it is opened (up to half a minute), say on stderr which providers were tried and
    why each one failed (read from the share's own endpoint, which shows the attempts so far)."""
    result: list[ShareInfo] = []
    failure: list[BaseException] = []

    def post() -> None:
        try:
            result.append(the_client.start_share(name, provider=provider, passcode=passcode))
        except BaseException as exc:  # raised again in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=post, name="share", daemon=True)
    worker.start()
    told: set[str] = set()
    while worker.is_alive():
        worker.join(SHARE_POLL_S)
        if quiet or not worker.is_alive():
            continue
        try:
            progress = the_client.share_info(name)
        except Exception:  # not registered yet, or the daemon is busy: the final answer says everything
            continue
        _tell_attempts(progress, told)
    if failure:
        raise failure[0]
    if not quiet:
        _tell_attempts(result[0], told)
    return result[0]


def _tell_attempts(info: ShareInfo, told: set[str]) -> None:
    for attempt in info.get("attempts") or []:
        provider, reason = str(attempt.get("provider")), attempt.get("reason")
        if provider in told:
            continue
        if reason:
            told.add(provider)
            output.info(f"  {provider}: {reason}")
        elif info.get("public_url"):
            told.add(provider)
            output.info(f"  {provider}: {info['public_url']}")


def share(name: AppArg,
          provider: Annotated[str | None, typer.Option(help="Try only this provider (cloudflare, ngrok, "
                                                             "localtunnel, ssh, gradio, bore, platform, lan).",
                                                       show_default=False)] = None,
          passcode: Annotated[str | None, typer.Option(
              help="The passcode visitors type (default: PINOKIOCLOUD_SHARE_PASSCODE, else generated). "
              "Other users can see a command line: prefer the variable or --ask-passcode.",
              show_default=False)] = None,
          ask_passcode: Annotated[bool, typer.Option("--ask-passcode", help="Type the passcode at a hidden "
                                                     "prompt.")] = False,
          qr: Annotated[bool, typer.Option("--qr", help="Also print a QR code of the public URL.")] = False,
          as_json: JsonOpt = False) -> None:
    """Publish a running app's web UI on a public URL behind a passcode. Exits 1 when no tunnel works."""
    from pinokiocloud.ui.links import share_failure

    if ask_passcode:
        passcode = typer.prompt("passcode", hide_input=True, confirmation_prompt=True)
    passcode = passcode or os.environ.get("PINOKIOCLOUD_SHARE_PASSCODE") or None
    if not as_json:
        output.info(f"opening a public URL for {name} (up to half a minute) …")
    info = _share_with_progress(client(), name, provider=provider, passcode=passcode, quiet=as_json)
    failed = share_failure(info, app=name)
    if as_json:
        shown: dict[str, object] = {k: v for k, v in info.items() if k != "qr_png_base64"}
        if failed is not None:
            shown.update(public_url=None, reason=failed.reason, fix=failed.fix)
        output.result(shown, as_json=True)
        if failed is not None:
            raise typer.Exit(1)
        return
    if failed is not None:
        output.error(f"no public URL for {name}: {failed.reason}", failed.fix)
        output.info(f"{name} stays reachable on this machine only, behind the passcode, at {info.get('url')}; "
                    f"`pinokiocloud unshare {name}` closes that")
        raise typer.Exit(1)
    url = str(info["public_url"])
    output.result(f"{name} is public at {url}\npasscode: {info.get('passcode')}", as_json=False)
    output.info(f"through {info.get('provider')}; `pinokiocloud unshare {name}` ends it")
    if qr:
        from pinokiocloud.share.qr import qr_text

        sys.stdout.write(qr_text(url) + "\n")


def unshare(name: AppArg, as_json: JsonOpt = False) -> None:
    """Stop publishing an app."""
    result = client().stop_share(name)
    output.result(result if as_json else (f"{name} is no longer shared" if result["unshared"]
                                          else f"{name} was not shared"), as_json=as_json)
