"""App: one installed app — its ``pinokio.js`` menu as buttons, install/run progress with a live log tail,
forms for ``input`` steps, its URL, sharing, and stop/restart.

The live part (progress, log tail) is a fragment that refreshes itself while a run is alive; when the
app's state changes (a run ends, a question comes, the web UI comes up) it reruns the whole page so the
menu and the form follow.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import streamlit as st
from typing_extensions import TypedDict

from pinokiocloud.client import Client
from pinokiocloud.errors import PinokioCloudError, UserError
from pinokiocloud.ui import common
from pinokiocloud.ui.jsonread import obj, objs
from pinokiocloud.ui.links import share_failure
from pinokiocloud.ui.views.cloud import cloud_panel

if TYPE_CHECKING:
    from pinokiocloud.client import AppStatus, Menu, MenuItem, RunEvent, RunSummary, RunUsage, ShareInfo

CHOICE_KEY = "app_choice"
CONFIRM_KEY = "app_confirm"
EVENTS_KEY = "_app_run_events"
SHARES_KEY = "_app_shares"
NOTICE_KEY = "_app_notice"
SHARE_PROVIDERS = ("cloudflare", "ngrok", "localtunnel", "ssh", "gradio", "bore", "platform", "lan")
# events that mean a run went past the step that asked a question
PROGRESS_EVENTS = frozenset({"step", "result", "error", "stop", "skip"})
COMMAND_CHARS = 300
LOG_KEPT_LINES = 5000  # lines of the latest run in the "Whole log" panel (its copy button copies them all)
SHARE_POLL_S = 0.5


def render() -> None:
    the_client = common.client()
    st.session_state[SHARES_KEY] = {}
    with common.shown_errors():
        apps = the_client.apps()
        if not apps:
            st.title("App")
            st.info("No app is installed yet. Pick one in the Library.")
            st.page_link(common.PAGES["library"], label="Open the Library", icon=":material/apps:")
            return
        name = _choose(apps)
        _app(the_client, name, next(a for a in apps if a["name"] == name))


def _remember_choice() -> None:
    st.session_state[common.SELECTED_APP_KEY] = st.session_state[CHOICE_KEY]


def _choose(apps: Sequence[AppStatus]) -> str:
    names = [str(a["name"]) for a in apps]
    wanted = st.session_state.get(common.SELECTED_APP_KEY)
    st.session_state[CHOICE_KEY] = wanted if wanted in names else names[0]
    choice = str(st.selectbox("App", names, key=CHOICE_KEY, on_change=_remember_choice))
    st.session_state[common.SELECTED_APP_KEY] = choice
    return choice


# ---- what a run is doing: its events, read incrementally ----


# (no docstrings in this page script's classes: Streamlit's magic would print them)

class _Tracker(TypedDict):
    # what one run's events said so far (kept in the session: each page run reads only the new ones)
    after: int
    step: RunEvent | None
    input: RunEvent | None
    progress_seq: int  # the last event that means the run went past a question


class _Progress(NamedTuple):
    step: RunEvent | None
    input: RunEvent | None  # the question the run waits on now


@dataclass(frozen=True)
class _Question:
    run_key: str
    event: RunEvent  # the run's `input` event


def _run_progress(the_client: Client, key: str) -> _Progress:
    """The run's current step event and the question it waits on, from the events not seen yet."""
    trackers: dict[str, _Tracker] = st.session_state.setdefault(EVENTS_KEY, {})
    tracker = trackers.setdefault(key, {"after": 0, "step": None, "input": None, "progress_seq": 0})
    for event in the_client.run_events(key, after=tracker["after"]):
        seq = int(event.get("seq") or 0)
        tracker["after"] = max(tracker["after"], seq)
        if event["type"] == "input":
            tracker["input"] = event
        if event["type"] in PROGRESS_EVENTS:
            tracker["progress_seq"] = seq
        if event["type"] == "step":
            tracker["step"] = event
    waiting = tracker["input"] if tracker["input"] and tracker["input"]["seq"] > tracker["progress_seq"] else None
    return _Progress(tracker["step"], waiting)


