"""App commands (DESIGN §7): thin clients of the daemon's API; ``serve`` runs the daemon itself."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.errors import BadParamError, DaemonUnavailableError

__all__ = ["register"]

AppArg = Annotated[str, typer.Argument(help="An installed app's name (see `pinokiocloud ls`).", show_default=False)]
AnswersOpt = Annotated[Path | None, typer.Option(
    "--answers", help="A JSON file with answers to the run's questions: an object, or a list of objects "
    "(one per question, in order).")]
DetachOpt = Annotated[bool, typer.Option("--detach", help="Start and return; do not follow the output.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", help="NAME=VALUE passed as the script's args "
                                                                     "(repeatable).")]

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
    interactive = sys.stdin.isatty()
    state = run.get("state")
    # a run that is already up (a second `start`) or over has nothing more to follow
    events = client.events(run["key"]) if state not in FINISHED_OK | FINISHED_BAD else iter(())
    for event in events:
        kind, data = event["type"], event.get("data") or {}
        if kind == "stream" and not as_json:
            sys.stdout.write(str(data.get("raw", "")))
            sys.stdout.flush()
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
    final = client.run_info(run["key"]) if state not in FINISHED_OK | FINISHED_BAD else {**run, "state": state}
    if as_json:
        output.result(final, as_json=True)
    if final.get("state") in FINISHED_BAD:
        raise typer.Exit(1)


def _reasons(info: dict[str, Any]) -> str:
    attempts = info.get("attempts") or []
    return "; ".join(f"{a.get('provider')}: {a.get('reason')}" for a in attempts if a.get("reason")) or "no provider"


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default 42000).")] = None) -> None:
        """Run the daemon in the foreground (one per PINOKIO_HOME: a second one refuses)."""
        from pinokiocloud.server.serve import main as serve_main

        code = serve_main(port)
        if code:
            raise typer.Exit(code)

    @app.command("up")
    def up(share: Annotated[bool, typer.Option("--share", help="Also publish the dashboard (behind its "
                                                                "passcode).")] = False,
           new_passcode: Annotated[bool, typer.Option("--new-passcode", help="Replace the dashboard's passcode "
                                                      "(it is kept across restarts; this ends every login).")]
           = False,
           as_json: JsonOpt = False) -> None:
        """Start the daemon and the dashboard; print their URLs and the passcode."""
        from pinokiocloud.launch import launch

        launched = launch(share=share, show=False, new_passcode=new_passcode)
        if as_json:
            import dataclasses

            output.result(dataclasses.asdict(launched), as_json=True)
            return
        output.info(f"dashboard: {launched.token_url}")
        output.info(f"passcode:  {launched.passcode_text}")
        if launched.public_url:
            output.info(f"public:    {launched.public_url}")
        output.info(f"daemon:    {launched.daemon_url} (API docs at /docs)")

    @app.command("down")
    def down(as_json: JsonOpt = False) -> None:
        """Stop the apps, the dashboard and the daemon (and its watchdog); returns once they are gone."""
        import time

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
    def install(src: Annotated[str, typer.Argument(help="A git URL, a launcher folder, or a catalog id.")],
                name: Annotated[str | None, typer.Option(help="The app's name (default: from SRC).")] = None,
                script: Annotated[str | None, typer.Option(help="Install script (default: the menu's).")] = None,
                answers: AnswersOpt = None, detach: DetachOpt = False, as_json: JsonOpt = False) -> None:
        """Install an app and run its install flow."""
        client = _client()
        source = str(Path(src).resolve()) if Path(src).is_dir() else src
        result = client.install(source, name=name, script=script, answers=_answers(answers))
        if result.get("run") is None or detach:
            output.result(result, as_json=as_json)
            return
        if not as_json:
            output.info(f"installing {result['name']} …")
        _follow(client, result["run"], name=result["name"], what="install", as_json=as_json)
        if not as_json:
            output.info(f"{result['name']} is installed; start it with `pinokiocloud start {result['name']}`")

    @app.command("run")
    def run(name: AppArg, script: Annotated[str | None, typer.Argument(help="Script (default: the menu's default "
                                                                           "item).")] = None,
            param: ParamOpt = None, answers: AnswersOpt = None, detach: DetachOpt = False,
            as_json: JsonOpt = False) -> None:
        """Run a script of an app and follow it (a daemon: until it is up)."""
        client = _client()
        started = client.run(name, script=script, params=_params(param), answers=_answers(answers))
        if detach:
            output.result(started, as_json=as_json)
            return
        _follow(client, started, name=name, what="run", as_json=as_json)

    @app.command("start")
    def start(name: AppArg, detach: DetachOpt = False,
              restart: Annotated[str | None, typer.Option(
                  "--restart", help="When its server dies on its own: 'no' or 'on-failure' (start it again, "
                  "with a growing pause). Kept for the app.", show_default=False)] = None,
              as_json: JsonOpt = False) -> None:
        """Start an installed app (its menu's default item)."""
        client = _client()
        started = client.request("POST", f"/api/apps/{name}/start",
                                 json_body={"restart": restart} if restart else None)
        if detach:
            output.result(started, as_json=as_json)
            return
        _follow(client, started, name=name, what="start", as_json=as_json)
        status = client.status(name)
        if not as_json:
            url = f" at {status['ready_url']}" if status.get("ready_url") else ""
            output.info(f"{name} is {status['state']}{url}")
        if status["state"] in ("crashed", "failed"):
            if not as_json and status.get("error"):
                output.error(str(status["error"]))
            raise typer.Exit(1)

    @app.command("stop")
    def stop(name: AppArg, script: Annotated[str | None, typer.Argument()] = None, as_json: JsonOpt = False) -> None:
        """Stop an app's runs (or one script's)."""
        result = _client().stop(name, script)
        output.result(result if as_json else f"stopped {len(result['stopped'])} run(s) of {name}", as_json=as_json)

    @app.command("status")
    def status(name: Annotated[str | None, typer.Argument(help="One app (default: all).")] = None,
               as_json: JsonOpt = False) -> None:
        """State, URL, processes and ports of the apps."""
        client = _client()
        if name:
            output.result(client.status(name), as_json=as_json)
            return
        apps = client.apps()
        if as_json:
            output.result(apps, as_json=True)
            return
        output.table(["app", "state", "url"], [[a["name"], a["state"], a.get("ready_url") or ""] for a in apps])

    @app.command("ls")
    def ls(as_json: JsonOpt = False) -> None:
        """Installed apps."""
        apps = _client().apps()
        if as_json:
            output.result(apps, as_json=True)
        else:
            output.table(["app", "state", "source"], [[a["name"], a["state"], a.get("source") or ""] for a in apps])

    @app.command("logs")
    def logs(name: AppArg, tail: Annotated[int, typer.Option(help="Lines to show.")] = 200,
             follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new output.")] = False,
             as_json: JsonOpt = False) -> None:
        """The output of an app's latest run."""
        client = _client()
        alive = [r for r in client.status(name).get("runs") or [] if r.get("state") in ("starting", "running", "idle")]
        if follow and alive and not as_json:
            # the live run's whole output so far, then new output until it ends
            for event in client.events(alive[-1]["key"]):
                if event["type"] == "stream":
                    sys.stdout.write(str((event.get("data") or {}).get("raw", "")))
                    sys.stdout.flush()
            return
        lines = client.logs(name, tail)
        if as_json:
            output.result({"name": name, "lines": lines}, as_json=True)
            return
        for line in lines:
            typer.echo(line)

    @app.command("share")
    def share(name: AppArg,
              provider: Annotated[str | None, typer.Option(help="Try this provider first (cloudflare, ngrok, "
                                                                 "localtunnel, ssh, gradio, bore, platform).")] = None,
              passcode: Annotated[str | None, typer.Option(
                  help="The passcode visitors type (default: PINOKIOCLOUD_SHARE_PASSCODE, else generated). "
                  "Other users can see a command line: prefer the variable or --ask-passcode.")] = None,
              ask_passcode: Annotated[bool, typer.Option("--ask-passcode", help="Type the passcode at a hidden "
                                                         "prompt.")] = False,
              qr: Annotated[bool, typer.Option("--qr", help="Also print a QR code of the URL.")] = False,
              as_json: JsonOpt = False) -> None:
        """Publish a running app's web UI behind a passcode."""
        if ask_passcode:
            passcode = typer.prompt("passcode", hide_input=True, confirmation_prompt=True)
        passcode = passcode or os.environ.get("PINOKIOCLOUD_SHARE_PASSCODE") or None
        info = _client().request("POST", f"/api/apps/{name}/share", json_body={"provider": provider,
                                                                               "passcode": passcode})
        if as_json:
            output.result({k: v for k, v in info.items() if k != "qr_png_base64"}, as_json=True)
            return
        url = info.get("public_url") or info.get("local_url")
        if info.get("public_url"):
            output.info(f"{name} is public at {url} (through {info.get('provider')})")
        else:
            output.info(f"no tunnel could be opened ({_reasons(info)}); {name} is behind the gateway at {url}")
        output.info(f"passcode: {info.get('passcode')}")
        if qr and url:
            from pinokiocloud.share.qr import qr_text

            typer.echo(qr_text(str(url)))

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
        output.table(["id", "title", "source", "matched"],
                     [[h["id"], h["title"], h["source"], ", ".join(h["matched"])] for h in found["data"]])

    @app.command("rm")
    def rm(name: AppArg, yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
           as_json: JsonOpt = False) -> None:
        """Remove an installed app (its folder and state)."""
        if not yes and sys.stdin.isatty() and not typer.confirm(f"remove {name} and its folder?"):
            raise typer.Exit(1)
        output.result(_client().remove(name), as_json=as_json)
