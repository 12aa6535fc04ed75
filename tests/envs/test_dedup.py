"""``fs.link {venv}`` (issue 14): identical files of two app venvs become hard links of one copy, the bytes
saved are printed, and a later install into one venv leaves the other unchanged."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinokiocloud.envs.venv import uv_path
from pinokiocloud.kernel.runner import RunState
from tests.envs.conftest import registry_env
from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness


@pytest.fixture
def h(sidecar: SyncSidecar, home: Path) -> Iterator[Harness]:
    harness = Harness(sidecar, home, environ={"PATH": "/usr/bin:/bin", "HOME": str(home)})
    yield harness
    harness.close()


def _venv(where: Path, *packages: str) -> Path:
    """A venv whose packages are real copies (``--link-mode copy``), as pip leaves them."""
    env = {**registry_env(), "PATH": "/usr/bin:/bin", "UV_LINK_MODE": "copy"}
    subprocess.run([uv_path(), "venv", "--quiet", "--seed", "--python", sys.executable, str(where)], env=env,
                   check=True, timeout=120)
    subprocess.run([uv_path(), "pip", "install", "--quiet", "--python", str(where / "bin" / "python"), *packages],
                   env=env, check=True, timeout=300)
    return where


def _six(venv: Path) -> Path:
    return next(venv.glob("lib/python*/site-packages/six.py"))


def _saved(printed: str, venv: Path) -> tuple[int, float]:
    match = re.search(rf"venv {re.escape(str(venv))}: \d+ files, (\d+) share a copy with identical files, ([\d.]+) MB saved",
                      printed)
    assert match, printed
    return int(match.group(1)), float(match.group(2))


@pytest.mark.slow
def test_two_venvs_with_the_same_packages_share_their_files_and_stay_independent(h: Harness) -> None:
    a = _venv(h.app / "a" / "env", "six==1.17.0")
    b = _venv(h.app / "b" / "env", "six==1.17.0")
    assert _six(a).stat().st_ino != _six(b).stat().st_ino
    run = h.run("link.js", """
        module.exports = { run: [
          { method: "fs.link", params: { venv: "a/env" } },
          { method: "fs.link", params: { venv: "b/env" } },
        ] }
    """)
    assert run.state is RunState.DONE, run.error
    printed = h.printed(run)
    first, second = _saved(printed, a), _saved(printed, b)
    assert second[0] > 50 and second[1] > first[1] + 1.0, printed  # pip alone is megabytes
    print(printed)
    assert _six(a).stat().st_ino == _six(b).stat().st_ino
    before = hashlib.sha256(_six(b).read_bytes()).hexdigest()
    # A later install into one venv replaces its files; the other venv's copy is not touched.
    env = {**registry_env(), "PATH": "/usr/bin:/bin", "UV_LINK_MODE": "copy"}
    subprocess.run([uv_path(), "pip", "install", "--quiet", "--python", str(a / "bin" / "python"), "six==1.16.0"],
                   env=env, check=True, timeout=300)
    assert "1.16.0" in _six(a).read_text() and hashlib.sha256(_six(b).read_bytes()).hexdigest() == before
    done = subprocess.run([str(b / "bin" / "python"), "-c", "import six; print(six.__version__)"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1.17.0"
    again = h.run("again.js", 'module.exports = { run: [{ method: "fs.link", params: { venv: "b/env" } }] }')
    assert _saved(h.printed(again), b)[1] == 0.0  # already linked: nothing more is claimed
