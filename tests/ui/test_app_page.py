"""The App page against a real daemon: the launcher's menu as buttons (default, params, confirm, links,
nested menus), progress of a run, forms for `input` steps, the web UI's URL, sharing, stop/restart, and a
failed install with its log tail and a retry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.ui.dashboard import Daemon, button, open_page, texts


def _rerun_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 30) -> AppTest:
    """Rerun the page (what its live fragment does in a browser) until ``done`` holds."""
    deadline = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < deadline, texts(at)
        time.sleep(0.2)
        at.run()
        assert not at.exception, at.exception
    return at


def _link_buttons(at: AppTest) -> dict[str, str]:
    return {e.proto.label: e.proto.url for e in at.get("link_button")}


def test_the_menu_becomes_buttons_links_and_nested_menus(ui_env: Daemon) -> None:
    at = open_page("app", selected_app="asker")
    assert at.title[0].value == "Asker"
    assert button(at, "Ask").proto.type == "primary"  # the menu's default item
    assert button(at, "Greet").proto.type == "secondary"
    assert _link_buttons(at) == {"Docs": "https://example.invalid/docs"}
    assert [e.label for e in at.expander] == ["More"]
    assert [b.label for b in at.expander[0].button] == ["Wipe"]

    button(at, "Greet").click().run()  # its params become the script's args
    greeted = ui_env.home / "api" / "asker" / "greeted.txt"
    _rerun_until(at, lambda _: greeted.is_file())
    assert greeted.read_text() == "tester"
    _rerun_until(at, lambda a: "hello tester" in texts(a))  # the log tail


def test_a_confirm_item_asks_first(ui_env: Daemon) -> None:
    answers = ui_env.home / "api" / "asker" / "answers.json"
    answers.write_text("{}")
    at = open_page("app", selected_app="asker")
    button(at, "Wipe").click().run()
    assert [w.value for w in at.warning] == ["Really wipe the answers?"]
    button(at, "Cancel").click().run()
    assert not at.warning and answers.exists()

    button(at, "Wipe").click().run()
    button(at, "Yes").click().run()
    _rerun_until(at, lambda _: not answers.exists())


def test_an_input_step_becomes_a_form_and_the_answers_reach_the_run(ui_env: Daemon) -> None:
    answers = ui_env.home / "api" / "asker" / "answers.json"
    answers.unlink(missing_ok=True)
    at = open_page("app", selected_app="asker")
    button(at, "Ask").click().run()
    _rerun_until(at, lambda a: len(a.get("form")) == 1)
    assert "Tell me about you" in texts(at) and "The dashboard test fills this in." in texts(at)

    def field(kind: str, label: str) -> Any:
        return next(w for w in getattr(at, kind) if w.label == label)

    assert field("selectbox", "Colour").value == "Blue"  # the field's default
    assert field("text_area", "Bio").value == "hi"
    field("text_input", "Name").input("Ada")
    field("text_input", "Secret").input("s3cret")
    field("selectbox", "Colour").select("Red")
    field("checkbox", "I agree").check()
    field("text_area", "Bio").input("hello")
    button(at, "Submit").click().run()
    assert not at.exception

    _rerun_until(at, lambda _: answers.is_file())
    assert json.loads(answers.read_text()) == {"name": "Ada", "secret": "s3cret", "color": "red", "agree": True,
                                               "bio": "hello"}
    _rerun_until(at, lambda a: not a.get("form") and "answered Ada" in texts(a))


def test_a_long_step_shows_progress_and_stop_ends_it(ui_env: Daemon) -> None:
    at = open_page("app", selected_app="asker")
    button(at, "Wait").click().run()
    _rerun_until(at, lambda a: any("wait.js: step 2 of 2" in p.proto.text for p in a.get("progress")))
    assert "shell.run: echo still waiting && sleep 30" in texts(at)  # the current command
    assert "(running)" in button(at, "Wait (running)").label
    button(at, "Stop").click().run()
    ui_env.wait("asker", lambda s: s["state"] == "offline")
    _rerun_until(at, lambda a: not a.get("progress"))


def test_start_open_share_and_stop_the_fixture_web_app(ui_env: Daemon) -> None:
    at = open_page("app", selected_app="demo")
    assert at.title[0].value == "Fixture Web App"
    assert button(at, "Start").proto.type == "primary"
    assert button(at, "Stop").disabled and button(at, "Share").disabled  # nothing runs yet
    button(at, "Start").click().run()
    status = ui_env.wait("demo", lambda s: s["state"] == "online" and bool(s["ready_url"]))
    _rerun_until(at, lambda a: "Open Web UI" in _link_buttons(a))
    assert _link_buttons(at)["Open Web UI"] == status["ready_url"]
    assert f"[{status['ready_url']}]({status['ready_url']})" in texts(at)
    assert ":green-badge[online]" in texts(at)

    at.selectbox(key="share-provider:demo").select("lan").run()
    at.text_input(key="share-passcode:demo").input("quartz-maple-9041").run()
    button(at, "Share").click().run()
    assert not at.exception, at.exception
    page = texts(at)
    assert "**Public URL**" in page and "Provider: lan" in page, page
    assert "quartz-maple-9041" in [c.value for c in at.code]  # the passcode
    assert [img.captions for img in at.get("image")] == [["Scan to open"]]  # the QR code
    button(at, "Stop sharing").click().run()
    assert button(at, "Share") is not None
    with ui_env.client() as client:
        assert client.status("demo")["share"] is None

    button(at, "Restart").click().run()
    ui_env.wait("demo", lambda s: s["state"] == "online" and bool(s["ready_url"]))
    button(at, "Stop").click().run()
    ui_env.wait("demo", lambda s: s["state"] == "offline")
    _rerun_until(at, lambda a: ":gray-badge[offline]" in texts(a) and "Start" in [b.label for b in a.button])


def test_a_failed_install_shows_the_message_the_log_tail_and_a_retry(ui_env: Daemon) -> None:
    at = open_page("app", selected_app="broken")
    assert not at.exception
    error = at.error[0].value
    assert error.startswith("install.js failed:") and "ERROR: the disk quota is exceeded" in error
    assert "downloading the weights" in "\n".join(c.value for c in at.code)  # the last log lines
    assert "Traceback" not in texts(at)
    with ui_env.client() as client:
        before = client.status("broken")["runs"][-1]["key"]
        button(at, "Retry").click().run()
        status = ui_env.wait("broken", lambda s: s["runs"][-1]["key"] != before and s["state"] == "failed")
    assert status["runs"][-1]["path"].endswith("install.js")


def test_the_autorestore_switch_changes_the_app(ui_env: Daemon) -> None:
    at = open_page("app", selected_app="asker")
    at.toggle(key="autorestore:asker").set_value(False).run()
    with ui_env.client() as client:
        assert client.status("asker")["autorestore"] is False
        at.toggle(key="autorestore:asker").set_value(True).run()
        assert client.status("asker")["autorestore"] is True
