"""Every command's exit code, through Typer's ``CliRunner`` (the commands run in this process) against a real
daemon on loopback: 0 when it did what was asked, 2 for the user's mistake (a bad name, a bad flag value, an
app that is not installed: one sentence on stderr, no traceback), 1 when an operation failed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pinokiocloud.cli.main import app
from tests.helpers.cli import Cli, write_launcher

pytestmark = pytest.mark.slow

INSTALL = 'module.exports = { run: [{ method: "fs.write", params: { path: "installed.txt", text: "yes" } }] }'
DONE = 'module.exports = { run: [{ method: "fs.write", params: { path: "ran.txt", text: "yes" } }] }'
FAILS = 'module.exports = { run: [{ method: "fs.read", params: { path: "no-such-file.txt" } }] }'


@dataclass(frozen=True)
class Home:
    cli: Cli
    root: Path
    """Launcher folders and files the cases name (``{root}`` in their arguments)."""


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[Home]:
    """A daemon with ``demo`` installed (a start.js that ends well, a fail.js that fails) and ``doomed``
    (removed by its case), and launchers that install well or fail."""
    root = tmp_path_factory.mktemp("exit-codes")
    cli = Cli(root / "pinokio", node_modules)
    scripts = {"install.js": INSTALL, "start.js": DONE, "fail.js": FAILS}
    for name in ("demo", "doomed"):
        done = cli("install", str(write_launcher(root / name, scripts)), "--name", name)
        assert done.returncode == 0, done.stdout + done.stderr
    write_launcher(root / "fresh", {"install.js": INSTALL, "start.js": DONE})
    write_launcher(root / "broken", {"install.js": FAILS})
    (root / "plain").mkdir()
    (root / "answers.json").write_text("{not json")
    (root / "step.json").write_text('{"run": [{"method": "log", "params": {"text": "hi"}}]}')
    yield Home(cli, root)
    cli.close()


CASES: list[tuple[str, int]] = [
    # the root
    ("version", 0),
    ("--version", 0),
    ("no-such-command", 2),
    ("ls --no-such-flag", 2),
    # looking at apps
    ("ls", 0),
    ("ls --json", 0),
    ("status", 0),
    ("status demo --json", 0),
    ("status nope", 2),
    ("logs demo", 0),
    ("logs demo --tail lots", 2),
    ("logs nope", 2),
    ("menu demo", 0),
    ("menu {root}/fresh", 0),
    ("menu nope", 2),
    ("search", 0),
    ("search demo --json", 0),
    # an app's life
    ("install {root}/fresh --name fresh", 0),
    ("install {root}/fresh --name demo", 2),  # already installed
    ("install {root}/plain", 2),  # not a launcher
    ("install {root}/broken --name broken", 1),  # its install script fails
    ("run demo start.js", 0),
    ("run demo start.js --detach", 0),
    ("run demo fail.js", 1),
    ("run demo nope.js", 2),
    ("run demo start.js --param novalue", 2),
    ("run demo start.js --answers {root}/answers.json", 2),
    ("run nope", 2),
    ("start demo", 0),
    ("start demo --restart sometimes", 2),
    ("start nope", 2),
    ("stop demo", 0),
    ("stop nope", 2),
    ("update demo", 0),
    ("update nope", 2),
    ("reinstall demo", 2),  # no terminal to ask at, no --yes
    ("reinstall demo --yes", 0),
    ("rm doomed", 2),  # no terminal to ask at, no --yes
    ("rm doomed --yes", 0),
    ("rm doomed --yes", 2),  # gone now
    # sharing
    ("share demo", 2),  # not running: nothing to share
    ("share nope", 2),
    ("unshare demo", 0),
    ("unshare nope", 2),
    # the other families
    ("doctor --json", 0),
    ("doctor --need-gpu plasma", 2),
    ("doctor --need-vram -1", 2),
    ("script load {root}/step.json", 0),
    ("script load {root}/missing.json", 2),
    ("downloads", 0),
    ("downloads cancel d999", 2),
    ("store ls", 0),
    ("store du --json", 0),
    ("store gc", 0),
    ("store verify", 0),
    ("cloud status nope", 2),
    ("serve", 2),  # the home has its daemon: a second one refuses
    # last: the daemon goes
    ("down", 0),
    ("down", 0),  # not running: nothing to do
]


@pytest.mark.parametrize(("command", "code"), CASES, ids=[f"{c} -> {k}" for c, k in CASES])
def test_exit_code(home: Home, command: str, code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINOKIOCLOUD_DEBUG", raising=False)
    args = command.format(root=home.root).split()
    env = {k: v for k, v in home.cli.env.items() if os.environ.get(k) != v}
    result = CliRunner().invoke(app, args, env=env)
    shown = f"{command}: exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    assert result.exit_code == code, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown  # no traceback
    if code == 2 and args[0] not in ("serve",):
        assert result.stderr.strip(), shown  # a sentence says what is wrong
