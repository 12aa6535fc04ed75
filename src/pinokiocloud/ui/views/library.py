"""Library: the app catalog with search, filters and a fit badge per app, and an install button.

An app that does not fit this machine (GPU, VRAM, disk) gets a warning before it is installed; the user
can go ahead anyway. A failed install keeps its message on the card and the button becomes "Retry".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import streamlit as st

from pinokiocloud.client import Client
from pinokiocloud.errors import PinokioCloudError
from pinokiocloud.platform.policy import Fit
from pinokiocloud.ui import common

if TYPE_CHECKING:
    from pinokiocloud.client import AppStatus, CatalogEntry, CatalogList, MachineReport, SearchHit

CARDS_PER_ROW = 3
CONFIRM_KEY = "library_confirm"
ERRORS_KEY = "library_errors"


def render() -> None:
    st.title("Library")
    the_client = common.client()
    with common.shown_errors():
        # read again on every visit: a user catalog.json edited meanwhile counts without a restart
        catalog = the_client.reload_catalog()
        report = common.system_report(the_client)
        apps = the_client.apps()
        _library(the_client, catalog, report, apps)


def _installed_names(entries: Sequence[CatalogEntry], apps: Sequence[AppStatus]) -> dict[str, str]:
    """Catalog id → the installed app's name, for entries already installed (by id, or by URL)."""
    found: dict[str, str] = {}
    for entry in entries:
        for app in apps:
            if app["name"] == entry["id"] or app.get("source") in (entry["id"], entry["url"]):
                found[entry["id"]] = str(app["name"])
                break
    return found


def _library(the_client: Client, catalog: CatalogList, report: MachineReport, apps: Sequence[AppStatus]) -> None:
    entries = catalog.get("data") or []
    for problem in catalog.get("problems") or []:
        st.warning(f"Catalog problem: {problem}")

    search, category_col, tags_col, fit_col = st.columns([3, 2, 3, 2], vertical_alignment="bottom")
    query = search.text_input("Search", key="library_query", placeholder="voice, image, llm, …")
    categories = sorted({str(e["category"]) for e in entries})
    category = category_col.selectbox("Category", ["all", *categories], key="library_category")
    tags = tags_col.multiselect("Tags", sorted({str(t) for e in entries for t in e["tags"]}), key="library_tags")
    only_fitting = fit_col.checkbox("Fits my GPU and disk", key="library_fit")
    st.caption(common.machine_summary(report))

    fits = {e["id"]: common.fit_of(e, report) for e in entries}
    installed = _installed_names(entries, apps)
    shown = entries
    if query.strip():
        hits = the_client.search(query.strip())["data"]
        by_id = {e["id"]: e for e in entries}
        shown = [by_id[h["id"]] for h in hits if h["source"] == "catalog" and h["id"] in by_id]
        _installed_hits([h for h in hits if h["source"] == "installed"])
    if category != "all":
        shown = [e for e in shown if e["category"] == category]
    if tags:
        shown = [e for e in shown if set(tags) <= set(e["tags"])]
    if only_fitting:
        shown = [e for e in shown if fits[e["id"]].fits]

    st.caption(f"{len(shown)} of {len(entries)} apps")
    if not shown:
        st.info("No app in the catalog matches. Clear the search or the filters, or add your own entry to "
                "PINOKIO_HOME/catalog.json (see docs/catalog.md).")
        return
    for start in range(0, len(shown), CARDS_PER_ROW):
        for column, entry in zip(st.columns(CARDS_PER_ROW), shown[start:start + CARDS_PER_ROW], strict=False):
            with column:
                _card(the_client, entry, fits[entry["id"]], installed.get(entry["id"]), report)


def _installed_hits(hits: Sequence[SearchHit]) -> None:
    if not hits:
        return
    st.markdown("**Installed apps that match**")
    for hit in hits:
        name_col, button_col = st.columns([5, 1], vertical_alignment="center")
        name_col.markdown(f"{hit['title']} (`{hit['id']}`)")
        if button_col.button("Open", key=f"open-installed:{hit['id']}"):
            common.open_app(str(hit["id"]))


