"""One daemon per home, decided by its lock (issue 11): real daemons and real processes, no mocks.

A second ``serve`` or a slow daemon must never cost a running install its processes; a taken port is named
at once; a daemon killed hard is back by itself (the watchdog), with its apps.
"""

from __future__ import annotations

import base64
import http.cookiejar
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from pinokiocloud.home_lock import lock_holder
from pinokiocloud.procs.tree import tagged_under
from tests.helpers.cli import Cli, write_launcher

pytestmark = pytest.mark.slow

LONG_INSTALL = """
module.exports = { run: [
  { method: "shell.run", params: { message: "sleep 8 && echo installed > installed.txt" } },
] }
"""
SERVER = """
module.exports = async (kernel) => {
  const port = await kernel.port()
  return { daemon: true, run: [
    { method: "shell.run", params: { message: `python3 -m http.server ${port} --bind 127.0.0.1`,
      on: [{ event: "/(http:\\\\/\\\\/[0-9.]+:[0-9]+)/", done: true }] } },
    { method: "local.set", params: { url: "http://127.0.0.1:" + port } },
  ] }
}
"""
QUICK_INSTALL = """
module.exports = { run: [{ method: "shell.run", params: { message: "echo installed > installed.txt" } }] }
"""
DIES_BEFORE_URL = """
module.exports = { daemon: true, run: [
  { method: "shell.run", params: { message: "echo 'Found no NVIDIA driver on your system'; exit 1",
    on: [{ event: "/(http:\\\\/\\\\/[0-9.:]+)/", done: true }] } },
  { method: "local.set", params: { url: "{{input.event[1]}}" } },
] }
"""


@pytest.fixture
def cli(tmp_path: Path, node_modules: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path / "pinokio", node_modules)
    yield runner
    runner.close()


def _sleepers(home: Path) -> list[psutil.Process]:
    return [p for p in tagged_under(home) if p.name() == "sleep"]


def test_a_second_serve_refuses_at_once_and_the_install_goes_on(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "slow", {"install.js": LONG_INSTALL, "start.js": SERVER})
    started = cli("install", str(folder), "--name", "slow", "--detach")
    assert started.returncode == 0, started.stderr
    deadline = time.monotonic() + 30
    while not _sleepers(cli.home):
        assert time.monotonic() < deadline, "the install's process never started"
        time.sleep(0.1)
    working = {p.pid for p in _sleepers(cli.home)}
    owner = cli.daemon_pid()

    began = time.monotonic()
    second = cli("serve", timeout=30)
    took = time.monotonic() - began
    assert second.returncode == 2 and took < 5, (took, second.stderr)
    assert f"already running (pid {owner} at http://127.0.0.1:{cli.port})" in second.stderr
    assert "Traceback" not in second.stderr and "pinokiocloud serve" not in second.stderr

    assert working <= {p.pid for p in _sleepers(cli.home)}  # nothing of the live daemon was touched
    status = cli.wait_state("slow", {"offline", "failed", "crashed"}, timeout=60)
    assert status["state"] == "offline" and status["runs"][-1]["state"] == "done", status
    assert (cli.home / "api" / "slow" / "installed.txt").read_text().strip() == "installed"
    assert cli.daemon_pid() == owner


def test_a_stopped_daemon_is_waited_for_never_duplicated(cli: Cli) -> None:
    assert cli("ls").returncode == 0
    owner = cli.wait_daemon()
    os.kill(owner, signal.SIGSTOP)
    try:
        waiting = cli.popen("ls", "--json")
        time.sleep(5)
        assert waiting.poll() is None  # still waiting for the daemon that owns the home
        assert [p.pid for p in cli.serve_processes()] == [owner]
    finally:
        os.kill(owner, signal.SIGCONT)
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out.strip().startswith("[") and cli.daemon_pid() == owner
    assert [p.pid for p in cli.serve_processes()] == [owner]


def test_a_port_held_by_another_program_is_named_within_seconds(cli: Cli) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cli.port))
        squatter.listen()
        began = time.monotonic()
        done = cli("ls", timeout=60)
        took = time.monotonic() - began
    assert done.returncode == 2, done.stderr
    assert f"port {cli.port} is in use by another program" in done.stderr and "PINOKIOCLOUD_PORT" in done.stderr
    assert f"pid {os.getpid()}" in done.stderr  # who holds it
    assert "Traceback" not in done.stderr and "serve" not in done.stderr.split("hint:")[-1]
    assert took < 3.0, f"took {took:.1f} s"
    assert lock_holder(cli.home) is None and not cli.serve_processes()


