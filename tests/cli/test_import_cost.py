"""`pinokiocloud status` against a running daemon, as a user runs it: it answers without importing Pydantic
(Typer's coercion of the absent APP is built only for a value, ``cli/lazy_coercion.py``), and the values a user
does pass are still checked the same way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pinokiocloud.cli.status import NOTHING_INSTALLED
from tests.helpers.cli import Cli

pytestmark = pytest.mark.slow

STATUS_REPORTING_PYDANTIC = """
import atexit, sys
atexit.register(lambda: print("pydantic imported:", "pydantic" in sys.modules, file=sys.stderr))
from pinokiocloud.cli.main import main
main(["status"])
"""


def test_status_answers_without_pydantic_and_passed_values_are_still_checked(tmp_path: Path,
                                                                             node_modules: Path) -> None:
    cli = Cli(tmp_path / "pinokio", node_modules)
    try:
        started = cli("status")  # starts the daemon
        assert started.returncode == 0, started.stdout + started.stderr
        done = subprocess.run([sys.executable, "-c", STATUS_REPORTING_PYDANTIC], capture_output=True, text=True,
                              env=cli.env, timeout=60, stdin=subprocess.DEVNULL, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert NOTHING_INSTALLED in done.stdout
        assert "pydantic imported: False" in done.stderr

        wrong = cli("logs", "nope", "--tail", "many")  # refused before the daemon is asked
        assert wrong.returncode == 2
        assert "Invalid value for '--tail'" in wrong.stderr and "integer" in wrong.stderr
        right = cli("logs", "nope", "--tail", "5")  # the number goes through; the daemon answers about the app
        assert right.returncode == 2
        assert "no app named 'nope' is installed" in right.stderr
        assert "Invalid value" not in right.stderr
    finally:
        cli.close()
