"""The whole path a user takes, through the real `pinokiocloud` binary and a real daemon: install our
fixture launcher from a git URL, start it, open its web UI, stop it, survive a `kill -9` of the daemon."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinokiocloud.procs.tree import tagged_under
from tests.helpers.cli import REPO, Cli

pytestmark = pytest.mark.slow

FIXTURE = REPO / "tests" / "fixtures" / "launcher"


@pytest.fixture
def launcher_url(tmp_path: Path) -> str:
    """Our fixture launcher published as a git repository (cloned by URL, not copied)."""
    repo = tmp_path / "remote" / "fixture-app"
    shutil.copytree(FIXTURE, repo)
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "fixture launcher"], check=True)
    return f"file://{repo}"


@pytest.fixture
def cli(tmp_path: Path, node_modules: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path / "pinokio", node_modules)
    yield runner
    runner.close()


def _wait_online(cli: Cli, name: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = cli.json("status", name)
        if status["state"] == "online" and status["ready_url"]:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.3)


def test_install_start_open_stop_and_survive_a_daemon_kill(cli: Cli, launcher_url: str) -> None:
    done = cli("install", launcher_url, "--name", "demo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "a Linux machine without NVIDIA" in done.stdout
    assert (cli.home / "api" / "demo" / "app" / "env" / "bin" / "python").exists()
    assert (cli.home / "api" / "demo" / "app" / "installed.txt").read_text() == "linux"

    menu = cli.json("menu", "demo")
    assert [i["text"] for i in menu["menu"]] == ["Start", "Reset"]

    started = cli("start", "demo")
    assert started.returncode == 0, started.stdout + started.stderr
    status = _wait_online(cli, "demo")
    assert status["ready_url"].startswith("http://127.0.0.1:")
    logs = cli.json("logs", "demo", "--tail", "20")["lines"]
    assert any(line.startswith("Running on http://127.0.0.1:") for line in logs)
    again = cli("start", "demo", timeout=30)  # already up: returns at once with the same state
    assert again.returncode == 0 and "demo is online" in again.stdout + again.stderr
    with urllib.request.urlopen(status["ready_url"], timeout=10) as page:
        assert page.status == 200 and b"Fixture Web App" in page.read()
    assert int(status["ready_url"].rsplit(":", 1)[1]) in status["ports"]
    assert [i["text"] for i in cli.json("menu", "demo")["menu"]] == ["Open Web UI", "Terminal"]

    done = cli("share", "demo", "--passcode", "letmein-fixture-77", "--json")  # no tunnel here: exit 1
    shared = json.loads(done.stdout)
    assert done.returncode == 1 and shared["passcode"] == "letmein-fixture-77" and shared["public_url"] is None
    with pytest.raises(urllib.error.HTTPError, match="401"):
        urllib.request.urlopen(shared["local_url"], timeout=10)
    behind = urllib.request.Request(shared["local_url"], headers={"Authorization": f"Bearer {shared['token']}"})
    with urllib.request.urlopen(behind, timeout=10) as page:
        assert b"Fixture Web App" in page.read()
    assert cli.json("status", "demo")["share"]["local_url"] == shared["local_url"]
    assert cli.json("unshare", "demo")["unshared"] is True

    stopped = cli("stop", "demo")
    assert stopped.returncode == 0, stopped.stderr
    assert cli.json("status", "demo")["state"] == "offline"
    assert not tagged_under(cli.home)

    # the daemon dies hard; the next command starts it again and the app comes back
    assert cli("start", "demo", "--detach").returncode == 0
    _wait_online(cli, "demo")
    old_pid = cli.daemon_pid()
    old_app = {p.pid for p in tagged_under(cli.home)}
    assert old_app
    cli.kill_daemon(signal.SIGKILL)  # the app's processes outlive it (as after an OOM kill of the daemon)
    status = _wait_online(cli, "demo")
    assert not old_app & {p.pid for p in tagged_under(cli.home)}  # the orphans were stopped, not duplicated
    assert cli.daemon_pid() != old_pid
    with urllib.request.urlopen(status["ready_url"], timeout=10) as page:
        assert page.status == 200
    runs = cli.json("status", "demo")["runs"]
    assert runs[-1]["state"] == "idle"

    cli.kill_daemon(signal.SIGTERM)  # a clean stop takes the app down with it
    assert not tagged_under(cli.home)


def test_bad_input_through_the_cli(cli: Cli, tmp_path: Path, launcher_url: str) -> None:
    not_launcher = tmp_path / "plain"
    not_launcher.mkdir()
    (not_launcher / "README.md").write_text("not a launcher")
    done = cli("install", str(not_launcher))
    assert done.returncode == 2 and "is not a Pinokio launcher" in done.stderr and "Traceback" not in done.stderr
    assert not (cli.home / "api" / "plain").exists()

    missing = cli("status", "nope")
    assert missing.returncode == 2 and "no app named 'nope' is installed" in missing.stderr

    assert cli("install", launcher_url, "--name", "twice", "--detach").returncode == 0
    again = cli("install", launcher_url, "--name", "twice")
    assert again.returncode == 2 and "already installed" in again.stderr

    bad_answers = tmp_path / "answers.json"
    bad_answers.write_text("{not json")
    done = cli("run", "twice", "install.js", "--answers", str(bad_answers))
    assert done.returncode == 2 and "is not JSON" in done.stderr