def test_two_homes_run_side_by_side(tmp_path: Path, node_modules: Path) -> None:
    first, second = Cli(tmp_path / "one", node_modules), Cli(tmp_path / "two", node_modules)
    try:
        assert first("ls").returncode == 0 and second("ls").returncode == 0
        assert first.wait_daemon() != second.wait_daemon()
    finally:
        first.close()
        second.close()


def test_an_app_that_dies_before_its_url_is_crashed_not_online(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "nogpu", {"install.js": QUICK_INSTALL, "start.js": DIES_BEFORE_URL})
    assert cli("install", str(folder), "--name", "nogpu").returncode == 0
    done = cli("start", "nogpu")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Found no NVIDIA driver on your system" in done.stderr
    assert "online" not in done.stderr and "{{" not in done.stderr
    status = cli.json("status", "nogpu")
    assert status["state"] == "crashed" and status["ready_url"] is None
    assert "exited with code 1 before it was ready" in status["error"]
    listed = {a["name"]: a["state"] for a in cli.json("ls")}
    assert listed["nogpu"] == "crashed"

    old = cli.wait_daemon()  # a restarted daemon still tells what happened, and why
    os.kill(old, signal.SIGKILL)
    cli.wait_daemon(other_than=old, timeout=30)
    again = cli.json("status", "nogpu")
    assert again["state"] == "crashed" and "before it was ready" in again["error"]
    assert again["runs"] and again["runs"][-1]["state"] == "crashed" and again["runs"][-1]["exit_code"] == 1


def test_a_step_killed_from_outside_fails_the_install(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "oom", {"install.js": LONG_INSTALL, "start.js": SERVER})
    follow = cli.popen("install", str(folder), "--name", "oom")
    deadline = time.monotonic() + 30
    while not _sleepers(cli.home):
        assert time.monotonic() < deadline and follow.poll() is None, "the install's process never started"
        time.sleep(0.1)
    for proc in _sleepers(cli.home):
        proc.kill()  # as the OOM killer would
    out, err = follow.communicate(timeout=60)
    assert follow.returncode == 1, out + err
    assert "killed by signal 9 (SIGKILL): out of memory?" in err
    assert "is installed" not in err
    status = cli.json("status", "oom")
    assert status["state"] == "failed" and "signal 9" in status["error"]
    assert not (cli.home / "api" / "oom" / "installed.txt").exists()


def test_a_daemon_killed_hard_is_back_by_itself_with_its_apps(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "web", {"install.js": QUICK_INSTALL, "start.js": SERVER})
    assert cli("install", str(folder), "--name", "web").returncode == 0
    assert cli("start", "web").returncode == 0
    cli.wait_state("web", {"online"})
    old = cli.wait_daemon()
    os.kill(old, signal.SIGKILL)
    began = time.monotonic()
    new = cli.wait_daemon(other_than=old, timeout=30)  # no command was run: the watchdog did it
    assert time.monotonic() - began < 15
    status = cli.wait_state("web", {"online"})  # restored (autorestore is on by default)
    assert status["ready_url"].startswith("http://127.0.0.1:") and status["runs"][-1]["state"] == "idle"
    with socket.create_connection(("127.0.0.1", int(status["ready_url"].rsplit(":", 1)[1])), timeout=5):
        pass
    assert [p.pid for p in cli.serve_processes()] == [new]


