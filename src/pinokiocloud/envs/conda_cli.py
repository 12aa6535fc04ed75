"""The ``conda`` command of app shells: the forms launchers type, over ``envs.conda`` (py-rattler).

``install [-y] [-c CH]... SPEC...``, ``update``, ``create -p|-n``, ``remove``, ``list``, ``env list``,
``run -p|-n CMD``, ``info [--base|--envs|--json]``, ``activate``/``deactivate`` (through the shell function of
``shell.bash hook``), ``clean``, ``--version``. ``conda install conda=X`` keeps this command and says so
(docs/compat.md). A failure prints one sentence and exits 1; a usage mistake exits 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from pinokiocloud.envs import conda

__all__ = ["COMPAT_VERSION", "main"]

COMPAT_VERSION = "25.5.1"
"""The conda release whose command forms this one follows (FaceFusion pins it)."""
_IGNORED_FLAGS = {"-q", "--quiet", "--freeze-installed", "--no-update-deps", "--update-deps", "-v", "--verbose",
                  "--no-pin", "--copy", "--no-shortcuts", "--strict-channel-priority", "--all"}
_IGNORED_WITH_VALUE = {"--solver", "--repodata-fn", "--channel-priority"}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


def _say(text: str) -> None:
    print(text, flush=True)


def _fail(text: str, code: int = 1) -> int:
    print(f"conda error: {text}", file=sys.stderr, flush=True)
    return code


def _target(args: argparse.Namespace, base: Path, environ: Mapping[str, str]) -> Path:
    if getattr(args, "prefix", None):
        return Path(args.prefix).expanduser().resolve()
    if getattr(args, "name", None):
        return base if args.name == "base" else base / "envs" / args.name
    active = environ.get("CONDA_PREFIX")
    return Path(active) if active else base


def _specs(args: argparse.Namespace) -> list[str]:
    specs = [s for s in args.specs if s]
    for file in args.file or []:
        try:
            lines = Path(file).read_text().splitlines()
        except OSError as exc:
            raise conda.CondaError(f"cannot read the spec file {file}: {exc.strerror}") from exc
        specs += [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()
                  and not line.startswith("@")]
    return specs


def _strip_ignored(argv: list[str]) -> tuple[list[str], list[str]]:
    kept: list[str] = []
    ignored: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            ignored[-1] += f" {arg}"
            continue
        name = arg.split("=", 1)[0]
        if name in _IGNORED_WITH_VALUE:
            ignored.append(arg)
            skip = "=" not in arg
        elif arg in _IGNORED_FLAGS:
            ignored.append(arg)
        else:
            kept.append(arg)
    return kept, ignored


def _change_parser(prog: str) -> _Parser:
    p = _Parser(prog=f"conda {prog}", add_help=False)
    p.add_argument("specs", nargs="*")
    p.add_argument("-y", "--yes", action="store_true")
    p.add_argument("-c", "--channel", action="append", default=[])
    p.add_argument("--override-channels", action="store_true")
    p.add_argument("-p", "--prefix")
    p.add_argument("-n", "--name")
    p.add_argument("--file", action="append")
    p.add_argument("--dry-run", "-d", action="store_true")
    return p


def _print_change(change: conda.Change, verb: str) -> None:
    for spec in change.skipped:
        _say(f"[conda] {spec}: not installed; this conda is PinokioCloud's own command over py-rattler and keeps "
             "working as it is (docs/compat.md)")
    if change.added or change.removed:
        _say(f"[conda] {verb} {change.prefix}: {len(change.added)} added or changed, {len(change.removed)} "
             f"removed in {change.seconds:.1f} s")
    elif not change.skipped:
        _say(f"[conda] {change.prefix}: all requested packages already installed")


async def _install(base: Path, argv: list[str], environ: Mapping[str, str], verb: str) -> int:
    argv, ignored = _strip_ignored(argv)
    update_all = "--all" in ignored or "--update-all" in argv
    argv = [a for a in argv if a != "--update-all"]
    args = _change_parser(verb).parse_args(argv)
    target = _target(args, base, environ)
    specs = _specs(args)
    if verb == "create":
        if not (args.prefix or args.name):
            raise _UsageError("conda create needs -p PATH or -n NAME")
        if conda.is_prefix(target) and conda.installed(target) and not specs:
            _say(f"[conda] {target} exists already")
            return 0
    elif verb == "install" and not specs:
        raise _UsageError("conda install needs at least one package spec, e.g. conda install -y ffmpeg")
    elif verb == "update" and not specs and not update_all:
        raise _UsageError("conda update needs package names or --all")
    if verb != "create" and not conda.is_prefix(target):
        return _fail(f"{target} is not a conda environment; create it with conda create -p {target}")
    if args.dry_run:
        _say(f"[conda] dry run: would {verb} {' '.join(specs) or 'nothing'} in {target}")
        return 0
    change = await conda.install(target, specs, base=base, environ=environ, channels=args.channel,
                                 override_channels=args.override_channels, update=verb == "update",
                                 out=_say)
    if verb == "create":
        conda.register_env(base, target)
    _print_change(change, {"create": "created", "update": "updated"}.get(verb, "installed into"))
    return 0


async def _remove(base: Path, argv: list[str], environ: Mapping[str, str]) -> int:
    argv, _ = _strip_ignored(argv)
    p = _change_parser("remove")
    p.add_argument("--all", action="store_true", dest="everything")
    args = p.parse_args(argv)
    target = _target(args, base, environ)
    if args.everything:
        if target == base:
            return _fail("the base environment cannot be removed; remove packages from it by name")
        shutil.rmtree(target, ignore_errors=True)
        _say(f"[conda] removed the environment {target}")
        return 0
    if not args.specs:
        raise _UsageError("conda remove needs package names (or --all with -p/-n)")
    change = await conda.remove(target, args.specs, base=base, environ=environ, out=_say)
    _print_change(change, "removed from")
    return 0


def _list(base: Path, argv: list[str], environ: Mapping[str, str]) -> int:
    p = _Parser(prog="conda list", add_help=False)
    p.add_argument("pattern", nargs="?")
    p.add_argument("-p", "--prefix")
    p.add_argument("-n", "--name")
    p.add_argument("--json", action="store_true")
    p.add_argument("--explicit", action="store_true")
    args = p.parse_args(argv)
    target = _target(args, base, environ)
    if not conda.is_prefix(target):
        return _fail(f"{target} is not a conda environment")
    records = [r for r in conda.installed(target) if not args.pattern or args.pattern in r.name.normalized]
    if args.json:
        _say(json.dumps([{"name": r.name.normalized, "version": str(r.version), "build_string": str(r.build),
                          "channel": str(r.channel or "")} for r in records], indent=1))
        return 0
    if args.explicit:
        _say("@EXPLICIT")
        for r in records:
            _say(str(r.url))
        return 0
    _say(f"# packages in environment at {target}:\n#\n# {'Name':<26}{'Version':<16}{'Build':<20}Channel")
    for r in records:
        _say(f"{r.name.normalized:<28}{r.version!s:<16}{r.build!s:<20}{r.channel or ''}")
    pending = conda.pending_specs(target)
    if pending is not None:
        _say(f"# an install of {' '.join(pending.values())} was interrupted; the next conda install finishes it")
    return 0


def _envs(base: Path, environ: Mapping[str, str], as_json: bool) -> int:
    found = conda.env_list(base)
    if as_json:
        _say(json.dumps({"envs": [str(p) for p in found]}, indent=1))
        return 0
    active = environ.get("CONDA_PREFIX")
    _say("# conda environments:\n#")
    for prefix in found:
        name = "base" if prefix == base else (prefix.name if prefix.parent == base / "envs" else "")
        _say(f"{name:<20}{'*' if active and Path(active) == prefix else ' '} {prefix}")
    return 0


def _info(base: Path, argv: list[str], environ: Mapping[str, str]) -> int:
    p = _Parser(prog="conda info", add_help=False)
    p.add_argument("--base", action="store_true")
    p.add_argument("-e", "--envs", action="store_true")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.base:
        _say(str(base))
        return 0
    if args.envs:
        return _envs(base, environ, args.json)
    from rattler import Platform

    info = {"conda_version": COMPAT_VERSION, "implementation": f"PinokioCloud over py-rattler {_rattler_version()}",
            "root_prefix": str(base), "conda_prefix": str(base), "active_prefix": environ.get("CONDA_PREFIX"),
            "channels": conda.configured_channels(environ), "envs": [str(e) for e in conda.env_list(base)],
            "platform": str(Platform.current()), "pkgs_dirs": [str(base / "pkgs")],
            "envs_dirs": [str(base / "envs")]}
    if args.json:
        _say(json.dumps(info, indent=1))
    else:
        for key, value in info.items():
            shown = ", ".join(value) if isinstance(value, list) else value
            _say(f"{key:>18} : {shown}")
    return 0


def _rattler_version() -> str:
    from importlib.metadata import version

    return version("py-rattler")


def _export_lines(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    lines = [f"unset {k}" for k in old if k.startswith("CONDA_") and k not in new]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in new.items() if old.get(k) != v]
    return lines


def _shell(base: Path, argv: list[str], environ: Mapping[str, str]) -> int:
    """``shell.bash hook|activate X|deactivate|reactivate``: bash text for the ``conda`` function to eval."""
    if not argv or argv[0] == "hook":
        sys.stdout.write(conda.hook_script(base))
        return 0
    verb, rest = argv[0], [a for a in argv[1:] if a not in ("--stack", "--no-stack")]
    lines: list[str] = []
    current = environ.get("CONDA_PREFIX")
    if current:
        lines += [f". {shlex.quote(str(s))}" for s in conda.activation_scripts(Path(current), "deactivate")]
    if verb == "activate":
        where = rest[0] if rest else "base"
        target = (base if where == "base" else base / "envs" / where
                  if "/" not in where and not where.startswith(".") else Path(where).expanduser().resolve())
        if not conda.is_prefix(target):
            return _fail(f"could not find conda environment: {where}; create it with conda create "
                         f"{'-p' if '/' in where else '-n'} {where}")
        new = conda.activate_env(environ, target, base)
        lines += _export_lines(environ, new)
        lines += [f". {shlex.quote(str(s))}" for s in conda.activation_scripts(target)]
    elif verb == "deactivate":
        new = conda.deactivate_env(environ, base)
        lines += _export_lines(environ, new)
        if new.get("CONDA_PREFIX"):
            lines += [f". {shlex.quote(str(s))}" for s in conda.activation_scripts(Path(new["CONDA_PREFIX"]))]
    elif verb == "reactivate":
        lines = ["hash -r"]
    else:
        raise _UsageError(f"conda shell.bash {verb} is not a command; use hook, activate or deactivate")
    sys.stdout.write("\n".join([*lines, "hash -r"]) + "\n")
    return 0


def _run(base: Path, argv: list[str], environ: Mapping[str, str]) -> int:
    p = _Parser(prog="conda run", add_help=False)
    p.add_argument("-p", "--prefix")
    p.add_argument("-n", "--name")
    p.add_argument("--no-capture-output", "--live-stream", action="store_true")
    p.add_argument("--cwd")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if not args.command:
        raise _UsageError("conda run needs a command, e.g. conda run -p ./env python -V")
    target = _target(args, base, environ)
    if not conda.is_prefix(target):
        return _fail(f"{target} is not a conda environment; create it with conda create -p {target}")
    env = conda.activate_env(environ, target, base)
    scripts = conda.activation_scripts(target)
    if args.cwd:
        os.chdir(args.cwd)
    if scripts:
        sources = " ; ".join(f". {shlex.quote(str(s))}" for s in scripts)
        os.execvpe("bash", ["bash", "--noprofile", "--norc", "-c", f'{sources} ; exec "$@"', "conda-run",
                            *args.command], env)
    exe = shutil.which(args.command[0], path=env["PATH"]) or args.command[0]
    os.execve(exe, args.command, env)  # replaces this process, as conda run does
    return 0  # pragma: no cover


def _clean(base: Path) -> int:
    cache = base / "pkgs"
    size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.is_dir() else 0
    shutil.rmtree(cache, ignore_errors=True)
    _say(f"[conda] removed the package cache {cache} ({size / 1e6:.1f} MB)")
    return 0


USAGE = ("usage: conda install|update|create|remove|list|env list|run|info|activate|deactivate|clean|--version "
         "(PinokioCloud's conda over py-rattler; docs/compat.md)")


def dispatch(base: Path, argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        _say(USAGE)
        return 0 if args else 2
    verb, rest = args[0], args[1:]
    if verb in ("--version", "-V"):
        _say(f"conda {COMPAT_VERSION} (PinokioCloud's conda command on py-rattler {_rattler_version()})")
        return 0
    if verb in ("install", "update", "upgrade", "create"):
        return asyncio.run(_install(base, rest, environ, "update" if verb == "upgrade" else verb))
    if verb in ("remove", "uninstall"):
        return asyncio.run(_remove(base, rest, environ))
    if verb == "list":
        return _list(base, rest, environ)
    if verb == "env":
        sub = rest[0] if rest else ""
        if sub == "list":
            return _envs(base, environ, "--json" in rest)
        if sub == "remove":
            return asyncio.run(_remove(base, [*rest[1:], "--all"], environ))
        raise _UsageError(f"conda env {sub} is not supported here; use conda create -p PATH SPEC... instead")
    if verb == "info":
        return _info(base, rest, environ)
    if verb.startswith("shell."):
        return _shell(base, rest, environ)
    if verb == "run":
        return _run(base, rest, environ)
    if verb == "clean":
        return _clean(base)
    if verb in ("activate", "deactivate"):
        return _fail(f"conda {verb} changes the calling shell: run eval \"$(conda shell.bash hook)\" first "
                     "(PinokioCloud's app shells already have it)", 2)
    if verb in ("init", "config"):
        _say(f"[conda] conda {verb} ignored: PinokioCloud's app shells set conda up themselves, and channels come "
             f"from {conda.CHANNELS_ENV}")
        return 0
    raise _UsageError(f"conda {verb} is not supported here; {USAGE}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--base":
        return _fail("run through the conda command of an app shell (missing --base)", 2)
    base = Path(args[1])
    try:
        return dispatch(base, args[2:], os.environ)
    except _UsageError as exc:
        return _fail(f"{exc}", 2)
    except conda.CondaError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted; the next conda install into this environment finishes what was started", 130)


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # py-rattler 0.28's runtime threads can crash while the interpreter shuts down (a segfault after the
    # work is done and written); leave without the teardown, so the exit code is the command's own.
    os._exit(status)
