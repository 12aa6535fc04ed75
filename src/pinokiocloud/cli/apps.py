"""App commands (DESIGN §7): thin clients of the daemon's API; ``serve`` runs the daemon itself.

Data goes to stdout (tables and short sentences, or ``--json``), progress and diagnostics to stderr.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.errors import BadParamError, DaemonUnavailableError

__all__ = ["did_you_mean", "print_menu", "register"]

AppArg = Annotated[str, typer.Argument(help="An installed app's name (see `pinokiocloud ls`).", show_default=False)]
AnswersOpt = Annotated[Path | None, typer.Option(
    "--answers", help="A JSON file with answers to the run's questions: an object, or a list of objects "
    "(one per question, in order).")]
DetachOpt = Annotated[bool, typer.Option("--detach", help="Start and return; do not follow the output.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", metavar="NAME=VALUE",
                                                   help="Passed as the script's args (repeatable).")]

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (needed when not at a terminal).")]
SHARE_POLL_S = 0.5
DOWNLOAD_LINE_S = 5.0
FINISHED_OK = frozenset({"done", "idle"})
DOWN_TIMEOUT_S = 60.0
FINISHED_BAD = frozenset({"failed", "crashed", "stopped", "interrupted"})


def _client() -> Any:
    from pinokiocloud.client import Client

    return Client()


def _answers(path: Path | None) -> Any:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise BadParamError(f"cannot read the answers file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise BadParamError(f"the answers file {path} is not JSON: {exc}") from exc
    if not isinstance(data, (dict, list)) or (isinstance(data, list) and not all(isinstance(d, dict) for d in data)):
        raise BadParamError(f"the answers file {path} must hold an object or a list of objects")
    return data


def _params(pairs: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise BadParamError(f"--param needs NAME=VALUE, got {pair!r}")
        out[key] = [*out[key], value] if isinstance(out.get(key), list) else [out[key], value] if key in out else value
    return out


def _follow(client: Any, run: dict[str, Any], *, name: str, what: str, as_json: bool) -> None:
    """Print the run's output until it finishes (a daemon: until it is up); exit 1 when it fails.
    Ctrl-C stops following, not the run: the daemon owns it, and the user is told how to find it again."""
    try:
        _follow_events(client, run, as_json=as_json)
    except KeyboardInterrupt:
        output.info(f"\nthe {what} of {name} goes on in the background: `pinokiocloud logs {name} -f` follows it, "
                    f"`pinokiocloud stop {name}` stops it")
        raise typer.Exit(130) from None


def _follow_events(client: Any, run: dict[str, Any], *, as_json: bool) -> None:
    """Print the run's output (raw on a terminal, plain lines otherwise) and answer its questions."""
    interactive = sys.stdin.isatty()
    plain = None if output.is_terminal() else output.PlainLines()
    state = run.get("state")
    # a run that is already up (a second `start`) or over has nothing more to follow
    events = client.events(run["key"]) if state not in FINISHED_OK | FINISHED_BAD else iter(())
    downloads = _DownloadProgress(live=plain is None) if not as_json else None
    try:
        state = _follow_loop(client, run, events, state, plain, downloads, interactive=interactive, as_json=as_json)
    finally:
        if downloads is not None:
            downloads.close()
    if plain is not None:
        for line in plain.flush():
            sys.stdout.write(line + "\n")
    final = client.run_info(run["key"]) if state not in FINISHED_OK | FINISHED_BAD else {**run, "state": state}
    if as_json:
        output.result(final, as_json=True)
    if final.get("state") in FINISHED_BAD:
        raise typer.Exit(1)


def _follow_loop(client: Any, run: dict[str, Any], events: Any, state: Any, plain: output.PlainLines | None,
                 downloads: _DownloadProgress | None, *, interactive: bool, as_json: bool) -> Any:
    """The events of one run until it finishes; returns its last state."""
    for event in events:
        kind, data = event["type"], event.get("data") or {}
        if kind == "stream" and not as_json:
            output.write_stream(str(data.get("raw", "")), plain)
        elif kind == "download" and downloads is not None:
            downloads.show(event)
        elif kind == "input" and interactive and data.get("fields"):
            request = data.get("request") or {}
            output.info(str(request.get("title") or "The script asks:"))
            values = {f: typer.prompt(f) for f in data["fields"]}
            client.answer(run["key"], values)
        elif kind == "error" and not as_json:
            output.error(str(data.get("message", "")))
        elif kind == "state":
            state = data.get("state")
            if state in FINISHED_OK | FINISHED_BAD:
                break
    return state


