"""Secrets stay where they belong: the ngrok token reaches no app, launcher or dashboard process; share
passcodes and tokens show only on the share's own endpoint, never in listings or log files."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil

from tests.security.conftest import ENV_NGROK_TOKEN, Running

SETTINGS_NGROK_TOKEN = "ngrok-token-from-the-settings-4c2a"
PASSCODE = "kept-out-of-logs-93x"


def _app_env(running: Running) -> str:
    dump = running.daemon.home / "api" / "envdump" / "env.txt"
    dump.unlink(missing_ok=True)
    assert running.api("POST", "/api/apps/envdump/run", json={}).status_code in (200, 201)
    deadline = time.monotonic() + 60
    while not dump.is_file() or "PATH=" not in dump.read_text():
        assert time.monotonic() < deadline, "the app's shell never wrote its environment"
        time.sleep(0.1)
    return dump.read_text()


def test_the_ngrok_token_reaches_no_app_shell_launcher_or_dashboard(running: Running) -> None:
    assert running.daemon.proc is not None
    shell_env = _app_env(running)
    assert "HF_TOKEN_PATH=" in shell_env  # the dump is an app shell's real environment
    assert ENV_NGROK_TOKEN not in shell_env and "NGROK_AUTHTOKEN" not in shell_env
    assert running.api("PATCH", "/api/settings", json={"ngrok_authtoken": SETTINGS_NGROK_TOKEN}).status_code == 200
    shell_env = _app_env(running)
    assert SETTINGS_NGROK_TOKEN not in shell_env and "NGROK_AUTHTOKEN" not in shell_env
    children = psutil.Process(running.daemon.proc.pid).children(recursive=True)
    names = {p.name() for p in children}
    assert "node" in names and any("pinokiocloud.ui.server" in p.cmdline() for p in children)  # sidecar, dashboard
    for child in children:
        try:
            environ = child.environ()
        except psutil.Error:
            continue
        assert "NGROK_AUTHTOKEN" not in environ, child.cmdline()
        assert SETTINGS_NGROK_TOKEN not in str(environ) and ENV_NGROK_TOKEN not in str(environ)


def _share_web(running: Running) -> dict[str, object]:
    assert running.api("POST", "/api/apps/web/start").status_code in (200, 201)
    deadline = time.monotonic() + 60
    while running.api("GET", "/api/apps/web").json()["state"] != "online":
        assert time.monotonic() < deadline, "the web app never came online"
        time.sleep(0.1)
    answer = running.api("POST", "/api/apps/web/share", json={"passcode": PASSCODE})
    assert answer.status_code == 200, answer.text
    shared: dict[str, object] = answer.json()
    return shared


def test_passcodes_and_tokens_show_only_on_the_share_endpoint_and_never_in_logs(running: Running) -> None:
    shared = _share_web(running)
    token = str(shared["token"])
    assert shared["passcode"] == PASSCODE and token in str(shared["token_url"])  # the owner asked for it
    gateway = str(shared["local_url"])
    assert httpx.get(gateway, auth=("any", PASSCODE), timeout=10).status_code == 200
    assert httpx.get(str(shared["token_url"]), timeout=10).status_code == 303  # a token link, as a visitor uses it
    listing = running.api("GET", "/api/shares").json()["data"]
    [web] = [s for s in listing if s["app"] == "web"]
    assert web["passcode"] == web["token"] == web["token_url"] == "***"
    assert PASSCODE not in str(listing) and token not in str(listing)
    again = running.api("GET", "/api/apps/web/share").json()
    assert again["passcode"] == PASSCODE and again["token"] == token
    logs = [*running.daemon.home.joinpath("logs").rglob("*.log"), running.daemon.home / "serve.log"]
    assert any(p.name == "web.access.log" for p in logs)  # the visits above were logged
    for log in logs:
        text = log.read_text(errors="replace")
        for secret in (PASSCODE, token, running.token, running.ui["passcode"]):
            assert secret not in text, f"{secret[:4]}… is in {log}"
    running.api("DELETE", "/api/apps/web/share")


def test_the_dashboard_secret_path_is_not_listed(running: Running) -> None:
    shared = running.api("POST", "/api/ui/share").json()
    listing = running.api("GET", "/api/shares").json()["data"]
    [dashboard] = [s for s in listing if s["app"] == shared["app"]]
    assert dashboard["target_url"] == "***" and dashboard["passcode"] == "***"
    path = Path(str(shared["target_url"]).split("/", 3)[-1])
    assert str(path) and str(path) not in str(listing)


def test_the_dashboard_link_and_the_api_token_open_only_their_own_door(running: Running) -> None:
    ui_port = int(running.daemon.env["PINOKIOCLOUD_UI_PORT"])
    link_token = str(running.ui["token_url"]).split("token=", 1)[1]
    assert link_token != running.token and running.token not in str(running.ui)
    assert httpx.get(f"http://127.0.0.1:{ui_port}/?token={running.token}", timeout=10).status_code == 401
    assert httpx.get(str(running.ui["token_url"]), timeout=10).status_code == 303  # the link itself logs in
    assert httpx.get(f"{running.url}/api/apps", headers={"Authorization": f"Bearer {link_token}"},
                     timeout=10).status_code == 401
