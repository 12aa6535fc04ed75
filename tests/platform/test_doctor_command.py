"""``pinokiocloud doctor`` through the real binary: JSON, text, overrides, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.platform.conftest import nvidia_smi_body

BIN = Path(sys.executable).parent / "pinokiocloud"


def doctor(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PINOKIOCLOUD_")}
    environ.update({"PINOKIO_HOME": str(home), **env})
    return subprocess.run([str(BIN), "doctor", *args], capture_output=True, text=True, env=environ, timeout=60,
                          check=False)


def test_json_has_every_section(tmp_path: Path) -> None:
    done = doctor("--json", home=tmp_path / "pinokio", PINOKIOCLOUD_PLATFORM="runpod", RUNPOD_POD_ID="abc123")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) == {"platform", "paths", "gpu", "template", "system", "tools", "requirements", "warnings"}
    assert data["platform"]["id"] == "runpod"
    assert data["platform"]["exposure"]["url_template"] == "https://abc123-{port}.proxy.runpod.net"
    assert data["paths"]["home"]["path"] == str(tmp_path / "pinokio") and data["paths"]["home"]["is_set"]
    assert data["tools"]["git"]["path"] and data["tools"]["node"]["version"]
    assert data["template"]["gpu"] == (data["gpu"]["selected"] or {"name": "none"})["name"]
    assert data["requirements"] is None


def test_unknown_platform_and_broken_nvidia_smi_are_warnings(tmp_path: Path, tool_path: Callable[..., str]) -> None:
    stand_ins = tool_path(nvidia_smi=nvidia_smi_body("nvidia-smi-driver-failed.txt", rc=9))
    done = doctor("--json", home=tmp_path, PINOKIOCLOUD_PLATFORM="azure",
                  PATH=os.pathsep.join([stand_ins, os.environ["PATH"]]))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["platform"]["id"] == "local"
    assert any("PINOKIOCLOUD_PLATFORM='azure'" in w for w in data["warnings"])
    if data["gpu"]["source"] == "none":  # a GPU machine answers through NVML before nvidia-smi is asked
        assert any(w.startswith("nvidia-smi failed (exit 9)") for w in data["warnings"])


def test_text_report_ends_with_warnings_and_the_fit(tmp_path: Path) -> None:
    done = doctor("--need-disk", "100000", home=tmp_path, PINOKIOCLOUD_PLATFORM="kaggle")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Platform   Kaggle (kaggle), detected by PINOKIOCLOUD_PLATFORM=kaggle")
    assert "Fits       NO\n  - needs 100000 GB of disk" in out
    assert "tunnels  NOT allowed here" in out
    assert "\nWarnings\n  ! Kaggle stops sessions" in out


def test_bad_vendor_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = doctor("--need-gpu", "voodoo", home=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[0] == (
        "error: --need-gpu must be one of nvidia, amd, apple, intel, got 'voodoo'")
    assert "Traceback" not in done.stderr
