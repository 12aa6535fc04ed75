"""The one-cell notebook, executed end to end with nbclient in local mode (not on Colab: the cloud-only
cells say so), leaving a running daemon and dashboard that we check and then take down."""

from __future__ import annotations

import html
import os
import re
import signal
import socket
import time
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest
from nbclient import NotebookClient

from pinokiocloud.home_lock import lock_holder

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


APP_START = r"""module.exports = async (kernel) => {
  const port = await kernel.port()
  return { daemon: true, run: [
    { method: "shell.run", params: { message: [`python3 -u -m http.server ${port} --bind 127.0.0.1`],
      on: [{ event: "/Serving HTTP/", done: true }] } },
    { method: "local.set", params: { url: `http://0.0.0.0:${port}` } } ] }
}"""


def test_the_one_cell_notebook_runs_and_its_links_answer(tmp_path: Path, node_modules: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 item 5: one code cell with form fields; in local mode it installs nothing it has (this
    checkout), starts the dashboard, installs and starts the chosen app, and prints links that answer."""
    home = tmp_path / "pinokio"
    app = tmp_path / "tiny-app"
    app.mkdir()
    (app / "pinokio.js").write_text('module.exports = { title: "Tiny", menu: async () => '
                                    '[{ default: true, text: "Start", href: "start.js" }] }')
    (app / "start.js").write_text(APP_START)
    env = {"PINOKIO_HOME": str(home), "PINOKIOCLOUD_PORT": str(_free_port()), "PINOKIOCLOUD_UI_PORT": str(_free_port()),
           "PINOKIOCLOUD_NODE_MODULES": str(node_modules), "PINOKIOCLOUD_NOTEBOOK_SHARE": "0",
           "PINOKIOCLOUD_NOTEBOOK_APP": str(app), "PINOKIOCLOUD_PLATFORM": "local"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 1
    for field in ('APP = ""  #@param', "SHARE = True  #@param", "KEEP_MODELS = False  #@param"):
        assert field in code[0].source  # Colab form fields; persistent storage off by default
    pid = None
    try:
        # run from the repository's notebooks/ folder, as in a user's checkout
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
        out = _outputs(nb)
        assert "Traceback" not in out, out
        assert "PinokioCloud is already installed from" in out
        assert "KEEP_MODELS is off" in out
        assert "PinokioCloud is running" in out and "Passcode:" in out
        assert "Done. Open the dashboard link above" in out, out
        holder = lock_holder(home)
        assert holder is not None
        pid = holder.pid
        link = re.search(r'Open the dashboard: <a href="([^"]+)"', out)
        assert link, out
        page = httpx.get(html.unescape(link.group(1)), follow_redirects=True, timeout=30)
        assert page.status_code == 200 and "streamlit" in page.text.lower()
        opened = re.search(r"tiny-app is online: open (http://127\.0\.0\.1:\d+)", out)
        assert opened, out
        assert httpx.get(opened.group(1), timeout=10).status_code == 200  # the app's printed link answers
    finally:
        if pid is None:
            holder = lock_holder(home)
            pid = holder.pid if holder is not None else None
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
    watched = [psutil.Process(pid), *ui_procs]
    down = subprocess.run([binary, "down"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(p.pid) and p.status() != psutil.STATUS_ZOMBIE for p in watched
              if psutil.pid_exists(p.pid)):
        assert time.monotonic() < deadline, "down did not stop the daemon and the dashboard"
        time.sleep(0.1)
