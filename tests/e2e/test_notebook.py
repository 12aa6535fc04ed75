"""The one-cell notebook, executed end to end with nbclient in local mode (not on Colab: the cloud-only
cells say so), leaving a running daemon and dashboard that we check and then take down."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "PinokioCloud.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _outputs(nb: nbformat.NotebookNode) -> str:
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", ""))
            data = out.get("data", {})
            text.append(data.get("text/html", "") + data.get("text/plain", ""))
    return "\n".join(text)


def test_the_notebook_runs_all_and_leaves_a_working_dashboard(tmp_path: Path, node_modules: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "pinokio"
    env = {"PINOKIO_HOME": str(home), "PINOKIOCLOUD_PORT": str(_free_port()), "PINOKIOCLOUD_UI_PORT": str(_free_port()),
           "PINOKIOCLOUD_NODE_MODULES": str(node_modules), "PINOKIOCLOUD_NOTEBOOK_SHARE": "0"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    pid = None
    try:
        # run from the repository's notebooks/ folder, as in a user's checkout
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
        out = _outputs(nb)
        assert "already installed from" in out
        assert "not on Google Colab" in out
        assert "PinokioCloud is running" in out and "Passcode:" in out
        assert "APP_ID is empty" in out
        pid = int((home / "daemon.pid").read_text())
        token = (home / "daemon.token").read_text().strip()
        daemon = f"http://127.0.0.1:{env['PINOKIOCLOUD_PORT']}"
        ui = httpx.get(daemon + "/api/ui", headers={"Authorization": f"Bearer {token}"}).json()
        assert ui["running"] is True
        page = httpx.get(ui["token_url"], follow_redirects=True, timeout=30)
        assert page.status_code == 200 and "streamlit" in page.text.lower()
        assert httpx.get(ui["url"], timeout=10).status_code == 401  # the passcode gateway is in front
    finally:
        if pid is None and (home / "daemon.pid").exists():
            pid = int((home / "daemon.pid").read_text())
        if pid is not None and psutil.pid_exists(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                assert time.monotonic() < deadline
                time.sleep(0.1)


def test_up_prints_the_dashboard_and_down_stops_everything(tmp_path: Path, node_modules: Path) -> None:
    import json
    import subprocess
    import sys

    home = tmp_path / "pinokio"
    env = {**os.environ, "PINOKIO_HOME": str(home), "PINOKIOCLOUD_PORT": str(_free_port()),
           "PINOKIOCLOUD_UI_PORT": str(_free_port()), "PINOKIOCLOUD_NODE_MODULES": str(node_modules)}
    binary = str(Path(sys.executable).parent / "pinokiocloud")
    up = subprocess.run([binary, "up", "--json"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert up.returncode == 0, up.stderr
    launched = json.loads(up.stdout)
    assert launched["ui_url"] == f"http://127.0.0.1:{env['PINOKIOCLOUD_UI_PORT']}"
    with httpx.Client(follow_redirects=True, timeout=30) as browser:  # keeps the session cookie
        assert browser.get(launched["ui_url"]).status_code == 401
        assert browser.get(launched["token_url"]).status_code == 200
    pid = int((home / "daemon.pid").read_text())
    ui_procs = [p for p in psutil.Process(pid).children(recursive=True) if "pinokiocloud.ui.server" in " ".join(p.cmdline())]
    assert ui_procs
    down = subprocess.run([binary, "down"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(p.pid) and p.status() != psutil.STATUS_ZOMBIE for p in [psutil.Process(pid), *ui_procs]
              if psutil.pid_exists(p.pid)):
        assert time.monotonic() < deadline, "down did not stop the daemon and the dashboard"
        time.sleep(0.1)
