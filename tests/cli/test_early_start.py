"""A fresh home's first ``status``/``up``/``ls`` starts the daemon before the CLI loads Typer (the restore of a new
machine begins that much sooner), starts exactly one, and a command line those commands would refuse, or
``--help``, starts nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinokiocloud.cli.entry import starts_daemon
from pinokiocloud.cli.status import NOTHING_INSTALLED
from pinokiocloud.home_lock import lock_holder
from tests.helpers.cli import Cli

pytestmark = pytest.mark.slow

TYPER_WAITS_FOR_THE_DAEMON = """
import os, sys, time
from pathlib import Path
from pinokiocloud.home_lock import lock_holder

home = Path(sys.argv.pop())

class TyperWaits:
    '''Loading Typer waits until a daemon owns the home: the command can only go on if the entry point started
    the daemon before it loaded the CLI (else it gives up after WAIT_S and fails).'''
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            if os.environ.get("NICE_FILE"):
                Path(os.environ["NICE_FILE"]).write_text(str(os.nice(0)))  # this process's priority now
            deadline = time.monotonic() + float(os.environ["WAIT_S"])
            while lock_holder(home) is None:
                if time.monotonic() > deadline:
                    raise SystemExit("typer was loaded before any daemon owned the home")
                time.sleep(0.02)
        return None

sys.meta_path.insert(0, TyperWaits())
sys.argv[0] = "pinokiocloud"
from pinokiocloud.cli.entry import main
main()
"""


def _entry(cli: Cli, *args: str, wait_s: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", TYPER_WAITS_FOR_THE_DAEMON, *args, str(cli.home)],
                          capture_output=True, text=True, env={**cli.env, "WAIT_S": str(wait_s), **env}, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)


def test_status_on_a_fresh_home_starts_one_daemon_before_typer_loads(tmp_path: Path, node_modules: Path) -> None:
    cli = Cli(tmp_path / "pinokio", node_modules)
    try:
        done = _entry(cli, "status", wait_s=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert NOTHING_INSTALLED in done.stdout
        log = (cli.home / "logs" / "daemon.log").read_text()
        assert log.count("answering on") == 1, log
        assert list((cli.home / "logs").glob("start-*.json")) == []  # the start report was taken and removed
    finally:
        cli.close()


def test_help_a_typo_or_another_command_start_no_daemon_early(tmp_path: Path, node_modules: Path) -> None:
    cli = Cli(tmp_path / "pinokio", node_modules)
    try:
        for args in (["status", "--help"], ["statsu"], ["status", "a", "b"], ["up", "--shar"]):
            assert _entry(cli, *args, wait_s=2).returncode != 0  # Typer waited for a daemon that never came
            assert lock_holder(cli.home) is None, args
        assert starts_daemon(["up", "--share", "--json"]) and starts_daemon(["ls"])
        assert not starts_daemon(["logs", "demo"]) and not starts_daemon([])
    finally:
        cli.close()


def test_while_the_daemon_it_started_restores_a_fresh_home_the_cli_yields_the_cpu(tmp_path: Path,
                                                                               node_modules: Path) -> None:
    """The CLI has nothing to do but wait: loading Typer comes second to the restore (a lower priority); a fresh
    home with nothing to restore keeps the CLI's priority as it was."""
    root = tmp_path / "persist"
    root.mkdir()
    first = Cli(tmp_path / "one", node_modules)
    first.env["PINOKIOCLOUD_PERSIST"] = str(root)
    try:
        assert first("status").returncode == 0
    finally:
        first.close()  # its `down` backs the state up on the root
    assert (root / "state" / "pinokiocloud.db").is_file()
    before = os.nice(0)
    for name, persist, lowered in (("two", str(root), True), ("three", "", False)):
        cli = Cli(tmp_path / name, node_modules)
        cli.env["PINOKIOCLOUD_PERSIST"] = persist
        try:
            done = _entry(cli, "status", wait_s=60, NICE_FILE=str(tmp_path / f"{name}.nice"))
            assert done.returncode == 0, done.stdout + done.stderr
            niceness = int((tmp_path / f"{name}.nice").read_text())
            assert niceness == (min(before + 10, 19) if lowered else before), name
        finally:
            cli.close()
