"""Conda environments without a system conda: solved and installed by py-rattler (the library behind pixi).

The base lives at ``PINOKIO_HOME/bin/miniforge`` (the original's path, so launchers' paths still work). It
starts as an empty conda prefix: nothing is downloaded until a launcher asks for a package. Channels are
conda-forge unless ``PINOKIOCLOUD_CONDA_CHANNELS`` (comma-separated URLs or names, ``file://`` included)
replaces them. A launcher's named channel (``-c nvidia/label/cuda-12.9.1``, ``conda-forge::ffmpeg``) keeps
its meaning without that setting; with it, the name is answered by the configured channel whose URL ends
in that name, else by all configured channels, so one mirror stands in for every named channel.

An install writes ``conda-meta/pinokiocloud.pending`` (the wanted specs) before it touches the prefix
and removes it after; an interrupted install is finished by the next operation on that prefix, and the
packages that were linked before stay usable meanwhile (rattler links package by package).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinokiocloud.errors import CondaError

if TYPE_CHECKING:  # rattler is imported where it is used: it is slow to load
    from rattler import PrefixRecord, RepoDataRecord

__all__ = [
    "BASE_PARTS",
    "CHANNELS_ENV",
    "DEFAULT_CHANNELS",
    "DEFAULT_ENV_PYTHON",
    "SELF_PACKAGES",
    "Change",
    "CondaError",
    "activate_env",
    "activation_scripts",
    "base_prefix",
    "configured_channels",
    "deactivate_env",
    "ensure_base",
    "env_list",
    "hook_script",
    "install",
    "installed",
    "is_prefix",
    "pending_specs",
    "python_spec",
    "register_env",
    "remove",
    "requested_specs",
    "resolve_channels",
    "split_spec",
]

BASE_PARTS = ("bin", "miniforge")
CHANNELS_ENV = "PINOKIOCLOUD_CONDA_CHANNELS"
DEFAULT_CHANNELS = ("conda-forge",)
DEFAULT_ENV_PYTHON = "python=3.10"
"""The Python of a new ``conda: {path}`` env with no ``python``: the original's 3.10 line (docs/compat.md)."""
SELF_PACKAGES = frozenset({"conda", "mamba", "micromamba"})
"""Specs that would replace the ``conda`` command itself: skipped with a notice (docs/compat.md)."""
SPECS_FILE = "pinokiocloud.specs"
PENDING_FILE = "pinokiocloud.pending"
LOCK_FILE = "pinokiocloud.lock"
ENVS_FILE = "environments.txt"
SOLVE_TIMEOUT_S = 300


@dataclass(frozen=True, slots=True)
class Change:
    """What one install or remove did to a prefix."""

    prefix: Path
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(slots=True)
class _Progress:
    out: Callable[[str], object]
    names: dict[int, str] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)
    last: float = 0.0

    def on_populate_cache_start(self, operation: int, package_name: str) -> int:
        self.names[operation] = package_name
        return operation

    def on_download_progress(self, download_idx: int, progress: int, total: int | None) -> None:
        self.sizes[download_idx] = progress
        now = time.monotonic()
        if now - self.last >= 1.0:
            self.last = now
            self.out(f"[conda] downloaded {sum(self.sizes.values()) / 1e6:.1f} MB")

    def on_link_start(self, operation: int, package_name: str) -> int:
        self.out(f"[conda]   + {package_name}")
        return operation

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # every other ``on_*`` of rattler's InstallerReporter: a no-op (they return None or an int token, so no
        # single return type fits; subclassing the protocol would import rattler with this module)
        if name.startswith("on_"):
            return _ignore
        raise AttributeError(name)


def _ignore(*_: object) -> int:
    return 0


# ---- places ----

def base_prefix(home: Path) -> Path:
    return home.joinpath(*BASE_PARTS)


def is_prefix(path: Path) -> bool:
    return (path / "conda-meta").is_dir()


def _shim(base: Path, python: str) -> str:
    return ("#!/bin/sh\n# PinokioCloud's conda (py-rattler); see docs/compat.md\n"
            f"exec {shlex.quote(python)} -I -m pinokiocloud.envs.conda_cli --base {shlex.quote(str(base))} \"$@\"\n")


