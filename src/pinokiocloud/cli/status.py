"""Looking at apps: ``ls``, ``status``, ``logs``, ``menu`` and ``search``, as tables and sentences (or
``--json``: the daemon's JSON as it came)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.common import client
from pinokiocloud.cli.options import AppArg, JsonOpt

if TYPE_CHECKING:
    from pinokiocloud.config import Settings
    from pinokiocloud.kernel import KernelContext, NodeSidecar
    from pinokiocloud.server.models import AppStatus

__all__ = ["app_link", "logs", "ls", "menu", "print_menu", "search", "status"]

NOTHING_INSTALLED = "no app is installed; `pinokiocloud install SRC` installs one"


def _exposure() -> dict[str, object]:
    """How this machine's ports reach the user's browser (the CLI runs where the daemon runs)."""
    import dataclasses

    from pinokiocloud.config import Settings
    from pinokiocloud.platform.cloud import detect_cloud

    return dataclasses.asdict(detect_cloud(os.environ, override=Settings.from_env().cloud_platform).exposure)


def app_link(status: AppStatus) -> str | None:
    """The URL to open for an app's web UI (share, platform proxy, else 127.0.0.1; never 0.0.0.0)."""
    from pinokiocloud.ui.links import browser_link

    web_ui = status.get("web_ui")
    url = status.get("ready_url") or (web_ui["url"] if web_ui else None)
    if not url:
        return None
    share = status.get("share")
    return browser_link(str(url), exposure=_exposure(), share=share).url


def _print_status(status: AppStatus) -> None:
    """One app's status as people read it."""
    rows = [["app", str(status.get("name"))], ["state", str(status.get("state"))]]
    link = app_link(status)
    if link:
        rows.append(["url", link])
    share = status.get("share")
    if share:
        rows.append(["shared", str(share.get("public_url") or "no public URL (local gateway only)")])
    if status.get("source"):
        rows.append(["source", str(status["source"])])
    rows.append(["folder", str(status.get("path"))])
    if status.get("pids"):
        rows.append(["processes", ", ".join(str(p) for p in status["pids"])])
    if status.get("ports"):
        rows.append(["ports", ", ".join(str(p) for p in status["ports"])])
    if status.get("pids"):
        rss = int(status.get("rss_bytes") or 0)
        rows.append(["cpu / ram", f"{float(status.get('cpu_percent') or 0):.0f} % / {rss / 2**20:.0f} MB"])
        if status.get("gpu_memory_mb") is not None:
            rows.append(["gpu memory", f"{status['gpu_memory_mb']} MB"])
    for run in status.get("runs") or []:
        script = str(run.get("path") or "").rsplit("/", 1)[-1]
        rows.append(["run", f"{script}: {run.get('state')}"])
    if status.get("error"):
        rows.append(["error", str(status["error"])])
    rows.append(["restart", str(status.get("restart"))])
    rows.append(["after a daemon restart", "starts again" if status.get("autorestore", True) else "stays stopped"])
    output.table(["", ""], rows)


def print_menu(menu: Mapping[str, object]) -> None:
    """A rendered pinokio.js menu as an indented list: label, what it does, and the default marked."""
    from pinokiocloud.ui.links import browser_link

    meta = menu.get("meta")
    title = (meta.get("title") if isinstance(meta, Mapping) else None) or menu.get("name") or menu.get("folder") or ""
    lines = [f"{title}" + (f" ({menu['name']})" if menu.get("name") and menu.get("name") != title else "")]

    def walk(items: object, depth: int) -> None:
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, Mapping):
                continue
            label = item.get("text") or re.sub(r"<[^>]+>", " ", str(item.get("html") or "")).strip() or "(untitled)"
            label = " ".join(str(label).split())
            href = item.get("href")
            target = ""
            if isinstance(href, str) and href:
                target = browser_link(href).url if re.match(r"https?://", href) else href
            elif item.get("shell"):
                target = "shell"
            mark = " (default)" if item.get("default") else ""
            running = " [running]" if item.get("running") else ""
            lines.append(f"{'  ' * depth}- {label}{mark}{running}" + (f": {target}" if target else ""))
            if isinstance(item.get("menu"), list):
                walk(item["menu"], depth + 1)

    walk(menu.get("menu"), 0)
    if len(lines) == 1:
        lines.append("- (the menu is empty)")
    output.result("\n".join(lines), as_json=False)


