"""The SkyPilot task for one app: resources, setup, run, envs, secrets, autostop with a backup hook, mounts.

``build_task`` is pure (no SkyPilot import, no network): it turns :class:`LaunchOptions` into the task as a
dict in SkyPilot's YAML format, which ``--dry-run`` prints and ``sky.Task.from_yaml_config`` loads. Secret
values are never in it: each secret is a key with a null value (SkyPilot's "given at launch" form), and the
values travel only in ``secrets_overrides`` at launch time.

On the machine, ``setup`` installs PinokioCloud into its own venv and installs the app from the same source
the user has; ``run`` hands over to ``pinokiocloud cloud serve-task``, which starts the daemon and the app,
puts the passcode gateway on the task's one port, and ends the job when nobody has used the app for
``idle_minutes`` (SkyPilot's autostop then stops the machine, running the backup hook first).
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pinokiocloud import __version__
from pinokiocloud.errors import BadParamError

__all__ = [
    "DEFAULT_IDLE_MINUTES",
    "DEFAULT_INSTALL_SPEC",
    "DEFAULT_PORT",
    "GPU_MEMORY_GB",
    "INSTALL_SPEC_ENV",
    "PERSIST_MOUNT",
    "REMOTE_HOME",
    "REMOTE_VENV",
    "TOKEN_NAMES",
    "AppSource",
    "LaunchOptions",
    "accelerators_for",
    "build_task",
    "cluster_name",
    "dump_yaml",
    "parse_gpus",
]

INSTALL_SPEC_ENV = "PINOKIOCLOUD_CLOUD_INSTALL_SPEC"
DEFAULT_INSTALL_SPEC = f"pinokiocloud=={__version__}"
"""What the machine installs when ``PINOKIOCLOUD_CLOUD_INSTALL_SPEC`` is not set: this very version from PyPI."""
DEFAULT_PORT = 8080
DEFAULT_IDLE_MINUTES = 30
PERSIST_MOUNT = "/pinokio-persist"
REMOTE_HOME = "$HOME/pinokio"
REMOTE_VENV = "$HOME/pinokiocloud-venv"
REMOTE_SOURCES = "~/pinokiocloud-upload"
"""Where local folders and files (a launcher, a wheel, a checkout) are copied on the machine."""
TOKEN_NAMES = ("HF_TOKEN", "CIVITAI_API_KEY", "NGROK_AUTHTOKEN")
"""Tokens forwarded (as SkyPilot secrets) whenever they are set here, besides those named with ``--secret``."""
PASSCODE_SECRET = "PINOKIOCLOUD_SHARE_PASSCODE"
MIN_DISK_GB = 100
DISK_HEADROOM_GB = 60
"""The OS image, PinokioCloud's own venv and the caches come on top of an app's disk estimate."""
HOOK_TIMEOUT_S = 600
TUNNEL_ORDER = "platform,cloudflare,ngrok,localtunnel,ssh,gradio,bore,lan"
"""With ``--share``: the usual tunnels first; ``lan`` last keeps the gateway on all interfaces, so the port works."""

GPU_MEMORY_GB: dict[str, int] = {
    "T4": 16, "L4": 24, "A10G": 24, "A10": 24, "RTX4090": 24, "RTX3090": 24, "L40S": 48, "L40": 48,
    "A40": 48, "RTXA6000": 48, "A100": 40, "A100-80GB": 80, "H100": 80, "H200": 141,
}
"""NVIDIA GPUs that SkyPilot's clouds rent, by SkyPilot's names, with their memory: an app's ``vram_gb``
becomes "any of those with enough memory" and SkyPilot's optimizer picks the cheapest offer."""

_CLUSTER_RE = re.compile(r"[^a-z0-9-]+")
_GPUS_RE = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)(?::(?P<count>\d+))?")
_SECRET_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BUCKET_RE = re.compile(r"(?P<store>s3|gs|r2|cos|oci|az|https)://\S+")


