"""``pinokiocloud cloud …``: run an app on a cloud GPU through SkyPilot (the optional ``cloud`` extra).

``launch`` builds the task (``pinokiocloud.cloud.task``), checks what can be checked before anything is
provisioned (tokens, enabled clouds, the GPU name), then launches through SkyPilot's SDK and waits for the
app behind its passcode gateway. ``status|logs|stop|down`` are SkyPilot's cluster commands for the app's
cluster (``pinokio-<app>``). ``serve-task`` and ``backup`` are what the task runs on the machine.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.errors import BadParamError

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Run an app on a cloud GPU through SkyPilot "
                  "(the cloud extra: pip install skypilot; see docs/cloud.md).")

AppOpt = Annotated[str | None, typer.Argument(help="The app (default: the only cloud app running).",
                                              show_default=False)]


def _records_dir() -> Path:
    from pinokiocloud.config import Settings

    return Settings.from_env().home / "cloud"


def _save_record(cluster: str, data: Mapping[str, object]) -> Path:
    """What the launching machine learnt (URL, passcode), mode 0600: the passcode is a secret."""
    folder = _records_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cluster}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    return path


def _load_record(cluster: str) -> dict[str, object]:
    try:
        data = json.loads((_records_dir() / f"{cluster}.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _secrets(names: list[str]) -> dict[str, str]:
    """Values of the tokens to forward: every known token that is set, and each ``--secret`` (which must be)."""
    from pinokiocloud.cloud.errors import MissingTokenError
    from pinokiocloud.cloud.task import TOKEN_NAMES

    values = {name: os.environ[name] for name in TOKEN_NAMES if os.environ.get(name)}
    for name in names:
        if "=" in name:
            raise BadParamError(f"--secret takes a variable's name, not NAME=VALUE (a value on the command line "
                                f"is visible to other users); export {name.split('=', 1)[0]} and pass its name")
        if not os.environ.get(name):
            raise MissingTokenError(name)
        values[name] = os.environ[name]
    return values


def _cluster(app_name: str | None) -> str:
    from pinokiocloud.cloud import sky
    from pinokiocloud.cloud.task import cluster_name

    if app_name is not None:
        return cluster_name(app_name)
    found = sky.clusters(None)
    if len(found) != 1:
        listed = ", ".join(c["cluster"] for c in found) or "none"
        raise BadParamError(f"name the app: there are {len(found)} PinokioCloud clusters ({listed})")
    return str(found[0]["cluster"])


@app.command("launch")
def launch(
    target: Annotated[str, typer.Argument(help="A catalog id, a git URL, a launcher folder, or an app installed "
                                               "here.", show_default=False)],
    gpus: Annotated[str | None, typer.Option(help="NAME[:COUNT], e.g. L4:1 (default: from the app's GPU memory "
                                                  "needs; `sky show-gpus` lists names).")] = None,
    infra: Annotated[str | None, typer.Option(help="Where: runpod, vast, lambda, aws, gcp, azure, k8s, "
                                                   "aws/us-east-1 … (default: the cheapest enabled).")] = None,
    disk: Annotated[int | None, typer.Option("--disk", help="Disk in GB (default: the app's estimate + 60, at "
                                                            "least 100).")] = None,
    idle_minutes: Annotated[int, typer.Option(help="Stop the machine after this many minutes without visitors "
                                                   "(0: never; you pay until `cloud down`).")] = 30,
    share: Annotated[bool, typer.Option("--share", help="Also open a public tunnel (default: only the machine's "
                                                        "port, behind the passcode).")] = False,
    port: Annotated[int, typer.Option(help="The one port the machine exposes (the passcode gateway).")] = 8080,
    persist: Annotated[str | None, typer.Option(help="A bucket (s3://…, gs://…, r2://…) or volume:NAME mounted "
                                                     "as the persistent root; backups of the state land there.")]
    = None,
    persist_mount: Annotated[str, typer.Option(help="Where the persistent root appears on the machine.")]
    = "/pinokio-persist",
    secret: Annotated[list[str] | None, typer.Option("--secret", help="An environment variable to send as a "
                                                     "SkyPilot secret (repeatable; HF_TOKEN, CIVITAI_API_KEY and "
                                                     "NGROK_AUTHTOKEN go when set).")] = None,
    name: Annotated[str | None, typer.Option(help="The app's name on the machine.")] = None,
    commit: Annotated[str | None, typer.Option(help="For a git source: the commit to install.")] = None,
    install_spec: Annotated[str | None, typer.Option(
        help="How the machine installs PinokioCloud: a pip requirement, a git+https URL, or a local wheel or "
             "folder (copied). Default: PINOKIOCLOUD_CLOUD_INSTALL_SPEC, else this version from PyPI.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the SkyPilot task YAML; launch nothing.")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Launch an app on a cloud GPU; prints its URL, passcode and the cost per hour."""
    from pinokiocloud.cloud import remote, sky
    from pinokiocloud.cloud.errors import SkyPilotMissingError
    from pinokiocloud.cloud.source import resolve_source
    from pinokiocloud.cloud.task import DEFAULT_INSTALL_SPEC, INSTALL_SPEC_ENV, LaunchOptions, build_task, dump_yaml
    from pinokiocloud.config import Settings
    from pinokiocloud.share.passcodes import check_passcode_strength, generate_passcode

    settings = Settings.from_env()
    source = resolve_source(target, name=name, commit=commit, settings=settings)
    options = LaunchOptions(
        source=source, gpus=gpus, infra=infra, disk_gb=disk, idle_minutes=idle_minutes, share=share, port=port,
        persist=persist, persist_mount=persist_mount, secrets=tuple(secret or ()),
        install_spec=install_spec or os.environ.get(INSTALL_SPEC_ENV) or DEFAULT_INSTALL_SPEC)
    values = _secrets(list(secret or ()))
    task = build_task(options, tuple(values))
    if dry_run:
        try:
            sky.validate(task, {k: "" for k in values})
            checked = "checked by SkyPilot's task schema"
        except SkyPilotMissingError:
            checked = "not checked: SkyPilot is not installed (pip install skypilot)"
        except Exception as exc:  # SkyPilot's schema refused it: our bug, shown as such
            raise BadParamError(f"SkyPilot refuses the task: {exc}") from exc
        if as_json:
            output.result(task, as_json=True)
        else:
            typer.echo(dump_yaml(task), nl=False)
        output.info(f"# {checked}")
        return

    passcode = os.environ.get("PINOKIOCLOUD_SHARE_PASSCODE") or generate_passcode()
    check_passcode_strength(passcode)
    gpu_name = gpus.split(":", 1)[0] if gpus else None
    output.info("checking SkyPilot's enabled clouds …")
    sky.preflight(infra, gpu_name)
    sky_task = sky.validate(task, {**values, "PINOKIOCLOUD_SHARE_PASSCODE": passcode})
    cluster = str(task["name"])
    output.info(f"launching {source.name} on {cluster} (SkyPilot provisions it; this takes minutes) …")
    launched = sky.launch(sky_task, cluster, port=port, on_line=output.info,
                          markers=(remote.READY_MARKER, remote.FAILED_MARKER))
    url = launched.endpoint or launched.ready.get("public_url")
    result = {"app": source.name, "cluster": cluster, "url": url, "public_url": launched.ready.get("public_url"),
              "passcode": launched.ready.get("passcode") or passcode, "cost_per_hour": launched.cost_per_hour,
              "launched_at": time.time()}
    record = _save_record(cluster, result)
    if as_json:
        output.result(result, as_json=True)
        return
    output.info(f"{source.name} is online at {url}")
    if result["public_url"] and result["public_url"] != url:
        output.info(f"public:   {result['public_url']}")
    output.info(f"passcode: {result['passcode']}  (kept in {record})")
    cost = f"${launched.cost_per_hour:.2f}/hour" if launched.cost_per_hour is not None else "unknown (see `sky status`)"
    output.info(f"cost:     {cost}; stop paying with `pinokiocloud cloud down {source.name}`")


