"""My apps: every installed app with its state, the link to open it and Start/Stop, and "Install from a git
URL or folder" for launchers that are not in the catalog.

On a new machine with the same persistent root, the apps being put back are shown first, each with the
daemon's own line ("restoring comfyui: 3.1 of 5.2 GB") and a progress bar, refreshed until they are back;
an app put back by its install flow instead says why.

The install form sends what the user typed to the daemon, which validates it as it does for the CLI
(``POST /api/apps``): a wrong URL or folder is one sentence under the form, and nothing is left installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from pinokiocloud.client import Client
from pinokiocloud.errors import PinokioCloudError
from pinokiocloud.ui import common

SOURCE_KEY = "home_install_source"
NAME_KEY = "home_install_name"
ERROR_KEY = "home_install_error"
BUSY_STATES = frozenset({"installing", "starting"})
# states of an app's restore (GET /api/store) that are still going on
RESTORING = frozenset({"waiting", "extracting", "installing"})


def render() -> None:
    st.title("My apps")
    the_client = common.client()
    with common.shown_errors():
        restore = the_client.request("GET", "/api/store").get("restore") or {}
        if restore:
            live = any(str(e.get("state")) in RESTORING for e in restore.values())
            st.fragment(run_every=common.LIVE_REFRESH_S if live else None)(_restore)(the_client)
        apps = the_client.apps()
        shares = {str(i.get("app")): i for i in the_client.request("GET", "/api/shares")["data"]}
        _apps(the_client, [{**a, "share": shares.get(str(a["name"]))} for a in apps])
        st.divider()
        _install_form(the_client)


def _restore(the_client: Client) -> None:
    """Where the restore of each app stands, as the daemon says it (``restore[name].line``)."""
    with common.shown_errors():
        entries = list((the_client.request("GET", "/api/store").get("restore") or {}).values())
        if not entries:
            return
        going = [e for e in entries if str(e.get("state")) in RESTORING]
        st.subheader("Restoring from the persistent root" if going else "Restored from the persistent root")
        for entry in entries:
            state, line = str(entry.get("state")), str(entry.get("line") or entry.get("name"))
            total, done = int(entry.get("total_bytes") or 0), int(entry.get("done_bytes") or 0)
            if state == "extracting":
                st.progress(min(1.0, done / total) if total else 0.0, text=line)
            elif state in ("waiting", "installing"):
                st.progress(0.0, text=line)
            elif state == "failed":
                st.error(line, icon=":material/error:")
            elif entry.get("reason"):
                st.warning(line, icon=":material/warning:")
            else:
                seconds = entry.get("seconds")
                st.caption(f"{line}" + (f" in {common.fmt_duration(float(seconds))}" if seconds else ""))


def _apps(the_client: Client, apps: Sequence[Mapping[str, Any]]) -> None:
    if not apps:
        st.info("No app is installed yet. Pick one in the Library, or install a launcher from a git URL or a "
                "folder below.", icon=":material/info:")
        st.page_link(common.PAGES["library"], label="Open the Library", icon=":material/apps:")
        return
    st.caption(f"{len(apps)} installed")
    for app in apps:
        _row(the_client, app)


def _row(the_client: Client, app: Mapping[str, Any]) -> None:
    name = str(app["name"])
    state = str(app.get("state") or "unknown")
    with st.container(border=True):
        title, link_col, start_col, open_col = st.columns([4, 4, 1, 1], vertical_alignment="center")
        title.markdown(f"**{name}** {common.state_badge(state)}")
        if app.get("source"):
            title.caption(str(app["source"]))
        url = app.get("ready_url")
        if url and state == "online":
            link = common.link_for(the_client, str(url), (app.get("share") or None))
            link_col.link_button("Open Web UI", link.url, icon=":material/open_in_new:")
            if link.note:
                link_col.caption(link.note)
        elif state in BUSY_STATES:
            link_col.caption(f"{state.capitalize()}…")
        alive = any(r.get("state") in common.ALIVE_RUN_STATES for r in app.get("runs") or [])
        if alive:
            if start_col.button("Stop", key=f"home-stop:{name}", icon=":material/stop:"):
                with st.spinner(f"Stopping {name}…"):
                    the_client.stop(name)
                st.rerun()
        elif start_col.button("Start", key=f"home-start:{name}", icon=":material/play_arrow:", type="primary"):
            with st.spinner(f"Starting {name}…"):
                the_client.start(name)
            common.open_app(name)
        if open_col.button("Details", key=f"home-open:{name}"):
            common.open_app(name)


def _install_form(the_client: Client) -> None:
    st.subheader("Install from a git URL or a folder")
    st.caption("A Pinokio launcher: a git repository (https://…, git@…, file://…) or a folder on this machine "
               "that holds pinokio.js or an install script.")
    with st.form("home-install", border=False):
        source = st.text_input("Git URL or folder", key=SOURCE_KEY,
                               placeholder="https://github.com/you/your-launcher.git or /content/my-launcher")
        name = st.text_input("Name (optional)", key=NAME_KEY, placeholder="default: from the URL or folder")
        submitted = st.form_submit_button("Install", type="primary", icon=":material/download:")
    if submitted:
        _install(the_client, source.strip(), name.strip() or None)
    if st.session_state.get(ERROR_KEY):
        st.error(str(st.session_state[ERROR_KEY]), icon=":material/error:")


def _install(the_client: Client, source: str, name: str | None) -> None:
    """Send the source to the daemon (a folder as its absolute path), then show the new app's page."""
    if not source:
        st.session_state[ERROR_KEY] = "Give a git URL or the path of a launcher folder."
        return
    given = Path(source).expanduser()
    if given.is_absolute() or source.startswith("~"):
        source = str(given)
    try:
        with st.spinner("Getting the launcher…"):
            result = the_client.install(source, name=name, interactive=True)
    except PinokioCloudError as exc:
        st.session_state[ERROR_KEY] = str(exc) + (f" ({exc.hint})" if exc.hint else "")
        return
    st.session_state[ERROR_KEY] = None
    common.open_app(str(result["name"]))


render()