def hook_script(base: Path) -> str:
    """The ``conda`` shell function (``etc/profile.d/conda.sh``, ``conda shell.bash hook``): activation has to
    change the calling shell, so ``activate``/``deactivate`` eval what the command prints."""
    exe = shlex.quote(str(base / "bin" / "conda"))
    return f"""__pinokiocloud_conda_exe={exe}
export CONDA_EXE="$__pinokiocloud_conda_exe"
conda() {{
  case "${{1-}}" in
    activate|deactivate)
      local __conda_script
      __conda_script="$("$__pinokiocloud_conda_exe" shell.bash "$@")" || return $?
      eval "$__conda_script" ;;
    *)
      "$__pinokiocloud_conda_exe" "$@"
      local __conda_rc=$?
      hash -r
      return $__conda_rc ;;
  esac
}}
"""


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> None:
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def ensure_base(home: Path, python: str | None = None) -> Path:
    """The base prefix with its ``conda`` command and shell hook; cheap when they are already there."""
    base = base_prefix(home)
    (base / "conda-meta").mkdir(parents=True, exist_ok=True)
    (base / "envs").mkdir(exist_ok=True)
    history = base / "conda-meta" / "history"
    if not history.exists():
        history.touch()
    shim = _shim(base, python or sys.executable)
    _write_if_changed(base / "bin" / "conda", shim, 0o755)
    _write_if_changed(base / "condabin" / "conda", shim, 0o755)
    _write_if_changed(base / "etc" / "profile.d" / "conda.sh", hook_script(base))
    _link_base_python(base)
    return base


