"""The real ``pinokiocloud`` against a real daemon, with stdout a pipe (as in a notebook ``!`` cell or a script):
plain text without escape codes or Python reprs, data on stdout, honest sharing, did-you-mean, a ``rm`` that
refuses to delete without ``-y``, failed runs' errors in ``logs``, update and reinstall (issue 17)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import Cli, write_launcher

pytestmark = pytest.mark.slow

ESCAPE = re.compile(r"\x1b|\x9b")
REPR = re.compile(r"\{'|': |\[\{|\bNone\b|\bTrue\b|\bFalse\b")
"""What a Python dict/list repr looks like in output."""

INSTALL = r"""module.exports = { run: [{ method: "shell.run", params: { message: [
  "printf '\\033[32mgreen text\\033[0m\\n'",
  "printf 'fetch  10%%\\rfetch  50%%\\rfetch 100%%\\n'",
  "touch installed.txt made-by-install.txt"] } }] }"""
START = r"""module.exports = async (kernel) => {
  const port = await kernel.port()
  return { daemon: true, run: [
    { method: "shell.run", params: { message: [`python3 -u -m http.server ${port} --bind 127.0.0.1`],
      on: [{ event: "/Serving HTTP/", done: true }] } },
    { method: "local.set", params: { url: `http://0.0.0.0:${port}` } } ] }
}"""
FAILING = """module.exports = { run: [{ method: "shell.run", params: { message: "echo about to fail" } },
  { method: "fs.read", params: { path: "no-such-file.txt" } }] }"""


def _plain(done: subprocess.CompletedProcess[str]) -> str:
    both = done.stdout + done.stderr
    assert not ESCAPE.search(both), both
    assert "Traceback" not in both, both
    return done.stdout


def _git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "-C", str(folder), *args],
                   check=True, capture_output=True)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[Cli]:
    root = tmp_path_factory.mktemp("cli-output")
    the_cli = Cli(root / "pinokio", node_modules)
    the_cli.env.pop("NGROK_AUTHTOKEN", None)
    the_cli.env["PINOKIOCLOUD_PLATFORM"] = "local"
    yield the_cli
    the_cli.close()


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A launcher published as a git repository (so update has something to pull)."""
    folder = write_launcher(tmp_path_factory.mktemp("remote") / "web", {"install.js": INSTALL, "start.js": START})
    (folder / ".gitignore").write_text("installed.txt\n")
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True)
    _git(folder, "add", ".")
    _git(folder, "commit", "-qm", "first")
    return folder


def test_install_follows_the_output_as_plain_lines(cli: Cli, launcher: Path) -> None:
    done = cli("install", f"file://{launcher}", "--name", "web")
    assert done.returncode == 0, done.stderr
    out = _plain(done)
    assert "green text" in out
    lines = [line for line in out.splitlines() if not line.startswith("[shell]")]  # not the commands' echo
    assert "fetch 100%" in lines and not any("10%" in line for line in lines)  # the last redraw only
    assert "web is installed; start it with `pinokiocloud start web`" in out
    assert "installing web" in done.stderr and "installing web" not in out  # progress on stderr


def test_start_status_and_menu_read_as_sentences_and_tables(cli: Cli) -> None:
    started = cli("start", "web")
    assert started.returncode == 0, started.stderr
    out = _plain(started)
    port = cli.json("status", "web")["ready_url"].rsplit(":", 1)[1]
    # the link we give is never the 0.0.0.0 the app set (the run's own output above it may show that)
    assert out.splitlines()[-1] == f"web is online: open http://127.0.0.1:{port}"

    status = _plain(cli("status", "web"))
    assert not REPR.search(status), status
    assert re.search(r"state\s+online", status) and f"http://127.0.0.1:{port}" in status
    assert "0.0.0.0" not in status
    menu = _plain(cli("menu", "web"))
    assert not REPR.search(menu), menu
    assert "- Start (default) [running]: start.js" in menu


def test_a_failed_share_says_no_public_url_with_a_reason_and_exits_1(cli: Cli) -> None:
    done = cli("share", "web", "--provider", "ngrok", "--qr")
    assert done.returncode == 1, done.stdout + done.stderr
    _plain(done)
    assert "no public URL for web: ngrok: NGROK_AUTHTOKEN is not set" in done.stderr
    assert "set it to your free ngrok account's authtoken" in done.stderr
    assert "█" not in done.stdout + done.stderr and "▀" not in done.stdout + done.stderr  # no QR code
    assert "is public at" not in done.stdout

    as_json = cli("share", "web", "--provider", "ngrok", "--json")
    assert as_json.returncode == 1
    info = json.loads(as_json.stdout)
    assert info["public_url"] is None and info["reason"].startswith("ngrok: NGROK_AUTHTOKEN")
    assert "qr_png_base64" not in info
    cli("unshare", "web")