class _DownloadProgress:
    """Download events of a run: live bars on a terminal, else a plain line per download when its state
    changes and at most every ``DOWNLOAD_LINE_S`` while it runs (pinokiocloud.cli.downloads renders them)."""

    def __init__(self, *, live: bool) -> None:
        self.live = live
        self.bars: Any = None
        self.said: dict[str, tuple[str, float]] = {}

    def show(self, event: Mapping[str, Any]) -> None:
        from pinokiocloud.cli import downloads

        if self.live:
            if self.bars is None:
                self.bars = downloads.ProgressBars().__enter__()
            self.bars.update(event)
            return
        line = downloads.render_progress(event)
        entry = event.get("data") or {}
        key, entry_state = str(entry.get("id")), str(entry.get("state"))
        last = self.said.get(key)
        now = time.monotonic()
        if line and (last is None or last[0] != entry_state or now - last[1] >= DOWNLOAD_LINE_S):
            self.said[key] = (entry_state, now)
            output.info(line)

    def close(self) -> None:
        if self.bars is not None:
            self.bars.__exit__(None, None, None)


def _share_with_progress(client: Any, path: str, body: dict[str, Any] | None, *, quiet: bool) -> dict[str, Any]:
    """POST a share and, while it is opened (up to half a minute), say on stderr which providers were tried and
    why each one failed (read from the share's own endpoint, which shows the attempts so far)."""
    result: dict[str, Any] = {}
    failure: list[BaseException] = []

    def post() -> None:
        try:
            result.update(client.request("POST", path, json_body=body))
        except BaseException as exc:  # raised again in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=post, name="share", daemon=True)
    worker.start()
    told: set[str] = set()
    while worker.is_alive():
        worker.join(SHARE_POLL_S)
        if quiet or not worker.is_alive() or not path.startswith("/api/apps/"):
            continue
        try:
            progress = client.request("GET", path)
        except Exception:  # not registered yet, or the daemon is busy: the final answer says everything
            continue
        _tell_attempts(progress, told)
    if failure:
        raise failure[0]
    if not quiet:
        _tell_attempts(result, told)
    return result


def _tell_attempts(info: Mapping[str, Any], told: set[str]) -> None:
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


def _exposure() -> dict[str, Any]:
    """How this machine's ports reach the user's browser (the CLI runs where the daemon runs)."""
    import dataclasses

    from pinokiocloud.config import Settings
    from pinokiocloud.platform.cloud import detect_cloud

    return dataclasses.asdict(detect_cloud(os.environ, override=Settings.from_env().cloud_platform).exposure)


def _app_link(status: Mapping[str, Any]) -> str | None:
    """The URL to open for an app's web UI (share, platform proxy, else 127.0.0.1; never 0.0.0.0)."""
    from pinokiocloud.ui.links import browser_link

    url = status.get("ready_url") or (status.get("web_ui") or {}).get("url")
    if not url:
        return None
    return browser_link(str(url), exposure=_exposure(), share=status.get("share")).url


def _run_sentence(name: str, run: Mapping[str, Any] | None, what: str) -> str:
    if run is None:
        return f"{name}: nothing to {what} (its launcher has no {what} script)"
    script = str(run.get("path") or "").rsplit("/", 1)[-1] or "the script"
    return (f"{what} of {name} started ({script}, run {run.get('key')}); `pinokiocloud logs {name} -f` follows "
            f"it, `pinokiocloud status {name}` tells when it is done")


def _print_status(status: Mapping[str, Any]) -> None:
    """One app's status as people read it."""
    rows = [["app", str(status.get("name"))], ["state", str(status.get("state"))]]
    link = _app_link(status)
    if link:
        rows.append(["url", link])
    share = status.get("share") or {}
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