def _link_base_python(base: Path) -> None:
    """Base's ``python`` is the machine's Python (the interpreter under PinokioCloud's venv), as the original's
    base has one; a python conda installs into base replaces these links (docs/compat.md)."""
    real = Path(getattr(sys, "_base_executable", "") or sys.executable)
    if not real.exists():
        return
    for name in ("python", "python3"):
        link = base / "bin" / name
        if link.exists() and not link.is_symlink():
            continue  # conda's own python
        with contextlib.suppress(OSError):
            if link.is_symlink() and os.readlink(link) == str(real):
                continue
            tmp = link.with_name(f".{name}.tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(real)
            tmp.replace(link)


def register_env(base: Path, prefix: Path) -> None:
    """Remember an env made outside ``base/envs`` for ``conda env list``."""
    if prefix == base or prefix.parent == base / "envs":
        return
    listing = base / ENVS_FILE
    known = _read_lines(listing)
    if str(prefix) not in known:
        with listing.open("a") as fh:
            fh.write(f"{prefix}\n")


def _read_lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return []


def env_list(base: Path) -> list[Path]:
    """Base, its named envs, and the envs made elsewhere that still exist."""
    found = [base]
    if (base / "envs").is_dir():
        found += sorted(p for p in (base / "envs").iterdir() if is_prefix(p))
    found += [Path(p) for p in _read_lines(base / ENVS_FILE) if is_prefix(Path(p))]
    return list(dict.fromkeys(found))


# ---- channels and specs ----

def configured_channels(environ: Mapping[str, str]) -> list[str]:
    raw = environ.get(CHANNELS_ENV, "")
    given = [c.strip() for c in raw.split(",") if c.strip()]
    return [_as_url(c) for c in given] or list(DEFAULT_CHANNELS)


def _as_url(channel: str) -> str:
    return Path(channel).as_uri() if channel.startswith("/") else channel.rstrip("/")


def _is_url(channel: str) -> bool:
    return "://" in channel or channel.startswith("/")


def resolve_channels(named: Sequence[str], environ: Mapping[str, str], *, override: bool = False) -> list[str]:
    """The channels to solve from: the request's own (``-c``, ``ch::spec``) first, then the configured
    ones unless ``--override-channels``; names are mapped onto a configured mirror (module doc)."""
    configured = configured_channels(environ)
    mirrored = bool(environ.get(CHANNELS_ENV, "").strip())
    out: list[str] = []
    for channel in named:
        if _is_url(channel):
            out.append(_as_url(channel))
        elif mirrored:
            matches = [c for c in configured if c.rstrip("/").endswith("/" + channel.strip("/"))]
            out += matches or configured
        else:
            out.append(channel)
    if not override or not out:
        out += configured
    return list(dict.fromkeys(out))


def split_spec(text: str) -> tuple[str | None, str]:
    """``conda-forge::ffmpeg=7.0.2`` → ``("conda-forge", "ffmpeg=7.0.2")``; a spec without ``::`` has none."""
    if "::" in text:
        channel, spec = text.rsplit("::", 1)
        return channel or None, spec
    return None, text


def python_spec(python: object) -> str:
    """``3.11`` or ``"3.11"`` → ``python=3.11``; anything else is a full spec already."""
    text = str(python).strip()
    return f"python={text}" if text[:1].isdigit() else text


def _spec_name(spec: str) -> str:
    from rattler import MatchSpec

    try:
        parsed = MatchSpec(spec)
    except Exception as exc:
        raise CondaError(f"{spec!r} is not a conda package spec ({_first_line(exc)}); "
                         "write it as name, name=1.2 or channel::name=1.2") from exc
    if parsed.name is None:
        raise CondaError(f"{spec!r} names no package; write it as name, name=1.2 or channel::name=1.2")
    return str(parsed.name.normalized)


# ---- what a prefix holds ----

def installed(prefix: Path) -> list[PrefixRecord]:
    """The prefix's ``PrefixRecord``s (``conda-meta/*.json``), sorted by name."""
    from rattler import PrefixRecord

    meta = prefix / "conda-meta"
    if not meta.is_dir():
        return []
    records = []
    for file in sorted(meta.glob("*.json")):
        if file.name.startswith("pinokiocloud-"):
            continue
        with contextlib.suppress(Exception):
            records.append(PrefixRecord.from_path(file))
    return sorted(records, key=lambda r: r.name.normalized)


def requested_specs(prefix: Path) -> dict[str, str]:
    """Package name → the spec the user asked for; what a later solve must keep."""
    try:
        data = json.loads((prefix / "conda-meta" / SPECS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def pending_specs(prefix: Path) -> dict[str, str] | None:
    """The specs of an install that was interrupted, if one was."""
    try:
        data = json.loads((prefix / "conda-meta" / PENDING_FILE).read_text())
    except (OSError, ValueError):
        return None
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None


def _write_json(path: Path, data: Mapping[str, str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(dict(data), indent=1, sort_keys=True))
    tmp.replace(path)


@contextlib.contextmanager
def _locked(prefix: Path) -> Iterator[None]:
    """One writer per prefix: a second ``conda install`` waits for the first."""
    (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
    with (prefix / "conda-meta" / LOCK_FILE).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _explain(exc: BaseException, specs: Mapping[str, str], channels: Sequence[str]) -> CondaError:
    """rattler's errors as one sentence that names the package or the channel and what to do."""
    text = " ".join(str(exc).split())
    where = ", ".join(channels)
    kind = type(exc).__name__
    if kind == "SolverError":
        reason = text.removeprefix("Cannot solve the request because of:").strip().rstrip(".")
        return CondaError(f"conda could not solve {' '.join(specs.values())} from {where}: {reason}; "
                          f"check the package names and versions, or set {CHANNELS_ENV} to a channel that has them")
    if kind in ("GatewayError", "FetchRepoDataError", "IoError", "TransactionError", "LinkError") or (
            "error sending request" in text):
        return CondaError(f"conda could not reach a channel ({where}): {_first_line(exc)}; check the network, "
                          f"or set {CHANNELS_ENV} to a mirror you can reach")
    return CondaError(f"conda failed for {' '.join(specs.values())}: {_first_line(exc)}")


# ---- solve and install ----

async def _solve(wanted: Mapping[str, str], channels: Sequence[str], prefix: Path, cache: Path,
                 locked: Sequence[RepoDataRecord]) -> list[RepoDataRecord]:
    from rattler import Channel, Gateway, Platform, VirtualPackage, solve

    gateway = Gateway(cache_dir=cache / "cache")
    try:
        return list(await solve(
            [Channel(c) for c in channels], list(wanted.values()), gateway=gateway,
            platforms=[Platform.current(), "noarch"], locked_packages=list(locked),
            virtual_packages=VirtualPackage.detect(), timeout=datetime.timedelta(seconds=SOLVE_TIMEOUT_S)))
    except Exception as exc:
        raise _explain(exc, wanted, channels) from exc


async def _apply(prefix: Path, wanted: dict[str, str], channels: Sequence[str], cache: Path,
                 out: Callable[[str], object], *, keep_installed: bool = True) -> Change:
    from rattler import install as rattler_install

    started = time.monotonic()
    before = {r.name.normalized: r for r in installed(prefix)}
    records: list[RepoDataRecord] = []
    if wanted:
        out(f"[conda] solving {' '.join(wanted.values())} from {', '.join(channels)}")
        records = await _solve(wanted, channels, prefix, cache, list(before.values()) if keep_installed else [])
    _write_json(prefix / "conda-meta" / PENDING_FILE, wanted)
    try:
        await rattler_install(records, prefix, cache_dir=cache, installed_packages=list(before.values()),
                              show_progress=False, reporter=_Progress(out))
    except Exception as exc:
        raise _explain(exc, wanted, channels) from exc
    _write_json(prefix / "conda-meta" / SPECS_FILE, wanted)
    (prefix / "conda-meta" / PENDING_FILE).unlink(missing_ok=True)
    after = {r.name.normalized: f"{r.name.normalized}-{r.version}-{r.build}" for r in records}
    was = {n: f"{n}-{r.version}-{r.build}" for n, r in before.items()}
    added = tuple(sorted(v for n, v in after.items() if was.get(n) != v))
    removed = tuple(sorted(v for n, v in was.items() if after.get(n) != v))
    return Change(prefix, added, removed, seconds=time.monotonic() - started)


def _cache(base: Path) -> Path:
    return base / "pkgs"


async def install(prefix: Path, specs: Sequence[str], *, base: Path, environ: Mapping[str, str],
                  channels: Sequence[str] = (), override_channels: bool = False,
                  update: bool = False, out: Callable[[str], object] = print) -> Change:
    """``conda install`` / ``create`` / ``update``: the prefix ends up with ``specs`` plus what it had (an
    interrupted earlier install is finished first). ``update`` lets the named packages move."""
    named = list(channels)
    wanted_new: dict[str, str] = {}
    skipped: list[str] = []
    for text in specs:
        channel, spec = split_spec(text)
        if channel:
            named.append(channel)
        name = _spec_name(spec)
        if name in SELF_PACKAGES:
            skipped.append(text)
            continue
        wanted_new[name] = spec
    sources = resolve_channels(named, environ, override=override_channels)
    prefix.mkdir(parents=True, exist_ok=True)
    with _locked(prefix):
        (prefix / "conda-meta" / "history").touch()
        pending = pending_specs(prefix)
        if not wanted_new and not update and pending is None:
            register_env(base, prefix)
            return Change(prefix, skipped=tuple(skipped))
        wanted = {**requested_specs(prefix), **(pending or {}), **wanted_new}
        change = await _apply(prefix, wanted, sources, _cache(base), out, keep_installed=not update)
    register_env(base, prefix)
    return Change(prefix, change.added, change.removed, tuple(skipped), change.seconds)


async def remove(prefix: Path, names: Sequence[str], *, base: Path, environ: Mapping[str, str],
                 out: Callable[[str], object] = print) -> Change:
    """``conda remove``: drop the named packages from what the prefix must hold, and solve again."""
    if not is_prefix(prefix):
        raise CondaError(f"{prefix} is not a conda environment; create it with conda create -p {prefix}")
    drop = {_spec_name(split_spec(n)[1]) for n in names}
    with _locked(prefix):
        have = {r.name.normalized for r in installed(prefix)}
        missing = sorted(drop - have)
        if missing:
            raise CondaError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed in "
                             f"{prefix}; conda list -p {prefix} shows what is")
        wanted = {k: v for k, v in requested_specs(prefix).items() if k not in drop}
        return await _apply(prefix, wanted, resolve_channels([], environ), _cache(base), out)


# ---- activation ----

def activation_scripts(prefix: Path, kind: str = "activate") -> list[Path]:
    """The packages' own ``etc/conda/activate.d/*.sh`` (CUDA sets its variables this way)."""
    folder = prefix / "etc" / "conda" / f"{kind}.d"
    return sorted(folder.glob("*.sh")) if folder.is_dir() else []


def _without(path: str, prefix: str | None) -> list[str]:
    parts = [p for p in path.split(os.pathsep) if p]
    if not prefix:
        return parts
    return [p for p in parts if p != os.path.join(prefix, "bin")]


def _env_name(prefix: Path, base: Path) -> str:
    if prefix == base:
        return "base"
    return prefix.name if prefix.parent == base / "envs" else str(prefix)


def activate_env(environ: Mapping[str, str], prefix: Path, base: Path) -> dict[str, str]:
    """The environment after ``conda activate prefix``: the active env's ``bin`` is replaced by the new one,
    ``base/condabin`` stays on PATH so ``conda`` is always found."""
    env = dict(environ)
    parts = _without(env.get("PATH", os.defpath), env.get("CONDA_PREFIX"))
    new_bin, condabin = str(prefix / "bin"), str(base / "condabin")
    parts = [new_bin, *[p for p in parts if p not in (new_bin, condabin)], condabin]
    level = int(env.get("CONDA_SHLVL") or 0)
    env.update({
        "PATH": os.pathsep.join(parts),
        "CONDA_PREFIX": str(prefix),
        "CONDA_DEFAULT_ENV": _env_name(prefix, base),
        "CONDA_PROMPT_MODIFIER": f"({_env_name(prefix, base)}) ",
        "CONDA_SHLVL": str(level if env.get("CONDA_PREFIX") else level + 1),
        "CONDA_EXE": str(base / "bin" / "conda"),
        "CONDA_ENVS_PATH": str(base / "envs"),
        "CONDA_PKGS_DIRS": str(base / "pkgs"),
        "CONDA_ROOT": str(base),
    })
    return env


def deactivate_env(environ: Mapping[str, str], base: Path) -> dict[str, str]:
    """``conda deactivate``: back to base from an env, out of conda from base."""
    current = environ.get("CONDA_PREFIX")
    if current and Path(current) != base:
        return activate_env(environ, base, base)
    env = dict(environ)
    env["PATH"] = os.pathsep.join(_without(env.get("PATH", os.defpath), current))
    for key in ("CONDA_PREFIX", "CONDA_DEFAULT_ENV", "CONDA_PROMPT_MODIFIER"):
        env.pop(key, None)
    env["CONDA_SHLVL"] = "0"
    return env
