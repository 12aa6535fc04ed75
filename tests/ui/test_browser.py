"""The dashboard in a real browser: `streamlit run` serving it, Debian's Chromium driven by Playwright.

A user installs our fixture launcher from the Library, starts it, clicks its "Open Web UI" link and sees
the app's own page; then visits every page, each of which must be interactive within 2 s. Screenshots go
to .cache/tests/artifacts/ui/ (the timings too, as timings.json).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

from pinokiocloud.ui.server import STREAMLIT_OPTIONS
from tests.ui.dashboard import (
    FIXTURE_LAUNCHER,
    REPO,
    UI_APP,
    Daemon,
    daemon_env,
    free_port,
    publish_launcher,
    write_user_catalog,
)

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / ".cache" / "tests" / "artifacts" / "ui"
INTERACTIVE_WITHIN_S = 2.0
FIRST_LOAD_WITHIN_S = 5.0
STREAMLIT_START_S = 60.0


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium (Playwright's own browser download cannot be reached); installed when missing."""
    if not CHROMIUM.exists():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True, timeout=300)
        subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, env=env, capture_output=True,
                       timeout=600)
    return CHROMIUM


@pytest.fixture
def fresh_daemon(tmp_path: Path, node_modules: Path) -> Iterator[Daemon]:
    """A daemon with nothing installed and our fixture launcher in the user catalog."""
    home = tmp_path / "pinokio"
    write_user_catalog(home, publish_launcher(FIXTURE_LAUNCHER, tmp_path / "remote" / "fixture-web"))
    env = daemon_env(home, node_modules)
    daemon = Daemon(home, int(env["PINOKIOCLOUD_PORT"]), env)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
def dashboard_url(fresh_daemon: Daemon, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(UI_APP), "--server.headless=true",
         "--server.address=127.0.0.1", f"--server.port={port}", "--browser.gatherUsageStats=false",
         "--server.fileWatcherType=none"],
        env={**fresh_daemon.env, **STREAMLIT_OPTIONS}, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STREAMLIT_START_S
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=1) as answer:
                    if answer.read() == b"ok":
                        break
            except OSError:
                assert proc.poll() is None, (tmp_path / "streamlit.log").read_text()
                assert time.monotonic() < deadline, "streamlit did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _nav(page: Page, title: str) -> Locator:
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)


def _interactive_within(page: Page, probe: Locator, budget_s: float = 10.0) -> float:
    """Seconds until ``probe`` (a control of the page) is visible and enabled."""
    start = time.monotonic()
    probe.wait_for(state="visible", timeout=budget_s * 1000)
    deadline = start + budget_s
    while not probe.is_enabled():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return time.monotonic() - start