def print_menu(menu: Mapping[str, Any]) -> None:
    """A rendered pinokio.js menu as an indented list: label, what it does, and the default marked."""
    from pinokiocloud.ui.links import browser_link

    meta = menu.get("meta") or {}
    title = meta.get("title") or menu.get("name") or menu.get("folder") or ""
    lines = [f"{title}" + (f" ({menu['name']})" if menu.get("name") and menu.get("name") != title else "")]

    def walk(items: Any, depth: int) -> None:
        for item in items or []:
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


_NO_APP = re.compile(r"no app named '([^']+)' is installed")
_NO_SCRIPT = re.compile(r"^'([^']+)' is not a script of (\S+) ")
_NO_SOURCE = re.compile(r"^'([^']+)' is not a git URL, a catalog id or an absolute folder path")


def did_you_mean(message: str) -> str:
    """A "did you mean …?" for a mistyped app, script or catalog id, from what exists now; empty when the
    daemon is not running or nothing is close."""
    try:
        from pinokiocloud.client import Client

        client = Client(autostart=False)
        if not client.is_up():
            return ""
        if found := _NO_APP.search(message):
            wanted, known = found.group(1), [str(a["name"]) for a in client.apps()]
        elif found := _NO_SCRIPT.search(message):
            wanted = found.group(1)
            folder = Path(str(client.status(found.group(2))["path"]))
            known = sorted(str(p.relative_to(folder)) for p in [*folder.glob("*.js"), *folder.glob("*.json")]
                           if p.name not in ("pinokio.js", "pinokio.json", "pinokio_meta.json", "package.json"))
        elif found := _NO_SOURCE.search(message):
            wanted, known = found.group(1), [str(e["id"]) for e in client.catalog()["data"]]
        else:
            return ""
    except Exception:  # a hint must never hide the error it is for
        return ""
    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _follow_what_it_started(client: Any, name: str, *, as_json: bool) -> dict[str, Any]:
    """Follow the scripts a finished install started (``script.start``: a model download, a sub-install) until
    none of the app's non-daemon runs is alive; the app's status then."""
    seen: set[str] = set()
    while True:
        status: dict[str, Any] = client.status(name)
        alive = [r for r in status.get("runs") or [] if r.get("state") in ("starting", "running")
                 and not r.get("daemon") and r.get("key") not in seen]
        if status["state"] != "installing" or not alive:
            return status
        for run in alive:
            seen.add(str(run["key"]))
            with contextlib.suppress(typer.Exit):  # its failure is reported once, from the app's state
                _follow(client, run, name=name, what="install", as_json=as_json)


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default 42000).")] = None) -> None:
        """Run the daemon in the foreground (one per PINOKIO_HOME: a second one refuses)."""
        from pinokiocloud.server.serve import main as serve_main

        code = serve_main(port)
        if code:
            raise typer.Exit(code)

    @app.command("up")
    def up(share: Annotated[bool, typer.Option("--share", help="Also publish the dashboard on a public URL "
                                                                "(behind its passcode).")] = False,
           new_passcode: Annotated[bool, typer.Option("--new-passcode", help="Replace the dashboard's passcode "
                                                      "(it is kept across restarts; this ends every login).")]
           = False,
           as_json: JsonOpt = False) -> None:
        """Start the daemon and the dashboard; print the dashboard's link and passcode (on stdout)."""
        import dataclasses

        from pinokiocloud.launch import launch

        launched = launch(share=share, show=False, new_passcode=new_passcode,
                          progress=(lambda _: None) if as_json else output.info)
        if as_json:
            output.result({**dataclasses.asdict(launched), "best_url": launched.best_url}, as_json=True)
        else:
            lines = [f"dashboard: {launched.best_url}", f"passcode:  {launched.passcode_text}"]
            if launched.best_url != launched.token_url:
                lines.append(f"on this machine: {launched.token_url}")
            lines.append(f"daemon:    {launched.daemon_url} (API docs at /docs)")
            output.result("\n".join(lines), as_json=False)
        if share and launched.public_url is None:
            if not as_json:
                output.error(launched.share_failure or "no public URL")
            raise typer.Exit(1)

    @app.command("down")
    def down(as_json: JsonOpt = False) -> None:
        """Stop the apps, the dashboard and the daemon (and its watchdog); returns once they are gone."""
        from pinokiocloud.client import Client
        from pinokiocloud.home_lock import lock_holder

        client = Client(autostart=False)
        if not client.is_up():
            output.result({"stopped": False, "reason": "not running"} if as_json else "the daemon is not running",
                          as_json=as_json)
            return
        client.request("POST", "/api/shutdown")
        deadline = time.monotonic() + DOWN_TIMEOUT_S
        while lock_holder(client.settings.home) is not None:
            if time.monotonic() > deadline:
                raise DaemonUnavailableError(client.url, f"it was asked to stop and is still running after "
                                                         f"{DOWN_TIMEOUT_S:g} s; see PINOKIO_HOME/logs/daemon.log")
            time.sleep(0.1)
        output.result({"stopped": True} if as_json else "stopped the apps, the dashboard and the daemon",
                      as_json=as_json)

    @app.command("install")
    def install(src: Annotated[str, typer.Argument(help="A git URL, a launcher folder, or a catalog id "
                                                        "(`pinokiocloud search` lists them).")],
                name: Annotated[str | None, typer.Option(help="The app's name (default: from SRC).")] = None,
                script: Annotated[str | None, typer.Option(help="Install script (default: the menu's).")] = None,
                answers: AnswersOpt = None, detach: DetachOpt = False, as_json: JsonOpt = False) -> None:
        """Install an app and run its install flow (its output follows; Ctrl-C leaves it running)."""
        client = _client()
        source = str(Path(src).resolve()) if Path(src).is_dir() else src
        result = client.install(source, name=name, script=script, answers=_answers(answers))
        if as_json and (result.get("run") is None or detach):
            output.result(result, as_json=True)
            return
        if result.get("run") is None:
            output.result(f"{result['name']} is installed (its launcher has no install script); start it with "
                          f"`pinokiocloud start {result['name']}`", as_json=False)
            return
        if detach:
            output.result(_run_sentence(result["name"], result["run"], "install"), as_json=False)
            return
        if not as_json:
            output.info(f"installing {result['name']} …")
        _follow(client, result["run"], name=result["name"], what="install", as_json=as_json)
        status = _follow_what_it_started(client, result["name"], as_json=as_json)
        if status["state"] in ("failed", "crashed"):
            # the install script ended well, but a script it started did not (a model download, a sub-install):
            # the app is not what the launcher meant to install, and `ls` says failed; so do we
            failed = (status.get("runs") or [{}])[-1]
            script = Path(str(failed.get("path") or "a script")).name
            output.error(f"the install of {result['name']} finished, but {script}, which it started, failed: "
                         f"{status.get('error') or 'see `pinokiocloud logs ' + result['name'] + '`'}",
                         f"fix the cause, then run `pinokiocloud run {result['name']} {script}` or reinstall")
            raise typer.Exit(1)
        if not as_json:
            output.result(f"{result['name']} is installed; start it with `pinokiocloud start {result['name']}`",
                          as_json=False)

    @app.command("update")
    def update(name: AppArg, detach: DetachOpt = False, as_json: JsonOpt = False) -> None:
        """Update an app's launcher (git pull; a copied launcher: copied again), then run its update script
        when it has one. The app must be stopped."""
        client = _client()
        result = client.request("POST", f"/api/apps/{name}/update")
        if as_json and (result.get("run") is None or detach):
            output.result(result, as_json=True)
            return
        if not as_json:
            if result.get("before") and result.get("after"):
                what = (f"updated {name}'s launcher ({result['before'][:8]} -> {result['after'][:8]})"
                        if result.get("changed") else f"{name}'s launcher is already up to date")
            else:
                what = f"copied {name}'s launcher again from its folder"
            output.info(what)
        if result.get("run") is None:
            if not as_json:
                output.result(f"{name} is up to date (its launcher has no update script)", as_json=False)
            return
        if detach:
            output.result(_run_sentence(name, result["run"], "update"), as_json=False)
            return
        _follow(client, result["run"], name=name, what="update", as_json=as_json)
        if not as_json:
            output.result(f"{name} is updated", as_json=False)

    @app.command("reinstall")
    def reinstall(name: AppArg, yes: YesOpt = False, detach: DetachOpt = False, as_json: JsonOpt = False) -> None:
        """Put an app's folder back as it was right after install (its environments and what the install made
        inside it are deleted; shared caches stay), then run its install again. The app must be stopped."""
        _confirm(f"delete everything {name}'s install made in its folder and install it again?",
                 f"reinstalling {name}", yes)
        client = _client()
        result = client.request("POST", f"/api/apps/{name}/reinstall")
        if as_json and (result.get("run") is None or detach):
            output.result(result, as_json=True)
            return
        if result.get("run") is None:
            output.result(f"{name} is back as installed (its launcher has no install script)", as_json=False)
            return
        if detach:
            output.result(_run_sentence(name, result["run"], "install"), as_json=False)
            return
        if not as_json:
            output.info(f"reinstalling {name} …")
        _follow(client, result["run"], name=name, what="reinstall", as_json=as_json)
        if not as_json:
            output.result(f"{name} is installed again; start it with `pinokiocloud start {name}`", as_json=False)

    @app.command("run")
    def run(name: AppArg, script: Annotated[str | None, typer.Argument(help="Script (default: the menu's default "
                                                                           "item).")] = None,
            param: ParamOpt = None, answers: AnswersOpt = None, detach: DetachOpt = False,
            as_json: JsonOpt = False) -> None:
        """Run a script of an app and follow it (a server: until it is up)."""
        client = _client()
        started = client.run(name, script=script, params=_params(param), answers=_answers(answers))
        if detach:
            output.result(started if as_json else _run_sentence(name, started, "run"), as_json=as_json)
            return
        _follow(client, started, name=name, what="run", as_json=as_json)

    @app.command("start")
    def start(name: AppArg, detach: DetachOpt = False,
              restart: Annotated[str | None, typer.Option(
                  "--restart", help="When its server dies on its own: 'no' or 'on-failure' (start it again, "
                  "with a growing pause). Kept for the app.", metavar="no|on-failure", show_default=False)] = None,
              as_json: JsonOpt = False) -> None:
        """Start an installed app (its menu's default item) and wait until its web UI is up."""
        client = _client()
        started = client.request("POST", f"/api/apps/{name}/start",
                                 json_body={"restart": restart} if restart else None)
        if detach:
            output.result(started if as_json else _run_sentence(name, started, "start"), as_json=as_json)
            return
        _follow(client, started, name=name, what="start", as_json=as_json)
        status = client.status(name)
        if not as_json:
            link = _app_link(status)
            output.result(f"{name} is {status['state']}" + (f": open {link}" if link else ""), as_json=False)
        if status["state"] in ("crashed", "failed"):
            if not as_json and status.get("error"):
                output.error(str(status["error"]))
            raise typer.Exit(1)

    @app.command("stop")
    def stop(name: AppArg, script: Annotated[str | None, typer.Argument(help="Only this script's runs.")] = None,
             as_json: JsonOpt = False) -> None:
        """Stop an app's runs (or one script's)."""
        result = _client().stop(name, script)
        count = len(result["stopped"])
        sentence = f"stopped {count} run{'s' if count != 1 else ''} of {name}" if count else f"{name} was not running"
        output.result(result if as_json else sentence, as_json=as_json)

    @app.command("status")
    def status(name: Annotated[str | None, typer.Argument(help="One app (default: all).")] = None,
               as_json: JsonOpt = False) -> None:
        """State, URL, processes and ports of the apps."""
        client = _client()
        if name:
            found = client.status(name)
            if as_json:
                output.result(found, as_json=True)
            else:
                _print_status(found)
            return
        apps = client.apps()
        if as_json:
            output.result(apps, as_json=True)
            return
        if not apps:
            output.result("no app is installed; `pinokiocloud install SRC` installs one", as_json=False)
            return
        output.table(["app", "state", "url"], [[a["name"], a["state"], _app_link(a) or ""] for a in apps])

    @app.command("ls")
    def ls(as_json: JsonOpt = False) -> None:
        """Installed apps."""
        apps = _client().apps()
        if as_json:
            output.result(apps, as_json=True)
        elif not apps:
            output.result("no app is installed; `pinokiocloud install SRC` installs one", as_json=False)
        else:
            output.table(["app", "state", "source"], [[a["name"], a["state"], a.get("source") or ""] for a in apps])

    @app.command("logs")
    def logs(name: AppArg, tail: Annotated[int, typer.Option(help="Lines to show.")] = 200,
             follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new output.")] = False,
             as_json: JsonOpt = False) -> None:
        """The output of an app's latest run, and its error when it failed."""
        client = _client()
        found = client.status(name)
        alive = [r for r in found.get("runs") or [] if r.get("state") in ("starting", "running", "idle")]
        if follow and alive and not as_json:
            # the live run's whole output so far, then new output until it ends
            plain = None if output.is_terminal() else output.PlainLines()
            for event in client.events(alive[-1]["key"]):
                if event["type"] == "stream":
                    output.write_stream(str((event.get("data") or {}).get("raw", "")), plain)
            for line in plain.flush() if plain is not None else []:
                sys.stdout.write(line + "\n")
            return
        lines = client.logs(name, tail)
        failed = found.get("state") in ("failed", "crashed") and found.get("error")
        if as_json:
            output.result({"name": name, "lines": lines, "state": found.get("state"),
                           "error": found.get("error") if failed else None}, as_json=True)
            return
        for line in lines:
            sys.stdout.write(line + "\n")
        if failed:
            script = str(((found.get("runs") or [{}])[-1]).get("path") or "").rsplit("/", 1)[-1] or "the run"
            sys.stdout.write(f"[{script} {found.get('state')}: {found['error']}]\n")
        elif not lines:
            sys.stdout.write(f"[{name} has no output yet]\n")
        sys.stdout.flush()

    @app.command("share")
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
        info = _share_with_progress(_client(), f"/api/apps/{name}/share", {"provider": provider,
                                                                           "passcode": passcode}, quiet=as_json)
        failed = share_failure(info, app=name)
        if as_json:
            shown = {k: v for k, v in info.items() if k != "qr_png_base64"}
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

    @app.command("unshare")
    def unshare(name: AppArg, as_json: JsonOpt = False) -> None:
        """Stop publishing an app."""
        result = _client().request("DELETE", f"/api/apps/{name}/share")
        output.result(result if as_json else (f"{name} is no longer shared" if result["unshared"]
                                              else f"{name} was not shared"), as_json=as_json)

    @app.command("search")
    def search(query: Annotated[str, typer.Argument(help="Words to look for (empty: everything).")] = "",
               as_json: JsonOpt = False) -> None:
        """Search installed apps and the catalog by title, tags and description."""
        found = _client().search(query)
        if as_json:
            output.result(found, as_json=True)
            return
        if not found["data"]:
            output.result(f"nothing matches {query!r}; `pinokiocloud search` lists everything", as_json=False)
            return
        output.table(["id", "title", "source", "matched"],
                     [[h["id"], h["title"], h["source"], ", ".join(h["matched"])] for h in found["data"]])

    @app.command("rm")
    def rm(name: AppArg, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
        """Remove an installed app: its running scripts are stopped, its folder and state deleted."""
        _confirm(f"remove {name} and delete its folder?", f"removing {name}", yes)
        result = _client().remove(name)
        output.result(result if as_json else f"removed {name} and its folder", as_json=as_json)


def _confirm(question: str, action: str, yes: bool) -> None:
    """Ask on a terminal; elsewhere (a script, a notebook cell) refuse unless ``--yes`` was given."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise BadParamError(f"{action} deletes files and there is no terminal to ask at; nothing was done: "
                            "add --yes (-y) to go ahead")
    if not typer.confirm(question):
        output.info("nothing was done")
        raise typer.Exit(1)
