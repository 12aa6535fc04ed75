"""An app's life: ``install``, ``update``, ``reinstall``, ``run``, ``start``, ``stop`` and ``rm``. Each asks the
daemon, then follows what it started (unless ``--detach``) and exits 1 when that failed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.common import answers, client, confirm, params, run_sentence
from pinokiocloud.cli.follow import follow, follow_what_it_started
from pinokiocloud.cli.options import AnswersOpt, AppArg, DetachOpt, JsonOpt, ParamOpt, YesOpt
from pinokiocloud.cli.status import app_link

__all__ = ["install", "reinstall", "rm", "run", "start", "stop", "update"]


def install(src: Annotated[str, typer.Argument(help="A git URL, a launcher folder, or a catalog id "
                                                    "(`pinokiocloud search` lists them).")],
            name: Annotated[str | None, typer.Option(help="The app's name (default: from SRC).")] = None,
            script: Annotated[str | None, typer.Option(help="Install script (default: the menu's).")] = None,
            answers_file: AnswersOpt = None, detach: DetachOpt = False, as_json: JsonOpt = False) -> None:
    """Install an app and run its install flow (its output follows; Ctrl-C leaves it running)."""
    the_client = client()
    source = str(Path(src).resolve()) if Path(src).is_dir() else src
    result = the_client.install(source, name=name, script=script, answers=answers(answers_file))
    if as_json and (result.get("run") is None or detach):
        output.result(result, as_json=True)
        return
    run = result["run"]
    if run is None:
        output.result(f"{result['name']} is installed (its launcher has no install script); start it with "
                      f"`pinokiocloud start {result['name']}`", as_json=False)
        return
    if detach:
        output.result(run_sentence(result["name"], run, "install"), as_json=False)
        return
    if not as_json:
        output.info(f"installing {result['name']} …")
    follow(the_client, run, name=result["name"], what="install", as_json=as_json)
    status = follow_what_it_started(the_client, result["name"], as_json=as_json)
    if status["state"] in ("failed", "crashed"):
        # the install script ended well, but a script it started did not (a model download, a sub-install):
        # the app is not what the launcher meant to install, and `ls` says failed; so do we
        runs = status.get("runs") or []
        script_name = Path(str(runs[-1].get("path") or "a script") if runs else "a script").name
        output.error(f"the install of {result['name']} finished, but {script_name}, which it started, failed: "
                     f"{status.get('error') or 'see `pinokiocloud logs ' + result['name'] + '`'}",
                     f"fix the cause, then run `pinokiocloud run {result['name']} {script_name}` or reinstall")
        raise typer.Exit(1)
    if not as_json:
        output.result(f"{result['name']} is installed; start it with `pinokiocloud start {result['name']}`",
                      as_json=False)


def update(name: AppArg, detach: DetachOpt = False, as_json: JsonOpt = False) -> None:
    """Update an app's launcher (git pull; a copied launcher: copied again), then run its update script
    when it has one. The app must be stopped."""
    the_client = client()
    result = the_client.update(name)
    if as_json and (result.get("run") is None or detach):
        output.result(result, as_json=True)
        return
    if not as_json:
        before, after = result.get("before"), result.get("after")
        if before and after:
            what = (f"updated {name}'s launcher ({before[:8]} -> {after[:8]})"
                    if result.get("changed") else f"{name}'s launcher is already up to date")
        else:
            what = f"copied {name}'s launcher again from its folder"
        output.info(what)
    run = result["run"]
    if run is None:
        if not as_json:
            output.result(f"{name} is up to date (its launcher has no update script)", as_json=False)
        return
    if detach:
        output.result(run_sentence(name, run, "update"), as_json=False)
        return
    follow(the_client, run, name=name, what="update", as_json=as_json)
    if not as_json:
        output.result(f"{name} is updated", as_json=False)


def reinstall(name: AppArg, yes: YesOpt = False, detach: DetachOpt = False, as_json: JsonOpt = False) -> None:
    """Put an app's folder back as it was right after install (its environments and what the install made
    inside it are deleted; shared caches stay), then run its install again. The app must be stopped."""
    confirm(f"delete everything {name}'s install made in its folder and install it again?",
            f"reinstalling {name}", yes)
    the_client = client()
    result = the_client.reinstall(name)
    if as_json and (result.get("run") is None or detach):
        output.result(result, as_json=True)
        return
    run = result["run"]
    if run is None:
        output.result(f"{name} is back as installed (its launcher has no install script)", as_json=False)
        return
    if detach:
        output.result(run_sentence(name, run, "install"), as_json=False)
        return
    if not as_json:
        output.info(f"reinstalling {name} …")
    follow(the_client, run, name=name, what="reinstall", as_json=as_json)
    if not as_json:
        output.result(f"{name} is installed again; start it with `pinokiocloud start {name}`", as_json=False)


def run(name: AppArg, script: Annotated[str | None, typer.Argument(help="Script (default: the menu's default "
                                                                       "item).")] = None,
        param: ParamOpt = None, answers_file: AnswersOpt = None, detach: DetachOpt = False,
        as_json: JsonOpt = False) -> None:
    """Run a script of an app and follow it (a server: until it is up)."""
    the_client = client()
    started = the_client.run(name, script=script, params=params(param), answers=answers(answers_file))
    if detach:
        output.result(started if as_json else run_sentence(name, started, "run"), as_json=as_json)
        return
    follow(the_client, started, name=name, what="run", as_json=as_json)


def start(name: AppArg, detach: DetachOpt = False,
          restart: Annotated[str | None, typer.Option(
              "--restart", help="When its server dies on its own: 'no' or 'on-failure' (start it again, "
              "with a growing pause). Kept for the app.", metavar="no|on-failure", show_default=False)] = None,
          as_json: JsonOpt = False) -> None:
    """Start an installed app (its menu's default item) and wait until its web UI is up."""
    the_client = client()
    started = the_client.start(name, restart=restart)
    if detach:
        output.result(started if as_json else run_sentence(name, started, "start"), as_json=as_json)
        return
    follow(the_client, started, name=name, what="start", as_json=as_json)
    status = the_client.status(name)
    if not as_json:
        link = app_link(status)
        output.result(f"{name} is {status['state']}" + (f": open {link}" if link else ""), as_json=False)
    if status["state"] in ("crashed", "failed"):
        if not as_json and status.get("error"):
            output.error(str(status["error"]))
        raise typer.Exit(1)


def stop(name: AppArg, script: Annotated[str | None, typer.Argument(help="Only this script's runs.")] = None,
         as_json: JsonOpt = False) -> None:
    """Stop an app's runs (or one script's)."""
    result = client().stop(name, script)
    count = len(result["stopped"])
    sentence = f"stopped {count} run{'s' if count != 1 else ''} of {name}" if count else f"{name} was not running"
    output.result(result if as_json else sentence, as_json=as_json)


def rm(name: AppArg, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
    """Remove an installed app: its running scripts are stopped, its folder and state deleted."""
    confirm(f"remove {name} and delete its folder?", f"removing {name}", yes)
    result = client().remove(name)
    output.result(result if as_json else f"removed {name} and its folder", as_json=as_json)