def _command(step_event: RunEvent | None) -> str:
    """The step being run, as a user reads it: ``shell.run: uv pip install …``."""
    if not step_event:
        return ""
    rpc = obj(obj(step_event.get("data")).get("rpc"))
    params = obj(rpc.get("params"))
    detail = params.get("message") or params.get("uri") or params.get("path") or params.get("text") or ""
    if isinstance(detail, list):
        detail = " && ".join(str(d) for d in detail)
    text = f"{rpc.get('method') or 'step'}: {detail}" if detail else str(rpc.get("method") or "")
    return text if len(text) <= COMMAND_CHARS else text[:COMMAND_CHARS] + "…"


def _alive(status: AppStatus) -> list[RunSummary]:
    return [r for r in status.get("runs") or [] if r.get("state") in common.ALIVE_RUN_STATES]


def _signature(status: AppStatus, questions: Sequence[_Question]) -> tuple[object, ...]:
    """What the static parts of the page depend on; when it changes the whole page reruns."""
    return (status.get("state"), status.get("ready_url"), tuple(r["key"] for r in _alive(status)),
            tuple(q.event["seq"] for q in questions))


def _status(the_client: Client, name: str) -> AppStatus:
    """The app's entry of ``GET /api/apps``: state, runs, URL. (``GET /api/apps/{name}`` also measures usage
    and probes the web UI, which takes about a second for a running app: too slow to poll.)"""
    for app in the_client.apps():
        if app["name"] == name:
            return app
    return the_client.status(name)  # raises the daemon's "no app named …" error (or: installed just now)


def _questions(the_client: Client, status: AppStatus) -> list[_Question]:
    found = []
    for run in _alive(status):
        waiting = _run_progress(the_client, run["key"]).input
        if waiting is not None:
            found.append(_Question(run["key"], waiting))
    return found


# ---- the page ----


def _app(the_client: Client, name: str, status: AppStatus) -> None:
    menu: Menu | None = None
    menu_error: PinokioCloudError | None = None
    try:
        menu = the_client.menu(name)
    except PinokioCloudError as exc:  # a broken pinokio.js still leaves logs, stop and sharing usable
        menu_error = exc
    meta = obj(menu.get("meta")) if menu is not None else {}
    st.title(str(meta.get("title") or name))
    source = f" · from `{status['source']}`" if status.get("source") else ""
    st.markdown(f"{common.state_badge(status.get('state'))} `{name}`{source}")
    if meta.get("description"):
        st.caption(str(meta["description"]))

    questions = _questions(the_client, status)
    main, side = st.columns([3, 2], gap="large")
    with main:
        _failure(the_client, name, status)
        for question in questions:
            _input_form(the_client, question)
        st.subheader("Menu")
        if menu_error is not None:
            common.show_error(menu_error)
        elif menu is not None:
            _menu(the_client, name, menu.get("menu") or [])
        busy = bool(_alive(status))
        st.fragment(_live, run_every=common.LIVE_REFRESH_S if busy else None)(
            the_client, name, _signature(status, questions))
    with side:
        _url_and_controls(the_client, name, status)
        _share(the_client, name, status)
        cloud_panel(name)


def _failure(the_client: Client, name: str, status: AppStatus) -> None:
    """A failed install/run or a crashed server: the message, the last log lines and a retry button."""
    state = status.get("state")
    if state not in ("failed", "crashed"):
        return
    runs = status.get("runs") or []
    script = str(runs[-1].get("path") or "") if runs else ""
    what = "The server crashed" if state == "crashed" else f"{script.rsplit('/', 1)[-1] or 'The run'} failed"
    st.error(f"{what}: {status.get('error') or 'no message'}", icon=":material/error:")
    lines = the_client.logs(name, tail=common.LOG_TAIL_LINES)
    if lines:
        st.caption("Last log lines")
        st.code("\n".join(lines), language=None)
    if st.button("Retry", key=f"retry:{name}", type="primary"):
        with st.spinner("Starting again…"):
            the_client.run(name, script=script or None, interactive=True)
        st.rerun()