@app.command("status")
def status(app_name: AppOpt = None, as_json: JsonOpt = False) -> None:
    """The app's cluster (or all PinokioCloud clusters) as SkyPilot reports them."""
    from pinokiocloud.cloud import sky
    from pinokiocloud.cloud.errors import ClusterNotFoundError
    from pinokiocloud.cloud.task import cluster_name

    sky.load()
    names = [cluster_name(app_name)] if app_name else None
    found = sky.clusters(names)
    if app_name and not found:
        raise ClusterNotFoundError(cluster_name(app_name))
    for entry in found:
        saved = _load_record(entry["cluster"])
        entry.update({"app": saved.get("app"), "url": saved.get("url"), "cost_per_hour": saved.get("cost_per_hour")})
    if as_json:
        output.result(found, as_json=True)
        return
    output.table(["cluster", "status", "resources", "url"],
                 [[c["cluster"], str(c["status"]), str(c["resources"] or ""), str(c["url"] or "")] for c in found])


@app.command("logs")
def logs(app_name: AppOpt = None,
         follow: Annotated[bool, typer.Option("--follow/--no-follow", "-f", help="Keep printing.")] = False,
         tail: Annotated[int, typer.Option(help="Lines to show (0: all).")] = 200) -> None:
    """The task's output (setup and run) on the app's cluster."""
    from pinokiocloud.cloud import sky

    sky.load()
    code = sky.tail(_cluster(app_name), follow=follow, lines=tail)
    if code:
        raise typer.Exit(code if code < 100 else 1)