def _dashboard_answers(url: str, headers: dict[str, str]) -> int:
    """The status a fresh browser gets (cookies kept across the token link's redirect)."""
    request = urllib.request.Request(url, headers=headers)
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        with browser.open(request, timeout=10) as page:
            return int(page.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def test_up_survives_a_kill_9_with_its_apps_and_the_same_dashboard_passcode(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "web", {"install.js": QUICK_INSTALL, "start.js": SERVER})
    assert cli("install", str(folder), "--name", "web").returncode == 0
    assert cli("start", "web").returncode == 0
    first = cli.json("up")
    passcode, ui = first["passcode"], first["ui_url"]
    assert passcode and len(passcode) >= 16
    basic = {"Authorization": "Basic " + base64.b64encode(f"owner:{passcode}".encode()).decode()}
    assert _dashboard_answers(ui, basic) == 200
    assert _dashboard_answers(ui, {}) == 401

    old = cli.wait_daemon()
    os.kill(old, signal.SIGKILL)
    cli.wait_daemon(other_than=old, timeout=30)  # the watchdog, not a command, brought it back
    deadline = time.monotonic() + 90
    while _dashboard_answers(ui, basic) != 200:  # the dashboard is back, with the same passcode
        assert time.monotonic() < deadline, "the dashboard did not come back with its passcode"
        time.sleep(0.5)
    assert _dashboard_answers(ui, {}) == 401
    assert cli.wait_state("web", {"online"})["ready_url"]

    again = cli.json("up")  # the passcode is kept (as a hash: it is not shown again) and the link still works
    assert again["passcode"] is None and _dashboard_answers(again["token_url"], {}) == 200
    renewed = cli.json("up", "--new-passcode")
    assert renewed["passcode"] and renewed["passcode"] != passcode
    assert _dashboard_answers(ui, basic) == 401
    assert (cli.home / "pinokiocloud.db").stat().st_mode & 0o777 == 0o600
    assert passcode.encode() not in (cli.home / "pinokiocloud.db").read_bytes()


CRASHES_ONCE = """
module.exports = async (kernel) => {
  const port = await kernel.port()
  return { daemon: true, run: [
    { method: "shell.run", params: {
      message: `if [ -f crashed.txt ]; then python3 -m http.server ${port} --bind 127.0.0.1; else touch crashed.txt; echo "ready on http://127.0.0.1:${port}"; sleep 1; echo 'CUDA out of memory'; exit 3; fi`,
      on: [{ event: "/(http:\\\\/\\\\/[0-9.]+:[0-9]+)/", done: true }] } },
    { method: "local.set", params: { url: "http://127.0.0.1:" + port } },
  ] }
}
"""


@pytest.mark.parametrize("mode", ["no", "on-failure"])
def test_the_restart_setting_decides_whether_a_crashed_server_comes_back(cli: Cli, tmp_path: Path,
                                                                          mode: str) -> None:
    folder = write_launcher(tmp_path / "flaky", {"install.js": QUICK_INSTALL, "start.js": CRASHES_ONCE})
    assert cli("install", str(folder), "--name", "flaky").returncode == 0
    assert cli("start", "flaky", "--restart", mode).returncode == 0
    assert cli.json("status", "flaky")["restart"] == mode
    if mode == "no":
        status = cli.wait_state("flaky", {"crashed"})
        time.sleep(3)  # long enough for a restart that should not happen
        status = cli.json("status", "flaky")
        assert status["state"] == "crashed" and "CUDA out of memory" in status["error"]
        assert status["runs"][-1]["restarts"] == 0
    else:
        deadline = time.monotonic() + 60
        while True:
            status = cli.json("status", "flaky")
            if status["state"] == "online" and status["runs"][-1]["restarts"] == 1:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", int(status["ready_url"].rsplit(":", 1)[1])), timeout=5):
            pass


def test_a_bad_restart_value_is_one_sentence_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "web", {"install.js": QUICK_INSTALL, "start.js": SERVER})
    assert cli("install", str(folder), "--name", "web").returncode == 0
    done = cli("start", "web", "--restart", "sometimes")
    assert done.returncode == 2 and "restart must be 'no' or 'on-failure'" in done.stderr
    assert "Traceback" not in done.stderr and cli.json("status", "web")["state"] == "offline"


def test_a_corrupt_state_file_does_not_keep_the_daemon_down(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "web", {"install.js": QUICK_INSTALL, "start.js": SERVER})
    assert cli("install", str(folder), "--name", "web").returncode == 0
    cli.close()
    (cli.home / "pinokiocloud.db").write_bytes(b"\x00garbage after a full disk\x00" * 512)
    for leftover in ("pinokiocloud.db-wal", "pinokiocloud.db-shm"):
        (cli.home / leftover).unlink(missing_ok=True)
    began = time.monotonic()
    listed = cli.json("ls")
    assert time.monotonic() - began < 30
    assert [a["name"] for a in listed] == ["web"]
    log = (cli.home / "logs" / "daemon.log").read_text()
    assert "was corrupt" in log and "lost:" in log


def test_an_install_whose_started_script_failed_is_not_reported_installed(cli: Cli, tmp_path: Path) -> None:
    # the trial: ComfyUI's install.js starts hf.json (a model download) that fails; the install said
    # "comfy is installed" with exit 0 while `ls` said failed
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    install = """
module.exports = { run: [
  { method: "script.start", params: { uri: "download.js" } },
  { method: "shell.run", params: { message: "echo installed > installed.txt" } },
] }
"""
    download = f"""
module.exports = {{ run: [
  {{ method: "fs.download", params: {{ uri: "http://127.0.0.1:{closed}/model.safetensors", dir: "models" }} }},
] }}
"""
    folder = write_launcher(tmp_path / "models", {"install.js": install, "download.js": download,
                                                    "start.js": SERVER})
    done = cli("install", str(folder), "--name", "models")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "finished, but download.js, which it started, failed" in done.stderr
    assert f"127.0.0.1:{closed}" in done.stderr and "is installed" not in done.stdout + done.stderr
    assert {a["name"]: a["state"] for a in cli.json("ls")}["models"] == "failed"