# ---- forms for `input` steps ----


def _input_form(the_client: Client, question: _Question) -> None:
    request = obj(obj(question.event.get("data")).get("request"))
    fields = [f for f in objs(request.get("form")) if f.get("key")]
    form_key = f"input:{question.run_key}:{question.event['seq']}"
    with st.form(form_key, border=True):
        st.markdown(f"**{request.get('title') or 'The app asks'}**")
        if request.get("description"):
            st.caption(str(request["description"]))
        values = {str(f["key"]): _field(f, f"{form_key}:{f['key']}") for f in fields}
        submitted = st.form_submit_button("Submit", type="primary")
    if submitted:
        the_client.answer(question.run_key, values)
        st.toast("Answer sent")
        st.rerun()


def _field(field: Mapping[str, object], key: str) -> object:
    """One form field's widget; its value as the run's ``input`` step expects it."""
    label = str(field.get("title") or field["key"])
    help_text = str(field["description"]) if field.get("description") else None
    default = field.get("default")
    kind = str(field.get("type") or "text")
    placeholder = str(field["placeholder"]) if field.get("placeholder") else None
    if kind == "checkbox":
        return st.checkbox(label, value=bool(default), key=key, help=help_text)
    if kind == "select":
        options = [(str(i.get("text", i.get("value"))), i.get("value")) if isinstance(i, dict) else (str(i), i)
                   for i in _items(field.get("items"))]
        if not options:
            return default
        labels = [text for text, _ in options]
        index = next((n for n, (_, value) in enumerate(options) if value == default), 0)
        chosen = st.selectbox(label, labels, index=index, key=key, help=help_text)
        return default if chosen is None else options[labels.index(chosen)][1]
    text = "" if default is None else str(default)
    if kind == "textarea":
        return st.text_area(label, value=text, key=key, help=help_text, placeholder=placeholder)
    return st.text_input(label, value=text, key=key, help=help_text, placeholder=placeholder,
                         type="password" if kind == "password" else "default")


def _items(items: object) -> list[object]:
    return list(items) if isinstance(items, list) else []


# ---- the pinokio.js menu ----


def _label(item: MenuItem) -> str:
    text = item.get("text") or re.sub(r"<[^>]+>", " ", str(item.get("html") or ""))
    return " ".join(str(text).split()) or "(untitled)"


def _menu(the_client: Client, name: str, items: Sequence[MenuItem], prefix: str = "menu") -> None:
    if not items:
        st.caption("The menu is empty.")
    for index, item in enumerate(items):
        key = f"{prefix}:{index}"
        label = _label(item)
        submenu = item.get("menu")
        if submenu:
            with st.expander(label, expanded=False):
                _menu(the_client, name, submenu, key)
            continue
        own: Mapping[str, object] = item  # the launcher's own keys too (``popout``, ``confirm`` …)
        kind = item.get("kind")
        if kind == "url":
            link = common.link_for(the_client, str(item.get("href")), _share_of(the_client, name))
            st.link_button(label, link.url, type="primary" if item.get("default") else "secondary",
                           help="opens in a new tab" if own.get("popout") else None)
            if link.note:
                st.caption(link.note)
        elif kind == "script":
            _script_item(the_client, name, item, key, label)
        elif kind == "file":
            st.markdown(f":material/description: {label}: `{item.get('path')}`")
        else:
            st.button(label, key=key, disabled=True, help="this kind of menu item only works in Pinokio's own app")


