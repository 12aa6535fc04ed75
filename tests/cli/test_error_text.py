"""Error sentences are printed as written: square brackets in a path or a pip extra are not rich markup."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent / "pinokiocloud"


def test_brackets_in_an_error_survive(tmp_path: Path) -> None:
    missing = tmp_path / "app[cloud].js"
    done = subprocess.run([str(BIN), "script", "load", str(missing)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert f"cannot load {missing}" in done.stderr and "Traceback" not in done.stderr