@dataclass(frozen=True, slots=True)
class AppSource:
    """Where the machine gets the launcher: the same source the user has."""

    kind: Literal["catalog", "git", "folder"]
    location: str
    """A catalog id, a git URL, or a local launcher folder (copied to the machine)."""
    name: str
    """The app's name on the machine (and in the cluster name)."""
    commit: str | None = None
    """For git: the commit to check out, so the machine runs what the user ran."""
    vram_gb: float = 0
    disk_gb: float = 0
    gpu: str | None = None
    """What the catalog says the app needs (0 / None when unknown)."""


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    source: AppSource
    gpus: str | None = None
    """``NAME[:COUNT]`` (``L4:1``), or ``None`` for "from the app's needs"."""
    infra: str | None = None
    """SkyPilot's ``infra`` (``runpod``, ``aws/us-east-1``, ``k8s``); ``None`` lets SkyPilot choose."""
    disk_gb: int | None = None
    idle_minutes: int = DEFAULT_IDLE_MINUTES
    """Minutes without a visitor before the job ends and the machine stops; 0 never stops it."""
    share: bool = False
    port: int = DEFAULT_PORT
    persist: str | None = None
    """A bucket URL (``s3://…``, ``gs://…``, ``r2://…``) or ``volume:NAME`` mounted at ``persist_mount``."""
    persist_mount: str = PERSIST_MOUNT
    secrets: tuple[str, ...] = ()
    """Names of environment variables sent as SkyPilot secrets (values never in the YAML)."""
    install_spec: str = DEFAULT_INSTALL_SPEC
    """A pip requirement (``pinokiocloud==0.1.0``, ``git+https://…``) or a local wheel/folder (copied)."""
    cluster: str | None = None
    extra_envs: dict[str, str] = field(default_factory=dict)


def cluster_name(app: str) -> str:
    """``pinokio-<app>``, in the letters SkyPilot accepts (lower case, digits, ``-``)."""
    base = _CLUSTER_RE.sub("-", app.lower()).strip("-") or "app"
    return f"pinokio-{base}"[:50].rstrip("-")


def parse_gpus(text: str) -> tuple[str, int]:
    """``L4:1`` → ``("L4", 1)``; a count of 1 when left out."""
    found = _GPUS_RE.fullmatch(text.strip())
    if found is None:
        raise BadParamError(f"--gpus takes NAME[:COUNT] such as L4:1 or A100-80GB:2, got {text!r}")
    count = int(found["count"] or 1)
    if count < 1:
        raise BadParamError(f"--gpus needs a count of at least 1, got {text!r}")
    return found["name"], count


def accelerators_for(source: AppSource, gpus: str | None) -> str | dict[str, int] | None:
    """The ``accelerators`` of the task: the flag as given, else every listed GPU with enough memory for
    the app (SkyPilot takes the cheapest of them), else none (a CPU machine) for an app without GPU needs."""
    if gpus is not None:
        name, count = parse_gpus(gpus)
        return f"{name}:{count}"
    if source.gpu not in (None, "nvidia"):
        raise BadParamError(f"{source.name} needs a {source.gpu} GPU, which PinokioCloud cannot choose for you; "
                            "pass one with --gpus NAME:COUNT (`sky show-gpus --all` lists them)")
    if source.vram_gb <= 0:
        return None if source.gpu is None else {"T4": 1, "L4": 1, "A10G": 1}
    fitting = {name: 1 for name, memory in GPU_MEMORY_GB.items() if memory >= source.vram_gb}
    if not fitting:
        raise BadParamError(f"{source.name} needs {source.vram_gb:g} GB of GPU memory, more than any single GPU "
                            "here; pass several with --gpus NAME:COUNT")
    return fitting


