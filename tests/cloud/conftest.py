"""The real SkyPilot for the cloud tests: this interpreter's when it has it, else a venv of its own.

SkyPilot is the optional ``cloud`` extra, not part of ``dev`` (it brings uvloop, which the daemon's uvicorn
would pick up), so the tests build ``.cache/tests/skypilot-venv`` once with uv (packages from uv's cache or
the package index) and run SkyPilot there, in subprocesses.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKY_VENV = REPO / ".cache" / "tests" / "skypilot-venv"
SKY_SPEC = "skypilot>=0.14"


def _uv() -> str:
    return str(Path(sys.executable).parent / "uv")


@pytest.fixture(scope="session")
def sky_python() -> Path:
    """A Python with SkyPilot and this checkout (editable) installed."""
    if importlib.util.find_spec("sky") is not None:
        return Path(sys.executable)
    python = SKY_VENV / "bin" / "python"
    ready = SKY_VENV / ".ready"
    wanted = SKY_SPEC + " " + hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest() + "\n"
    if not ready.exists() or ready.read_text() != wanted:
        subprocess.run([_uv(), "venv", "-q", "--allow-existing", "--python", sys.executable, str(SKY_VENV)],
                       check=True, timeout=300)
        subprocess.run([_uv(), "pip", "install", "-q", "--python", str(python), SKY_SPEC, "-e", str(REPO)],
                       check=True, timeout=600)
        ready.write_text(wanted)
    return python
