"""The App page's "Run on a cloud GPU…" panel, rendered by Streamlit's AppTest: without SkyPilot it says how to
install it; with SkyPilot and no cloud enabled (this machine), "Check clouds" runs SkyPilot's check and says how
to enable one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest


def _panel() -> None:
    from pinokiocloud.ui.views.cloud import cloud_panel

    cloud_panel("demo")


_WITH_SKY = r"""
import sys
from streamlit.testing.v1 import AppTest

at = AppTest.from_string("from pinokiocloud.ui.views.cloud import cloud_panel\ncloud_panel('demo')\n").run(timeout=60)
assert [b.label for b in at.button] == ["Check clouds"], [b.label for b in at.button]
at.button[0].click().run(timeout=300)
print("WARNINGS", [w.value for w in at.warning])
print("ERRORS", [e.value for e in at.error])
"""


def test_without_skypilot_the_panel_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sky", None)  # the import system's own "not installed"
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sky" else _real(name))
    at = AppTest.from_function(_panel).run(timeout=30)
    assert any("pip install skypilot" in c.value for c in at.caption)
    assert not at.button


def _real(name: str) -> object:
    import importlib.machinery

    return importlib.machinery.PathFinder.find_spec(name)


@pytest.mark.slow
def test_with_skypilot_and_no_cloud_the_check_says_how_to_enable_one(tmp_path: Path, sky_python: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINOKIO", "SKYPILOT"))}
    env.update({"HOME": str(tmp_path), "PINOKIO_HOME": str(tmp_path / "pinokio")})
    done = subprocess.run([str(sky_python), "-c", _WITH_SKY], capture_output=True, text=True, timeout=400,
                          check=False, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "No cloud is enabled in SkyPilot" in done.stdout and "sky check" in done.stdout, done.stdout
    assert "ERRORS []" in done.stdout