def _disk(options: LaunchOptions) -> int:
    if options.disk_gb is not None:
        if options.disk_gb < 20:
            raise BadParamError(f"--disk must be at least 20 GB (the OS and PinokioCloud need that), got "
                                f"{options.disk_gb}")
        return options.disk_gb
    return max(MIN_DISK_GB, math.ceil(options.source.disk_gb) + DISK_HEADROOM_GB)


def _persist_mount(options: LaunchOptions) -> tuple[dict[str, object], dict[str, str]]:
    """(file_mounts entries, volumes entries) for the persistent root."""
    if options.persist is None:
        return {}, {}
    text = options.persist.strip()
    if text.startswith("volume:"):
        name = text[len("volume:"):]
        if not name:
            raise BadParamError("--persist volume:NAME needs the volume's name (`sky volumes ls` lists them)")
        return {}, {options.persist_mount: name}
    if _BUCKET_RE.fullmatch(text) is None:
        raise BadParamError(f"--persist takes a bucket URL (s3://, gs://, r2://, cos://, oci://, az:// or https:// "
                            f"for Azure) or volume:NAME, got {text!r}")
    return {options.persist_mount: {"source": text, "mode": "MOUNT"}}, {}


def _upload_path(local: str) -> str | None:
    """A local file or folder to copy to the machine (its remote path), or ``None`` for a pip/git spec."""
    path = Path(local).expanduser()
    if not (path.is_absolute() or local.startswith((".", "~"))) or not path.exists():
        return None
    return f"{REMOTE_SOURCES}/{path.resolve().name}"


def _remote(path: str) -> str:
    """A ``~/…`` path of a file mount as the scripts see it (``$HOME/…``, quoted)."""
    return '"$HOME"/' + shlex.quote(path[2:]) if path.startswith("~/") else shlex.quote(path)


def _setup_script(options: LaunchOptions, launcher_remote: str | None) -> str:
    source = options.source
    q = shlex.quote
    lines = [
        "set -euo pipefail",
        "# PinokioCloud in its own venv; the source is PINOKIOCLOUD_CLOUD_INSTALL_SPEC (a pip requirement or path)",
        f'VENV="{REMOTE_VENV}"',
        'PY="${PINOKIOCLOUD_CLOUD_PYTHON:-python3}"',
        'if ! command -v uv >/dev/null 2>&1; then "$PY" -m pip install --quiet --user uv; '
        'export PATH="$HOME/.local/bin:$PATH"; fi',
        'uv venv --quiet --allow-existing --python "$PY" "$VENV"',
        f'SPEC="${INSTALL_SPEC_ENV}"',
        'case "$SPEC" in "~/"*) SPEC="$HOME/${SPEC#\\~/}" ;; esac  # a file mount of a local wheel or folder',
        'uv pip install --quiet --compile-bytecode --python "$VENV/bin/python" "$SPEC"',
        f'export PINOKIO_HOME="{REMOTE_HOME}"',
        'PC="$VENV/bin/pinokiocloud"',
        f"APP={q(source.name)}",
        'if [ ! -d "$PINOKIO_HOME/api/$APP" ]; then',
    ]
    if source.kind == "catalog":
        lines.append(f'  "$PC" install {q(source.location)} --name "$APP"')
    elif source.kind == "git" and source.commit:
        lines += [
            '  SRC="$HOME/pinokiocloud-launchers/$APP"',
            '  rm -rf "$SRC"',
            f'  git clone --quiet {q(source.location)} "$SRC"',
            f'  git -C "$SRC" checkout --quiet {q(source.commit)}',
            '  "$PC" install "$SRC" --name "$APP"',
        ]
    elif source.kind == "git":
        lines.append(f'  "$PC" install {q(source.location)} --name "$APP"')
    else:
        assert launcher_remote is not None
        lines.append(f'  "$PC" install {_remote(launcher_remote)} --name "$APP"')
    lines += [
        "fi",
        '"$PC" down  # the run step starts the daemon again, with the task\'s settings',
    ]
    return "\n".join(lines) + "\n"