def _stop(app_name: str | None, *, down: bool, as_json: bool) -> None:
    from pinokiocloud.cloud import sky

    sky.load()
    cluster = _cluster(app_name)
    sky.stop_or_down(cluster, down=down)
    what = "terminated (its disk is gone; the persistent bucket stays)" if down else \
        "stopped (its disk is kept and billed; `cloud down` ends that)"
    output.result({"cluster": cluster, "down": down} if as_json else f"{cluster} is {what}", as_json=as_json)


@app.command("stop")
def stop(app_name: AppOpt = None, as_json: JsonOpt = False) -> None:
    """Stop the app's machine (the backup hook runs first); its disk is kept."""
    _stop(app_name, down=False, as_json=as_json)


@app.command("down")
def down(app_name: AppOpt = None, as_json: JsonOpt = False) -> None:
    """Terminate the app's machine (the backup hook runs first): nothing more is billed for it."""
    _stop(app_name, down=True, as_json=as_json)


@app.command("serve-task", hidden=True)
def serve_task(app_name: Annotated[str, typer.Argument()],
               port: Annotated[int, typer.Option()],
               idle_minutes: Annotated[int, typer.Option()] = 30,
               share: Annotated[bool, typer.Option("--share")] = False) -> None:
    """On the cloud machine: start the daemon and the app, gateway on PORT, end the job when idle."""
    from pinokiocloud.cloud.remote import serve_task as run

    raise typer.Exit(run(app_name, port=port, idle_minutes=idle_minutes, share=share))


@app.command("backup")
def backup(to: Annotated[Path, typer.Option("--to", help="The persistent folder (the mounted bucket).")],
           home: Annotated[Path | None, typer.Option(help="PINOKIO_HOME (default: the usual one).")] = None,
           as_json: JsonOpt = False) -> None:
    """Back up the state (database, settings, app registry) into a persistent folder; the autostop hook."""
    from pinokiocloud.cloud.backup import back_up
    from pinokiocloud.config import Settings

    done = back_up((home or Settings.from_env().home).expanduser().resolve(), to.expanduser())
    output.result(done.to_dict() if as_json else f"backed up {', '.join(done.files)} to {done.folder}",
                  as_json=as_json)
