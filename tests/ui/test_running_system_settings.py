"""The Running, System and Settings pages against a real daemon, and the dashboard when no daemon runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.dashboard import Daemon, button, daemon_env, open_page, texts


def test_running_lists_the_live_run_with_its_usage_and_stops_it(ui_env: Daemon) -> None:
    with ui_env.client() as client:
        client.start("demo")
        status = ui_env.wait("demo", lambda s: s["state"] == "online" and bool(s["ready_url"]))
    port = int(status["ready_url"].rsplit(":", 1)[1])
    at = open_page("running")
    page = texts(at)
    assert "**demo** · `start.js`" in page
    assert ":green-badge[idle] daemon" in page
    cells = [m.value for m in at.markdown] + [str(t.value) for t in at.get("text")]
    assert str(port) in "\n".join(cells), cells  # its listening port
    assert any(c.endswith(" %") for c in cells) and any(c.endswith(" MB") or c.endswith(" KB") for c in cells)
    stop = [b for b in at.button if b.label == "Stop"]
    assert len(stop) == 1
    stop[0].click().run()
    assert not at.exception
    ui_env.wait("demo", lambda s: s["state"] == "offline")
    at.run()
    assert "Nothing is running." in texts(at)
    assert at.dataframe, "the runs that ended"


def test_system_shows_the_doctor_report_and_charts_that_grow(ui_env: Daemon) -> None:
    with ui_env.client() as client:
        report = client.system()
    at = open_page("system")
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Platform"] == report["cloud"]["name"]
    assert metrics["System"] == f"{report['facts']['platform']} {report['facts']['arch']}"
    assert set(metrics) == {"Platform", "System", "GPU memory", "Free memory", "Free disk"}
    assert metrics["Free disk"] == f"{report['home_disk']['free_gb']:g} GB"
    shown = [w.value for w in at.warning]
    assert shown == report["warnings"] or (not report["warnings"] and at.success)
    assert len(at.get("vega_lite_chart")) >= 2  # CPU/memory and disk
    assert len(at.session_state["_system_history"]) == 1
    at.run()
    assert len(at.session_state["_system_history"]) == 2  # one more reading per refresh
    assert "Tools" in texts(at) and "Network" in texts(at) and "Disks" in texts(at)
    button(at, "Refresh the report").click().run()
    assert not at.exception


def test_settings_are_saved_in_the_daemon_and_bad_values_are_explained(ui_env: Daemon, tmp_path: Path) -> None:
    persist = tmp_path / "drive"
    persist.mkdir()
    at = open_page("settings")

    def field(kind: str, label: str) -> object:
        return next(w for w in getattr(at, kind) if w.label == label)

    field("text_input", "Hugging Face token").input("hf_abcdefghijklmnop")  # type: ignore[attr-defined]
    field("selectbox", "Default share provider").select("lan")  # type: ignore[attr-defined]
    field("text_input", "Persistent root").input(str(persist))  # type: ignore[attr-defined]
    field("checkbox", "Restore running apps after a daemon restart").uncheck()  # type: ignore[attr-defined]
    button(at, "Save").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Saved."]
    with ui_env.client() as client:
        saved = client.get_settings()
        assert saved == {"autorestore": False, "hf_token": "hf_a…op", "ngrok_authtoken": None,
                         "share_provider": "lan", "share_order": ["lan"], "persist": str(persist),
                         "persist_in_use": False, "restart": "no"}
        assert (ui_env.home / "cache" / "HF_AUTH" / "token").read_text() == "hf_abcdefghijklmnop"
        # the form now shows what is saved, with the token masked
        assert "hf_a…op" in field("text_input", "Hugging Face token").placeholder  # type: ignore[attr-defined]
        assert "next daemon start" in field("text_input", "Persistent root").help  # type: ignore[attr-defined]

        field("text_input", "Persistent root").input("/nowhere/at/all")  # type: ignore[attr-defined]
        button(at, "Save").click().run()
        assert not at.exception
        assert any("/nowhere/at/all is not a folder" in e.value for e in at.error)
        assert client.get_settings()["persist"] == str(persist)
        client.update_settings(autorestore=True, share_provider="", persist="")


@pytest.fixture
def no_daemon(tmp_path: Path, node_modules: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """An environment whose daemon is not running yet (whatever the button starts is stopped afterwards)."""
    env = daemon_env(tmp_path / "pinokio", node_modules)
    for key in ("PINOKIO_HOME", "PINOKIOCLOUD_PORT", "PINOKIOCLOUD_NODE_MODULES"):
        monkeypatch.setenv(key, env[key])
    absent = Daemon(tmp_path / "pinokio", int(env["PINOKIOCLOUD_PORT"]), env)
    yield absent
    absent.stop()


def test_without_a_daemon_the_dashboard_says_so_and_starts_one(no_daemon: Daemon) -> None:
    at = open_page("library")
    assert at.title[0].value == "PinokioCloud"
    assert at.error[0].value.startswith(f"The PinokioCloud daemon is not running at http://127.0.0.1:{no_daemon.port}")
    assert "Traceback" not in texts(at)
    button(at, "Start the daemon").click().run(timeout=90)
    assert not at.exception
    assert at.title[0].value == "Library"
    pid = int((no_daemon.home / "daemon.pid").read_text())
    assert os.path.exists(f"/proc/{pid}")