def _script_item(the_client: Client, name: str, item: MenuItem, key: str, label: str) -> None:
    confirm_key = f"{name}:{key}"
    own: Mapping[str, object] = item
    confirm = own.get("confirm")  # the launcher's own key
    if st.session_state.get(CONFIRM_KEY) == confirm_key:
        question = confirm if isinstance(confirm, str) else f"Run {label}?"
        st.warning(str(question))
        yes, no = st.columns(2)
        if yes.button("Yes", key=f"{key}:yes", type="primary"):
            st.session_state[CONFIRM_KEY] = None
            _run_item(the_client, name, item, label)
        if no.button("Cancel", key=f"{key}:no"):
            st.session_state[CONFIRM_KEY] = None
            st.rerun()
        return
    shown = f"{label} (running)" if item.get("running") else label
    if st.button(shown, key=key, type="primary" if item.get("default") else "secondary"):
        if confirm:
            st.session_state[CONFIRM_KEY] = confirm_key
            st.rerun()
        _run_item(the_client, name, item, label)


def _run_item(the_client: Client, name: str, item: MenuItem, label: str) -> None:
    params = item.get("params")
    with st.spinner(f"Starting {label}…"):
        the_client.run(name, script=str(item.get("script")), params=dict(params) if isinstance(params, dict) else {},
                       interactive=True)
    st.toast(f"Started {label}")
    st.rerun()


# ---- live: progress and the log tail ----


def _live(the_client: Client, name: str, signature: tuple[object, ...]) -> None:
    with common.shown_errors():
        status = _status(the_client, name)
        questions = _questions(the_client, status)
        if _signature(status, questions) != signature:
            st.rerun(scope="app")
        for run in _alive(status):
            _progress(the_client, run)
        lines = the_client.logs(name, tail=LOG_KEPT_LINES)
        st.subheader("Log")
        if lines:
            # no fixed height: the panel always ends with the newest line, long lines wrap
            st.code("\n".join(lines[-common.LOG_TAIL_LINES:]), language=None, wrap_lines=True)
            with st.expander(f"Whole log ({len(lines)} lines; the copy button copies all)"):
                st.code("\n".join(lines), language=None, wrap_lines=True, height=400)
        else:
            st.caption("Nothing logged yet.")


def _progress(the_client: Client, run: RunSummary) -> None:
    script = str(run.get("path") or "").rsplit("/", 1)[-1]
    total = int(run.get("total") or 0)
    step = min(int(run.get("step") or 0) + 1, total) if total else 0
    if run.get("state") == "idle":
        st.success(f"{script} is running in the background (all {total} steps done)",
                   icon=":material/check_circle:")
        return
    command = _command(_run_progress(the_client, run["key"]).step)
    text = f"{script}: step {step} of {total}" if total else f"{script}: starting"
    st.progress(step / total if total else 0.0, text=text)
    if command:
        st.caption(f"`{command}`")


# ---- the app's URL, stop/restart, sharing ----


