"""Running: every live run with its state, CPU, RAM, GPU memory, ports and uptime, and a stop button;
then the runs that ended lately. Refreshes itself every few seconds."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import streamlit as st

from pinokiocloud.client import Client
from pinokiocloud.errors import UserError
from pinokiocloud.ui import common

if TYPE_CHECKING:
    from pinokiocloud.client import AppStatus, RunSummary, RunUsage

RECENT_RUNS = 20
COLUMNS = (3, 2, 1, 1, 1, 1, 2, 1, 1)
HEADERS = ("App / script", "State", "CPU", "RAM", "GPU mem", "Uptime", "Ports", "Step", "")


def render() -> None:
    st.title("Running")
    _runs(common.client())


@st.fragment(run_every=common.LIVE_REFRESH_S)
def _runs(the_client: Client) -> None:
    with common.shown_errors():
        runs = the_client.runs()
        apps = the_client.apps()
        usages = {str(r["key"]): usage for r in runs if r.get("state") in common.ALIVE_RUN_STATES
                  and (usage := _usage(the_client, str(r["key"]))) is not None}
        live = [r for r in runs if str(r["key"]) in usages]
        ended = sorted((r for r in runs if str(r["key"]) not in usages),
                       key=lambda r: float(r["ended_at"] or r["started_at"] or 0), reverse=True)
        if live:
            _live_table(the_client, live, usages, apps)
        else:
            st.info("Nothing is running. Start an app from its page.")
        if ended:
            st.subheader("Ended lately")
            st.dataframe([{"app": common.app_of_run(str(r.get("path")), apps) or "–",
                           "script": str(r.get("path") or "").rsplit("/", 1)[-1],
                           "state": r.get("state"), "error": r.get("error") or "",
                           "ran for": _ran_for(r)}
                          for r in ended[:RECENT_RUNS]], hide_index=True, width="stretch")


def _ran_for(run: RunSummary) -> str:
    ended_at = run["ended_at"]
    return common.fmt_duration(ended_at - run["started_at"]) if ended_at and run["started_at"] else "–"


def _usage(the_client: Client, key: str) -> RunUsage | None:
    """The run's usage, or None when the daemon has no such live run (an old record that says "idle")."""
    try:
        return the_client.run_usage(key)
    except UserError:
        return None


def _live_table(the_client: Client, live: Sequence[RunSummary], usages: Mapping[str, RunUsage],
                apps: Sequence[AppStatus]) -> None:
    for column, header in zip(st.columns(COLUMNS), HEADERS, strict=True):
        column.markdown(f"**{header}**")
    now = time.time()
    for run in live:
        key = str(run["key"])
        usage = usages[key]
        app = common.app_of_run(str(run.get("path")), apps)
        script = str(run.get("path") or "").rsplit("/", 1)[-1]
        cells = st.columns(COLUMNS, vertical_alignment="center")
        cells[0].markdown(f"**{app or '–'}** · `{script}`")
        cells[1].markdown(common.state_badge(str(run.get("state"))) + (" daemon" if run.get("daemon") else ""))
        cells[2].write(f"{float(usage.get('cpu_percent') or 0):.0f} %")
        cells[3].write(common.fmt_bytes(usage.get("rss_bytes")))
        gpu_mb = usage.get("gpu_memory_mb")
        cells[4].write("–" if gpu_mb is None else f"{gpu_mb:.0f} MB")
        cells[5].write(common.fmt_duration(now - float(run.get("started_at") or now)))
        cells[6].write(", ".join(str(p) for p in usage.get("ports") or []) or "–")
        total = int(run.get("total") or 0)
        cells[7].write(f"{min(int(run.get('step') or 0) + 1, total)}/{total}" if total else "–")
        if cells[8].button("Stop", key=f"stop-run:{key}"):
            the_client.stop_run(key)
            st.rerun()


render()
