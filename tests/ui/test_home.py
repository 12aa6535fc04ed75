"""My apps and the app page's new controls against a real daemon (issue 17): install from a folder and from a
git URL (a local repository), bad sources refused with one sentence and nothing left behind, Update and
Reinstall, links that a browser can open, and a failed share that says "no public URL" without a QR code."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.ui.dashboard import FIXTURE_LAUNCHER, UI_FIXTURES, Daemon, button, open_page, publish_launcher, texts


def _install_through_the_form(source: str, name: str) -> object:
    at = open_page("home")
    at.text_input(key="home_install_source").input(source)
    at.text_input(key="home_install_name").input(name)
    at.button[[b.label for b in at.button].index("Install")].click().run()
    assert not at.exception, at.exception
    return at


def test_my_apps_lists_every_installed_app_with_its_state(ui_env: Daemon) -> None:
    at = open_page("home")
    page = texts(at)
    assert at.title[0].value == "My apps"
    for name, state in (("demo", "offline"), ("asker", "offline"), ("broken", "failed")):
        assert f"**{name}** :" in page and f"[{state}]" in page
    assert "Install from a git URL or a folder" in page


def test_install_from_a_folder_and_from_a_git_url(ui_env: Daemon, tmp_path: Path) -> None:
    at = _install_through_the_form(str(UI_FIXTURES / "asker"), "asker-copy")
    assert at.selectbox(key="app_choice").value == "asker-copy"  # its App page follows
    url = publish_launcher(FIXTURE_LAUNCHER, tmp_path / "remote" / "from-git")
    at = _install_through_the_form(url, "from-git")
    assert at.selectbox(key="app_choice").value == "from-git"
    ui_env.wait("from-git", lambda s: s["state"] == "offline")
    ui_env.wait("asker-copy", lambda s: s["state"] in ("offline", "installing"))
    home = texts(open_page("home"))
    assert "**from-git** :gray-badge[offline]" in home and "**asker-copy**" in home
    with ui_env.client() as client:
        client.remove("asker-copy")


def test_bad_sources_get_one_sentence_and_leave_nothing(ui_env: Daemon, tmp_path: Path) -> None:
    with ui_env.client() as client:
        before = {a["name"] for a in client.apps()}
    at = _install_through_the_form("relative/folder", "")
    assert any("is not a git URL, a catalog id or an absolute folder path" in e.value for e in at.error)
    at = _install_through_the_form(f"file://{tmp_path}/no-such-repo", "gone")
    assert any("git could not clone" in e.value for e in at.error)
    at = _install_through_the_form(str(tmp_path), "empty")  # a folder without a launcher
    assert any("is not a Pinokio launcher" in e.value for e in at.error)
    with ui_env.client() as client:
        assert {a["name"] for a in client.apps()} == before
    assert not (ui_env.home / "api" / "gone").exists() and not (ui_env.home / "api" / "empty").exists()


def test_update_pulls_the_launcher_and_reinstall_installs_again(ui_env: Daemon, tmp_path: Path) -> None:
    remote = tmp_path / "remote" / "updatable"
    with ui_env.client() as client:
        client.install(publish_launcher(FIXTURE_LAUNCHER, remote), name="updatable")
    ui_env.wait("updatable", lambda s: s["state"] == "offline")
    folder = ui_env.home / "api" / "updatable"
    (remote / "NEWS.md").write_text("second version\n")
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "-C", str(remote)]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "second"], check=True)

    at = open_page("app", selected_app="updatable")
    button(at, "Update").click().run()
    assert not at.exception, at.exception
    assert any("Updated the launcher" in s.value for s in at.success)
    assert (folder / "NEWS.md").read_text() == "second version\n"

    assert (folder / "app" / "env").is_dir()  # the install's venv
    (folder / "app" / "env" / "marker").write_text("made by this install")
    button(at, "Reinstall").click().run()
    assert any("deletes everything updatable's install made" in w.value for w in at.warning)
    button(at, "Reinstall now").click().run()
    assert not at.exception, at.exception
    assert not (folder / "app" / "env" / "marker").exists()  # the environment went
    ui_env.wait("updatable", lambda s: s["state"] == "offline")  # and the install ran again
    assert (folder / "app" / "env").is_dir()
    with ui_env.client() as client:
        client.remove("updatable")


def test_open_web_ui_links_to_127_0_0_1_and_a_failed_share_says_no_public_url(ui_env: Daemon) -> None:
    with ui_env.client() as client:
        client.start("demo")
    status = ui_env.wait("demo", lambda s: s["state"] == "online")
    try:
        at = open_page("app", selected_app="demo")
        links = {b.label: b.proto.url for b in at.get("link_button")}
        port = status["ready_url"].rsplit(":", 1)[1].rstrip("/")
        assert links["Open Web UI"].startswith(f"http://127.0.0.1:{port}")
        assert "0.0.0.0" not in " ".join(links.values())

        at.selectbox(key="share-provider:demo").select("ngrok").run()
        button(at, "Share").click().run()
        assert not at.exception, at.exception
        shown = texts(at)
        assert "**No public URL**: ngrok: NGROK_AUTHTOKEN is not set" in shown
        assert "Public URL" not in shown.replace("No public URL", "")
        assert not at.get("imgs")  # no QR code of a local address
    finally:
        with ui_env.client() as client:
            client.stop_share("demo")
            client.stop("demo")