def test_install_start_and_open_the_fixture_app_then_visit_every_page(
        chromium: Path, fresh_daemon: Daemon, dashboard_url: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto(dashboard_url)
            install_form = page.get_by_role("textbox", name="Git URL or folder")
            timings["first load (My apps)"] = _interactive_within(page, install_form, budget_s=30)
            page.screenshot(path=ARTIFACTS / "my-apps-empty.png", full_page=True)
            expect(page.get_by_text("Deploy", exact=True)).to_have_count(0)  # Streamlit's developer chrome
            _nav(page, "Library").click()
            search = page.get_by_role("textbox", name="Search")
            _interactive_within(page, search)
            page.get_by_role("heading", name="Fixture Gone").wait_for()  # the page has drawn its last card
            page.get_by_role("button", name="Install").first.wait_for()
            page.screenshot(path=ARTIFACTS / "library.png", full_page=True)

            # install the fixture launcher from its card
            search.fill("bottle")
            search.press("Enter")
            expect(page.get_by_role("heading", name="VibeVoice")).to_have_count(0)  # the search narrowed the cards
            expect(page.get_by_role("heading", name="Fixture Web App")).to_have_count(1)
            page.get_by_role("button", name="Install", exact=True).click()

            # its App page: the install runs, then the menu offers Start
            start = page.get_by_role("button", name="Start", exact=True)
            start.wait_for(timeout=120_000)
            page.screenshot(path=ARTIFACTS / "app-installed.png", full_page=True)
            start.click()
            open_link = page.get_by_role("link", name="Open Web UI")
            open_link.wait_for(timeout=60_000)
            page.screenshot(path=ARTIFACTS / "app-online.png", full_page=True)
            status = fresh_daemon.wait("fixture-web", lambda s: s["state"] == "online")
            href = open_link.get_attribute("href") or ""
            port = status["ready_url"].rstrip("/").rsplit(":", 1)[1]
            assert href.rstrip("/") == f"http://127.0.0.1:{port}", href  # reachable here, never 0.0.0.0
            with context.expect_page() as opened:
                open_link.click()
            web_app = opened.value
            web_app.get_by_text("Fixture Web App").first.wait_for(timeout=15_000)
            assert web_app.url.rstrip("/") == href.rstrip("/")
            web_app.screenshot(path=ARTIFACTS / "fixture-web-app.png", full_page=True)
            web_app.close()

            # every page is interactive within 2 s of clicking it in the sidebar: the last thing it draws, found on
            # no other page, is there
            probes = {
                "My apps": page.get_by_role("button", name="Details"),
                "Running": page.get_by_role("heading", name="Ended lately"),
                "System": page.get_by_role("heading", name="Tools"),
                "Settings": page.get_by_role("button", name="Save"),
                "Library": page.get_by_role("heading", name="Fixture Gone"),
                "App": page.get_by_role("button", name="Share", exact=True),
            }
            for title, probe in probes.items():
                _nav(page, title).click()
                timings[title] = _interactive_within(page, probe)
                page.screenshot(path=ARTIFACTS / f"page-{title.lower().replace(' ', '-')}.png", full_page=True)
            assert page.get_by_text("Traceback").count() == 0
        finally:
            browser.close()
            (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2))
    slow = {title: round(seconds, 2) for title, seconds in timings.items()
            if title != "first load (My apps)" and seconds > INTERACTIVE_WITHIN_S}
    assert not slow, f"pages slower than {INTERACTIVE_WITHIN_S} s: {slow} (all: {timings})"
    # the very first load also fetches Streamlit's scripts and opens its websocket (about 1.5 s here)
    assert timings["first load (My apps)"] < FIRST_LOAD_WITHIN_S, timings
    with fresh_daemon.client() as client:
        client.stop("fixture-web")



CHATTY_INSTALL = """module.exports = { run: [{ method: "shell.run", params: {
  message: "for i in $(seq 1 300); do echo \\"output line $i of a long install, long enough to need wrapping in a narrow
panel: $(printf 'x%.0s' $(seq 1 150))\\"; done; echo the last line of the install" } }] }"""


def test_install_from_a_folder_in_the_browser_and_the_log_ends_with_the_newest_line(
        chromium: Path, fresh_daemon: Daemon, dashboard_url: str, tmp_path: Path) -> None:
    """My apps' install form with a folder; after 300 lines of output the log panel's last visible line is the
    run's last line, and long lines wrap instead of being cut."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    folder = tmp_path / "chatty"
    folder.mkdir()
    (folder / "install.js").write_text(CHATTY_INSTALL.replace("\n", " "))
    (folder / "pinokio.js").write_text('module.exports = { title: "Chatty", menu: async () => '
                                       '[{ default: true, text: "Install", href: "install.js" }] }')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(dashboard_url)
            source = page.get_by_role("textbox", name="Git URL or folder")
            source.wait_for(timeout=30_000)
            source.fill(str(folder))
            page.get_by_role("button", name="Install").click()
            page.get_by_role("heading", name="Chatty").wait_for(timeout=60_000)  # its App page follows
            fresh_daemon.wait("chatty", lambda s: s["state"] == "offline")
            panel = page.get_by_test_id("stCode").first
            expect(panel).to_contain_text("the last line of the install", timeout=30_000)
            lines = [line for line in panel.inner_text().splitlines() if line.strip()]
            assert lines[-1].strip() == "the last line of the install", lines[-3:]
            box = panel.bounding_box()
            last = panel.get_by_text("the last line of the install").bounding_box()
            assert box is not None and last is not None
            assert box["y"] <= last["y"] and last["y"] + last["height"] <= box["y"] + box["height"] + 1  # visible
            wrapped = panel.get_by_text("output line 300 of a long install").bounding_box()
            assert wrapped is not None and wrapped["width"] <= box["width"]  # wrapped, not cut off to the right
            page.screenshot(path=ARTIFACTS / "app-log-300-lines.png", full_page=True)
            _nav(page, "My apps").click()
            page.get_by_role("button", name="Details").first.wait_for()
            page.screenshot(path=ARTIFACTS / "page-my-apps-installed.png", full_page=True)
            assert page.get_by_text("Traceback").count() == 0
        finally:
            browser.close()