def status(name: Annotated[str | None, typer.Argument(help="One app (default: all).")] = None,
           as_json: JsonOpt = False) -> None:
    """State, URL, processes and ports of the apps."""
    the_client = client()
    if name:
        found = the_client.status(name)
        if as_json:
            output.result(found, as_json=True)
        else:
            _print_status(found)
        return
    apps = the_client.apps()
    if as_json:
        output.result(apps, as_json=True)
        return
    if not apps:
        output.result(NOTHING_INSTALLED, as_json=False)
        return
    output.table(["app", "state", "url"], [[a["name"], a["state"], app_link(a) or ""] for a in apps])


def ls(as_json: JsonOpt = False) -> None:
    """Installed apps."""
    apps = client().apps()
    if as_json:
        output.result(apps, as_json=True)
    elif not apps:
        output.result(NOTHING_INSTALLED, as_json=False)
    else:
        output.table(["app", "state", "source"], [[a["name"], a["state"], a.get("source") or ""] for a in apps])


def logs(name: AppArg, tail: Annotated[int, typer.Option(help="Lines to show.")] = 200,
         follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new output.")] = False,
         as_json: JsonOpt = False) -> None:
    """The output of an app's latest run, and its error when it failed."""
    the_client = client()
    found = the_client.status(name)
    alive = [r for r in found.get("runs") or [] if r.get("state") in ("starting", "running", "idle")]
    if follow and alive and not as_json:
        # the live run's whole output so far, then new output until it ends
        plain = None if output.is_terminal() else output.PlainLines()
        for event in the_client.events(alive[-1]["key"]):
            data = event.get("data")
            if event["type"] == "stream" and isinstance(data, dict):
                output.write_stream(str(data.get("raw", "")), plain)
        for line in plain.flush() if plain is not None else []:
            sys.stdout.write(line + "\n")
        return
    lines = the_client.logs(name, tail)
    failed = found.get("state") in ("failed", "crashed") and found.get("error")
    if as_json:
        output.result({"name": name, "lines": lines, "state": found.get("state"),
                       "error": found.get("error") if failed else None}, as_json=True)
        return
    for line in lines:
        sys.stdout.write(line + "\n")
    if failed:
        runs = found.get("runs") or []
        script = str((runs[-1].get("path") if runs else None) or "").rsplit("/", 1)[-1] or "the run"
        sys.stdout.write(f"[{script} {found.get('state')}: {found['error']}]\n")
    elif not lines:
        sys.stdout.write(f"[{name} has no output yet]\n")
    sys.stdout.flush()


def menu(
    target: Annotated[str, typer.Argument(help="An installed app, or a launcher folder (the one holding pinokio.js).")],
    as_json: JsonOpt = False,
) -> None:
    """Print an app's menu for its current state; for a folder, the state of a fresh install."""
    folder = Path(target)
    if not folder.is_dir():
        menu_data = client().menu(target)
        if as_json:
            output.result(menu_data, as_json=True)
        else:
            print_menu(menu_data)
        return

    from pinokiocloud.cli.offline import run_with_kernel
    from pinokiocloud.kernel import load_launcher

    async def work(sc: NodeSidecar, ctx: KernelContext, _: Settings) -> dict[str, object]:
        found = await load_launcher(sc, folder.resolve(), ctx)
        return {"folder": str(found.folder), "root": str(found.root), "meta": found.meta, "menu": found.menu}

    found_menu = run_with_kernel(work)
    if as_json:
        output.result(found_menu, as_json=True)
    else:
        print_menu(found_menu)


def search(query: Annotated[str, typer.Argument(help="Words to look for (empty: everything).")] = "",
           as_json: JsonOpt = False) -> None:
    """Search installed apps and the catalog by title, tags and description."""
    found = client().search(query)
    if as_json:
        output.result(found, as_json=True)
        return
    if not found["data"]:
        output.result(f"nothing matches {query!r}; `pinokiocloud search` lists everything", as_json=False)
        return
    output.table(["id", "title", "source", "matched"],
                 [[h["id"], h["title"], h["source"], ", ".join(h["matched"])] for h in found["data"]])
