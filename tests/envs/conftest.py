from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.envs.channel import standard

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The standard local channel, indexed by py-rattler (read-only for tests)."""
    return standard(tmp_path_factory.mktemp("channel") / "local")


def registry_env() -> dict[str, str]:
    """What installs from PyPI need from the machine (certificates, proxies, index settings) plus the tests'
    shared uv cache; uv must never download a Python."""
    env = {k: v for k, v in os.environ.items()
           if "CERT" in k or "PROXY" in k.upper() or k.startswith(("PIP_", "UV_"))}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_CACHE_DIR"] = str(ROOT / ".cache" / "tests" / "uv")
    return env