def test_typos_get_a_suggestion(cli: Cli) -> None:
    done = cli("status", "wbe")
    assert done.returncode == 2
    assert "no app named 'wbe' is installed" in done.stderr and "did you mean 'web'?" in done.stderr
    script = cli("run", "web", "strat.js")
    assert script.returncode == 2 and "did you mean 'start.js'" in script.stderr


def test_update_pulls_the_launcher_and_reinstall_starts_from_a_clean_folder(cli: Cli, launcher: Path) -> None:
    refused = cli("update", "web")
    assert refused.returncode == 2 and "web is running; stop it first" in refused.stderr
    assert cli("stop", "web").returncode == 0
    (launcher / "README.md").write_text("new in the second commit\n")
    (launcher / "update.js").write_text('module.exports = { run: [{ method: "shell.run", params: '
                                        '{ message: "echo updating the app" } }] }')
    _git(launcher, "add", ".")
    _git(launcher, "commit", "-qm", "second")
    done = cli("update", "web")
    assert done.returncode == 0, done.stderr
    folder = Path(cli.json("status", "web")["path"])
    assert (folder / "README.md").read_text() == "new in the second commit\n"
    assert "updated web's launcher" in done.stderr and "updating the app" in _plain(done)

    (folder / "app-env").mkdir()  # what an install leaves: a venv, the app's code
    refused = cli("reinstall", "web")
    assert refused.returncode == 2 and "--yes" in refused.stderr and (folder / "app-env").is_dir()
    again = cli("reinstall", "web", "--yes")
    assert again.returncode == 0, again.stderr
    assert not (folder / "app-env").exists()
    assert (folder / "made-by-install.txt").is_file()  # the install ran again
    assert "web is installed again" in _plain(again)


def test_logs_keep_a_failed_runs_error(cli: Cli, tmp_path: Path) -> None:
    folder = write_launcher(tmp_path / "failing", {"install.js": FAILING})
    done = cli("install", str(folder), "--name", "failing")
    assert done.returncode == 1
    logs = _plain(cli("logs", "failing"))
    assert "about to fail" in logs
    assert re.search(r"\[install\.js failed: .+\]", logs), logs


def test_rm_refuses_without_yes_when_there_is_no_terminal(cli: Cli) -> None:
    done = cli("rm", "failing")
    assert done.returncode == 2
    assert "add --yes (-y) to go ahead" in done.stderr and "Traceback" not in done.stderr
    assert "failing" in {a["name"] for a in cli.json("ls")}
    removed = cli("rm", "failing", "-y")
    assert removed.returncode == 0 and _plain(removed) == "removed failing and its folder\n"
    assert "failing" not in {a["name"] for a in cli.json("ls")}


def test_up_prints_its_link_and_passcode_on_stdout(cli: Cli) -> None:
    done = cli("up", "--new-passcode", timeout=180)
    assert done.returncode == 0, done.stderr
    out = _plain(done)
    link = re.search(r"^dashboard: (http://127\.0\.0\.1:\d+/\S+)$", out, re.M)
    passcode = re.search(r"^passcode:  (\S+)$", out, re.M)
    assert link and passcode, out
    again = json.loads(cli("up", "--json").stdout)
    assert again["best_url"] == again["token_url"] == link.group(1)


def test_up_share_without_a_working_tunnel_exits_1_and_shows_no_public_url(cli: Cli) -> None:
    # the helper's ssh target is a closed port on 127.0.0.1: the only provider fails at once
    done = cli("up", "--share", timeout=180)
    assert done.returncode == 1, done.stdout + done.stderr
    _plain(done)
    assert "no public URL: ssh:" in done.stderr
    assert "dashboard: http://127.0.0.1:" in done.stdout  # the local dashboard still works, named as local
    assert "public" not in done.stdout


def test_version_and_help_for_people(cli: Cli) -> None:
    version = cli("--version")
    assert version.returncode == 0 and re.fullmatch(r"pinokiocloud \S+\n", version.stdout)
    helped = cli("run", "--help")
    assert "<bool>" not in helped.stdout and "<list[str]>" not in helped.stdout and "<str>" not in helped.stdout
    assert "--detach" in helped.stdout


def test_downloads_of_a_run_show_as_plain_progress_lines(cli: Cli, tmp_path: Path) -> None:
    """A run's download events (issue 15's render_progress) reach a non-terminal as plain lines on stderr."""
    from tests.helpers.http_server import LocalHTTPServer

    server = LocalHTTPServer().start()
    try:
        url = server.add("/model.bin", b"m" * 300_000)
        folder = write_launcher(tmp_path / "downloader", {"install.js": (
            f'module.exports = {{ run: [{{ method: "fs.download", params: {{ uri: "{url}", dir: "models" }} }}] }}')})
        done = cli("install", str(folder), "--name", "downloader")
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    _plain(done)
    assert re.search(r"^d\d+ model\.bin done 100\.0% ", done.stderr, re.M), done.stderr
    cli("rm", "downloader", "-y")
