"""Downloads: every download of every app with a progress bar, its rate and ETA, and a cancel button;
then the ones that ended lately (with their sha256). Refreshes itself every few seconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from pinokiocloud.client import Client
from pinokiocloud.ui import common

if TYPE_CHECKING:
    from pinokiocloud.client import Download


def render() -> None:
    st.title("Downloads")
    _downloads(common.client())


def _name(entry: Download) -> str:
    path = str(entry.get("path") or entry.get("url") or "")
    return path.rsplit("/", 1)[-1].split("?", 1)[0] or str(entry.get("url"))


@st.fragment(run_every=common.LIVE_REFRESH_S)
def _downloads(the_client: Client) -> None:
    with common.shown_errors():
        entries = the_client.downloads()
        live = [e for e in entries if e.get("state") in ("running", "queued")]
        ended = [e for e in entries if e.get("state") not in ("running", "queued")]
        if not live:
            st.info("Nothing is downloading. Downloads a script starts show up here.")
        for entry in live:
            _live(the_client, entry)
        if ended:
            st.subheader("Ended lately")
            st.dataframe([{"file": _name(e), "app": e.get("app") or "–", "state": e.get("state"),
                           "size": common.fmt_bytes(e.get("total") or e.get("bytes")),
                           "sha256": e.get("sha256") or "", "error": e.get("error") or ""}
                          for e in ended], hide_index=True, width="stretch")


def _live(the_client: Client, entry: Download) -> None:
    total = entry.get("total")
    done = int(entry.get("bytes") or 0)
    state = str(entry.get("state"))
    if state == "queued":
        label = f"{_name(entry)} — queued"
    else:
        rate = f"{common.fmt_bytes(float(entry.get('rate_bps') or 0))}/s"
        size = f"{common.fmt_bytes(done)} of {common.fmt_bytes(total)}" if total else common.fmt_bytes(done)
        label = (f"{_name(entry)} — {size}, {rate}, {common.fmt_duration(entry.get('eta_s'))} left"
                 f" ({entry.get('connections') or 1} connections)")
    bar, button = st.columns((8, 1))
    fraction = min(1.0, done / total) if total else 0.0
    bar.progress(fraction, text=f"{label} · {entry.get('app') or ''}")
    if button.button("Cancel", key=f"cancel:{entry.get('id')}"):
        the_client.cancel_download(str(entry.get("id")))
        st.rerun(scope="fragment")


render()
