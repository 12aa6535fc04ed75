"""A share's passcode need not be on the command line, where every user of the machine can read it (``ps``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import Cli, write_launcher
from tests.reliability.test_daemon_lifecycle import QUICK_INSTALL, SERVER

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(tmp_path: Path, node_modules: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path / "pinokio", node_modules)
    yield runner
    runner.close()


def test_the_share_passcode_comes_from_the_environment(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "web", {"install.js": QUICK_INSTALL, "start.js": SERVER})
    assert cli("install", str(folder), "--name", "web").returncode == 0
    assert cli("start", "web").returncode == 0
    cli.env["PINOKIOCLOUD_SHARE_PASSCODE"] = "granite-otter-5821"
    done = cli("share", "web", "--json")  # no tunnel reaches out from here: exit 1, the gateway still up
    shared = json.loads(done.stdout)
    assert done.returncode == 1 and shared["public_url"] is None
    assert shared["passcode"] == "granite-otter-5821"
    weak = cli("share", "web", "--passcode", "1234")
    assert weak.returncode == 2 and "1234" not in weak.stderr and "Traceback" not in weak.stderr