def _url_and_controls(the_client: Client, name: str, status: AppStatus) -> None:
    st.subheader("Web UI")
    url = status.get("ready_url")
    if url:
        link = common.link_for(the_client, str(url), _share_of(the_client, name))
        st.markdown(f"[{link.url}]({link.url})")
        if link.note:
            st.caption(link.note)
    else:
        st.caption("Not running; its menu starts it.")
    alive = _alive(status)
    if alive:
        usages: list[RunUsage] = [the_client.run_usage(r["key"]) for r in alive]
        started = min(float(r.get("started_at") or time.time()) for r in alive)
        ports = ", ".join(str(p) for p in sorted({p for u in usages for p in u.get("ports") or []})) or "–"
        cpu = sum(float(u.get("cpu_percent") or 0) for u in usages)
        rss = sum(int(u.get("rss_bytes") or 0) for u in usages)
        st.caption(f"CPU {cpu:.0f} % · RAM {common.fmt_bytes(rss)} · ports {ports}"
                   f" · up {common.fmt_duration(time.time() - started)}")
    stop, restart = st.columns(2)
    if stop.button("Stop", key=f"stop:{name}", disabled=not alive, width="stretch"):
        with st.spinner(f"Stopping {name}…"):
            the_client.stop(name)
        st.rerun()
    if restart.button("Restart", key=f"restart:{name}", disabled=not any(r.get("daemon") for r in alive),
                      width="stretch", help="stop the app's server and start it again"):
        with st.spinner(f"Restarting {name}…"):
            the_client.stop(name)
            the_client.start(name)
        st.rerun()
    _update_and_reinstall(the_client, name, busy=bool(alive))
    autorestore = bool(status.get("autorestore", True))
    wanted = st.toggle("Start again after a daemon restart", value=autorestore, key=f"autorestore:{name}")
    if wanted != autorestore:
        the_client.set_autorestore(name, wanted)
    policy = str(status.get("restart") or "no")
    chosen = st.toggle("Start its server again when it crashes", value=policy == "on-failure",
                       key=f"restart-policy:{name}",
                       help="with a growing pause; it gives up after 5 crashes in a row (counted afresh after a "
                            "minute up). Takes effect at the next crash.")
    if chosen != (policy == "on-failure"):
        the_client.set_restart(name, "on-failure" if chosen else "no")


def _share_of(the_client: Client, name: str) -> ShareInfo | None:
    """The app's share (``None`` when it is not shared), read once per page run."""
    cache: dict[str, ShareInfo | None] = st.session_state.setdefault(SHARES_KEY, {})
    if name not in cache:
        try:
            cache[name] = the_client.share_info(name)
        except UserError:  # 404: not shared
            cache[name] = None
    return cache[name]


def _update_and_reinstall(the_client: Client, name: str, *, busy: bool) -> None:
    """Update: git pull of the launcher (a copied one: copied again) and its update script when it has one.
    Reinstall: the folder as right after install, then the install flow again (asks first)."""
    why = "stop the app first" if busy else None
    update, reinstall = st.columns(2)
    if update.button("Update", key=f"update:{name}", disabled=busy, width="stretch", icon=":material/update:",
                     help=why or "get the launcher's latest version and run its update script, when it has one"):
        with st.spinner(f"Updating {name}…"):
            result = the_client.update(name)
        before, after = result["before"], result["after"]
        if before and after:
            st.session_state[NOTICE_KEY] = (f"Updated the launcher ({before[:8]} → {after[:8]})."
                                            if result.get("changed") else "The launcher was already up to date.")
        else:
            st.session_state[NOTICE_KEY] = "Copied the launcher again from its folder."
        if result.get("run") is not None:
            st.session_state[NOTICE_KEY] += " Its update script is running below."
        st.rerun()
    confirm_key = f"reinstall:{name}"
    if st.session_state.get(CONFIRM_KEY) == confirm_key:
        st.warning(f"Reinstall deletes everything {name}'s install made inside its folder (its environments, "
                   "the app's code, models saved there; shared caches stay) and installs it again.")
        yes, no = st.columns(2)
        if yes.button("Reinstall now", key=f"reinstall-yes:{name}", type="primary"):
            st.session_state[CONFIRM_KEY] = None
            with st.spinner(f"Reinstalling {name}…"):
                the_client.reinstall(name)
            st.session_state[NOTICE_KEY] = "Reinstalling: the install runs below."
            st.rerun()
        if no.button("Cancel", key=f"reinstall-no:{name}"):
            st.session_state[CONFIRM_KEY] = None
            st.rerun()
    elif reinstall.button("Reinstall", key=f"reinstall-ask:{name}", disabled=busy, width="stretch",
                          icon=":material/restart_alt:",
                          help=why or "delete what the install made in the app's folder and install again"):
        st.session_state[CONFIRM_KEY] = confirm_key
        st.rerun()
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.success(str(notice), icon=":material/check_circle:")