def _run_script(options: LaunchOptions) -> str:
    flags = f"--port {options.port} --idle-minutes {options.idle_minutes}" + (" --share" if options.share else "")
    return "\n".join([
        "set -euo pipefail",
        f'export PINOKIO_HOME="{REMOTE_HOME}"',
        f'exec "{REMOTE_VENV}/bin/pinokiocloud" cloud serve-task "$PINOKIOCLOUD_APP" {flags}',
    ]) + "\n"


def backup_command(options: LaunchOptions) -> str:
    """What the autostop hook runs: the state backup into the persistent mount (no task envs needed)."""
    target = shlex.quote(options.persist_mount)
    return (f'"{REMOTE_VENV}/bin/pinokiocloud" cloud backup --home "{REMOTE_HOME}" --to {target} '
            "--json")


def build_task(options: LaunchOptions, secrets_present: tuple[str, ...] = ()) -> dict[str, object]:
    """The task in SkyPilot's YAML format. ``secrets_present`` are the token names whose values will be given
    at launch; they appear here as keys with null values only."""
    if not 1 <= options.port <= 65535:
        raise BadParamError(f"--port must be a port number (1-65535), got {options.port}")
    if options.idle_minutes < 0:
        raise BadParamError(f"--idle-minutes must be 0 (never stop) or more, got {options.idle_minutes}")
    names = list(dict.fromkeys([*secrets_present, *options.secrets]))
    for name in names:
        if not _SECRET_RE.fullmatch(name):
            raise BadParamError(f"--secret takes an environment variable's name, got {name!r}")
    source = options.source
    resources: dict[str, object] = {"ports": [options.port], "disk_size": _disk(options)}
    accelerators = accelerators_for(source, options.gpus)
    if accelerators is not None:
        resources["accelerators"] = accelerators
    if options.infra:
        resources["infra"] = options.infra
    # the job ends after idle_minutes without visitors; the machine stops a minute later (hook first)
    resources["autostop"] = {"idle_minutes": 1, "wait_for": "jobs"} if options.idle_minutes else False

    file_mounts, volumes = _persist_mount(options)
    launcher_remote = None
    if source.kind == "folder":
        launcher_remote = f"{REMOTE_SOURCES}/launchers/{source.name}"
        file_mounts[launcher_remote] = str(Path(source.location).expanduser().resolve())
    install_spec = options.install_spec
    upload = _upload_path(install_spec)
    if upload is not None:
        file_mounts[upload] = str(Path(install_spec).expanduser().resolve())
        install_spec = upload

    envs: dict[str, str] = {
        "PINOKIOCLOUD_APP": source.name,
        INSTALL_SPEC_ENV: install_spec,
        "PINOKIOCLOUD_SHARE_PORT": str(options.port),
    }
    if options.share:
        envs["PINOKIOCLOUD_SHARE_PROVIDERS"] = TUNNEL_ORDER
    if options.persist is not None:
        envs["PINOKIOCLOUD_PERSIST"] = options.persist_mount
    envs.update(options.extra_envs)

    task: dict[str, object] = {
        "name": options.cluster or cluster_name(source.name),
        "resources": resources,
        "envs": envs,
        "secrets": {name: None for name in [*names, PASSCODE_SECRET]},
        "setup": _setup_script(options, launcher_remote),
        "run": _run_script(options),
    }
    if file_mounts:
        task["file_mounts"] = file_mounts
    if volumes:
        task["volumes"] = volumes
    if options.persist is not None:
        task["config"] = {"hooks": [{"run": backup_command(options), "events": ["stop", "down"],
                                     "timeout": HOOK_TIMEOUT_S}]}
    return task


def dump_yaml(task: dict[str, object]) -> str:
    """The task as YAML text, scripts as literal blocks (what ``--dry-run`` prints and ``sky launch`` reads)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _text)
    return yaml.dump(task, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)
