"""The Library page against a real daemon: catalog cards with requirements and fit, search and filters,
the warning before installing an app that needs more GPU than this machine has, and a failed install."""

from __future__ import annotations

from tests.ui.dashboard import Daemon, button, open_page, texts


def _titles(page: str) -> set[str]:
    return {line.split(" ", 2)[2] for line in page.splitlines() if line.startswith("#### ")}


def test_cards_show_the_catalog_with_requirements_and_fit(ui_env: Daemon) -> None:
    at = open_page("library")
    page = texts(at)
    with ui_env.client() as client:
        catalog = client.catalog()["data"]
    assert _titles(page) == {e["title"] for e in catalog}  # the bundled entries and the user file's
    assert "Fixture Web App" in page and "VibeVoice" in page
    assert "GPU: NVIDIA · 640 GB VRAM" in page
    assert "This machine: " in page
    assert "needs 640 GB of GPU memory" in page or "needs an NVIDIA GPU" in page  # the policy's reason
    assert not at.exception


def test_search_and_filters_narrow_the_cards(ui_env: Daemon) -> None:
    at = open_page("library")
    at.text_input(key="library_query").input("bottle").run()
    assert _titles(texts(at)) == {"Fixture Web App"}

    at.text_input(key="library_query").input("").run()
    at.selectbox(key="library_category").select("audio").run()
    audio = _titles(texts(at))
    assert "VibeVoice" in audio and "Fixture Web App" not in audio

    at.selectbox(key="library_category").select("all").run()
    at.multiselect(key="library_tags").select("fixture").run()
    assert _titles(texts(at)) == {"Fixture Web App", "Fixture Huge", "Fixture Gone"}

    at.checkbox(key="library_fit").check().run()
    fitting = _titles(texts(at))
    assert "Fixture Web App" in fitting and "Fixture Huge" not in fitting  # no machine has a 640 GB GPU
    assert not at.exception


def test_installing_an_app_that_needs_more_gpu_warns_first_and_can_go_ahead(ui_env: Daemon) -> None:
    at = open_page("library")
    at.multiselect(key="library_tags").select("huge").run()
    at.button(key="install:fixture-huge").click().run()
    assert any("may not run here" in w.value and "Install anyway?" in w.value for w in at.warning)
    at.button(key="install-cancel:fixture-huge").click().run()
    assert not any("Install anyway?" in w.value for w in at.warning)
    with ui_env.client() as client:
        assert "fixture-huge" not in {a["name"] for a in client.apps()}

    at.button(key="install:fixture-huge").click().run()
    at.button(key="install-anyway:fixture-huge").click().run()
    assert not at.exception
    # the App page of the new app follows, with the install under way or done
    assert at.title[0].value == "Fixture Web App"
    assert at.selectbox(key="app_choice").value == "fixture-huge"
    ui_env.wait("fixture-huge", lambda s: s["state"] == "offline")
    with ui_env.client() as client:
        client.remove("fixture-huge")


def test_a_failed_install_keeps_its_message_and_offers_a_retry(ui_env: Daemon) -> None:
    at = open_page("library")
    at.multiselect(key="library_tags").select("gone").run()
    at.button(key="install:fixture-gone").click().run()
    assert not at.exception
    assert any("Install failed: git could not clone" in e.value for e in at.error)
    retry = button(at, "Retry install")
    retry.click().run()
    assert any("Install failed" in e.value for e in at.error)  # still missing, still explained
    with ui_env.client() as client:
        assert "fixture-gone" not in {a["name"] for a in client.apps()}