def _share(the_client: Client, name: str, status: AppStatus) -> None:
    st.subheader("Share")
    try:
        info: ShareInfo | None = the_client.share_info(name)
    except UserError as exc:  # 404: not shared, or (FastAPI's own 404) a daemon without the route
        if str(exc) == "Not Found":
            st.info("Sharing is not available in this daemon yet.")
            return
        info = None
    if info is not None:
        _shared(the_client, name, info)
        return
    provider = st.selectbox("Provider", ["default", *SHARE_PROVIDERS], key=f"share-provider:{name}",
                            help="default: the provider chosen in Settings, else the first that works here")
    passcode = st.text_input("Passcode", key=f"share-passcode:{name}", type="password",
                             placeholder="empty: make one up")
    ready = bool(_alive(status))
    if st.button("Share", key=f"share:{name}", type="primary", disabled=not ready,
                 help=None if ready else "start the app first: there is no web UI to share yet"):
        chosen = {k: v for k, v in (("provider", provider), ("passcode", passcode)) if v and v != "default"}
        _open_share(the_client, name, provider=chosen.get("provider"), passcode=chosen.get("passcode"))
        st.rerun()


def _open_share(the_client: Client, name: str, *, provider: str | None, passcode: str | None) -> None:
    """Start the share in a thread and, while it opens, list each provider's outcome as it comes."""
    shared: list[ShareInfo] = []
    failure: list[PinokioCloudError] = []

    def post() -> None:
        try:
            shared.append(the_client.start_share(name, provider=provider, passcode=passcode))
        except PinokioCloudError as exc:
            failure.append(exc)

    worker = threading.Thread(target=post, name=f"share-{name}", daemon=True)
    told: set[str] = set()
    with st.status("Opening a public URL…", expanded=True) as box:
        worker.start()
        while worker.is_alive():
            worker.join(SHARE_POLL_S)
            with contextlib.suppress(PinokioCloudError):
                for attempt in the_client.share_info(name).get("attempts") or []:
                    tried, reason = str(attempt.get("provider")), attempt.get("reason")
                    if reason and tried not in told:
                        told.add(tried)
                        st.write(f"{tried}: {reason}")
        if failure:
            box.update(label="Sharing failed", state="error")
            raise failure[0]
        failed = share_failure(shared[0] if shared else {}, app=name)
        box.update(label="No public URL" if failed else "Shared", state="error" if failed else "complete")
    st.session_state.get(SHARES_KEY, {}).pop(name, None)


def _shared(the_client: Client, name: str, info: ShareInfo) -> None:
    failed = share_failure(info, app=name)
    if failed is not None:
        # never labelled public, never QR-encoded: the gateway's address opens only on this machine
        st.error(f"**No public URL**: {failed.reason}.\n\n{failed.fix}", icon=":material/link_off:")
        st.caption(f"On this machine only, behind the passcode: {info.get('url') or info.get('local_url')}")
    else:
        public = str(info["public_url"])
        health = ":green-badge[healthy]" if info.get("is_healthy") else ":orange-badge[not healthy]"
        st.markdown(f"**Public URL** [{public}]({public}) {health}")
        st.caption(f"Provider: {info.get('provider') or 'none'}")
    if info.get("passcode"):
        st.markdown("**Passcode**")
        st.code(str(info["passcode"]), language=None)
    qr = info.get("qr_png_base64")
    if qr and failed is None:
        with contextlib.suppress(binascii.Error, ValueError):
            st.image(base64.b64decode(qr), caption="Scan to open", width=180)
    if st.button("Stop sharing" if failed is None else "Close the local gateway", key=f"unshare:{name}"):
        the_client.stop_share(name)
        st.session_state.get(SHARES_KEY, {}).pop(name, None)
        st.rerun()


render()