def before_install(entry: CatalogEntry, report: MachineReport) -> str:
    """What the app needs that this machine lacks, and what will be installed for it: the tools of its
    ``requires`` bundle (``bundle_tools``, from the daemon's catalog) and a conda env, when the entry says so."""
    have = {str(t.get("name")): bool(t.get("path")) for t in report.get("tools") or []}
    parts: list[str] = []
    bundle = entry.get("bundle")
    tools = [t for t in entry.get("bundle_tools") or [] if isinstance(t, dict)]
    if bundle and tools:
        gpu = common.selected_gpu(report)
        wanted = [t for t in tools if t.get("tool") != "cuda" or (gpu is not None and gpu.name == "nvidia")]
        missing = [str(c) for t in wanted if not t.get("ours") for c in t.get("commands") or []
                   if have.get(str(c)) is False]
        parts.append(f"needs the {bundle!r} tools; " + (
            f"this machine lacks {', '.join(missing)}, installed before its first run (PyPI, conda or apt)"
            if missing else "this machine has them"))
    if entry.get("conda"):
        parts.append("makes its own conda environment (packages from conda-forge, or PINOKIOCLOUD_CONDA_CHANNELS)")
    return "; ".join(parts)


def _card(the_client: Client, entry: CatalogEntry, fit: Fit, installed_as: str | None,
          report: MachineReport) -> None:
    app_id = str(entry["id"])
    errors: dict[str, str] = st.session_state.setdefault(ERRORS_KEY, {})
    with st.container(border=True):
        # a material icon, not the entry's emoji: emoji fonts are missing on many machines
        st.markdown(f"#### :material/deployed_code: {entry['title']}")
        fit_badge = ":green-badge[fits this machine]" if fit.fits else ":orange-badge[may not fit]"
        st.markdown(f":violet-badge[{entry['category']}] :gray-badge[{entry['complexity']}] {fit_badge}")
        st.caption(common.requirements_text(entry))
        before = before_install(entry, report)
        if before:
            st.caption("Before install: " + before)
        st.write(entry.get("description") or "")
        if entry.get("tags"):
            st.caption(" · ".join(f"#{t}" for t in entry["tags"]))
        if not fit.fits:
            st.caption(":material/warning: " + "; ".join(fit.reasons))
        if app_id in errors:
            st.error(f"Install failed: {errors[app_id]}")
        if installed_as is not None:
            if st.button("Open", key=f"open:{app_id}", width="stretch"):
                common.open_app(installed_as)
        elif st.session_state.get(CONFIRM_KEY) == app_id:
            st.warning(f"{entry['title']} may not run here: {'; '.join(fit.reasons)}. Install anyway?")
            yes, no = st.columns(2)
            if yes.button("Install anyway", key=f"install-anyway:{app_id}", type="primary"):
                st.session_state[CONFIRM_KEY] = None
                _install(the_client, entry)
            if no.button("Cancel", key=f"install-cancel:{app_id}"):
                st.session_state[CONFIRM_KEY] = None
                st.rerun()
        elif st.button("Retry install" if app_id in errors else "Install", key=f"install:{app_id}",
                       type="primary", width="stretch"):
            if fit.fits:
                _install(the_client, entry)
            else:
                st.session_state[CONFIRM_KEY] = app_id
                st.rerun()


def _install(the_client: Client, entry: CatalogEntry) -> None:
    """Clone the launcher and start its install flow, then show its App page (progress, questions, logs)."""
    errors: dict[str, str] = st.session_state.setdefault(ERRORS_KEY, {})
    app_id = str(entry["id"])
    try:
        with st.spinner(f"Downloading the {entry['title']} launcher…"):
            result = the_client.install(app_id, interactive=True)
    except PinokioCloudError as exc:
        errors[app_id] = str(exc) + (f" ({exc.hint})" if exc.hint else "")
        st.rerun()
    errors.pop(app_id, None)
    common.open_app(str(result["name"]))


render()
