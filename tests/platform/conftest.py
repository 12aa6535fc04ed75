"""Fake machines for platform tests: a folder that stands for ``/`` and stand-in GPU tools on a PATH."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def make_root(base: Path, dirs: tuple[str, ...] = (), files: Mapping[str, str] | None = None) -> Path:
    """A filesystem root with the given absolute folders and files inside ``base``."""
    root = base / "root"
    root.mkdir(exist_ok=True)
    for d in dirs:
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        path = root / name.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def mountinfo(*mounts: tuple[str, str]) -> str:
    """``/proc/self/mountinfo`` lines for (mount point, filesystem type) pairs, after the root overlay."""
    lines = ["1 0 0:31 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w"]
    for i, (point, fs_type) in enumerate(mounts, start=2):
        lines.append(f"{i} 1 0:{40 + i} / {point.replace(' ', chr(92) + '040')} rw,nosuid,nodev,relatime "
                     f"shared:{i} - {fs_type} source{i} rw")
    return "\n".join(lines) + "\n"


def write_tool(bin_dir: Path, name: str, body: str) -> Path:
    """A stand-in executable (``sh``) named like the real tool."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / name
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(0o755)
    return exe


def nvidia_smi_body(gpus: str, apps: str | None = None, rc: int = 0) -> str:
    """Answers the GPU query with the recorded file ``gpus`` (exit ``rc``) and the apps query with ``apps``."""
    g = shlex.quote(str(DATA / gpus))
    a = shlex.quote(str(DATA / apps)) if apps else "/dev/null"
    return f'case "$*" in\n  *query-compute-apps*) cat {a};;\n  *) cat {g}; exit {rc};;\nesac'


@pytest.fixture
def tool_path(tmp_path: Path) -> Callable[..., str]:
    """``tool_path(nvidia_smi=body, rocm_smi=body)`` → a PATH holding only those stand-ins, so a real
    ``nvidia-smi`` on a GPU machine cannot answer instead (the stand-ins themselves run with the real PATH)."""

    def build(**tools: str) -> str:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        for name, body in tools.items():
            write_tool(bin_dir, name.replace("_", "-"), body)
        return str(bin_dir)

    return build
