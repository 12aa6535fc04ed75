"""Settings: Hugging Face token, ngrok token, the default share provider, the persistent root and
auto-restore, saved in the daemon (``PATCH /api/settings``). Tokens come back masked and are only sent
when a new one is typed. Each one says when it takes effect; the persistent root counts from the next daemon
start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from pinokiocloud.client import Client
from pinokiocloud.errors import PinokioCloudError
from pinokiocloud.ui import common

if TYPE_CHECKING:
    from pinokiocloud.client import AppSettings

FIRST_THAT_WORKS = "first that works"
PROVIDERS = ("cloudflare", "ngrok", "localtunnel", "ssh", "gradio", "bore", "platform", "lan")
GENERATION_KEY = "_settings_generation"
SAVED_KEY = "_settings_saved"


def render() -> None:
    st.title("Settings")
    the_client = common.client()
    with common.shown_errors():
        _form(the_client, the_client.get_settings())


def _form(the_client: Client, current: AppSettings) -> None:
    if st.session_state.pop(SAVED_KEY, False):
        st.success("Saved.", icon=":material/check_circle:")
    generation = st.session_state.setdefault(GENERATION_KEY, 0)
    providers = [FIRST_THAT_WORKS, *PROVIDERS]
    provider_now = current.get("share_provider") or FIRST_THAT_WORKS
    with st.form(f"settings:{generation}", border=True):
        hf_token = st.text_input("Hugging Face token", type="password", key=f"hf_token:{generation}",
                                 placeholder=f"set ({current['hf_token']}); type a new one to replace it"
                                 if current.get("hf_token") else "not set",
                                 help="for gated models; written where `hf` and huggingface_hub in app shells read it")
        ngrok = st.text_input("ngrok authtoken", type="password", key=f"ngrok:{generation}",
                              placeholder=f"set ({current['ngrok_authtoken']}); type a new one to replace it"
                              if current.get("ngrok_authtoken") else "not set",
                              help="given to the ngrok agent of every share started from now on (never to apps)")
        provider = st.selectbox("Default share provider", providers, key=f"provider:{generation}",
                                index=providers.index(provider_now) if provider_now in providers else 0,
                                help="tried first by every share started from now on; then the others in order ("
                                     + " → ".join(current.get("share_order") or ()) + ")")
        persist = st.text_input("Persistent root", value=str(current.get("persist") or ""),
                                key=f"persist:{generation}",
                                help="a folder on a disk that outlives this machine (Google Drive, a volume); it "
                                     "must exist. Used from the next daemon start: the model store, state backups and "
                                     "one archive per app live there, and a new machine with it restores them")
        autorestore = st.checkbox("Restore running apps after a daemon restart",
                                  value=bool(current.get("autorestore", True)), key=f"autorestore:{generation}",
                                  help="read when the daemon starts: the next restart follows it")
        restart = st.checkbox("Start an app's server again when it crashes (apps without their own choice)",
                              value=current.get("restart") == "on-failure", key=f"restart:{generation}",
                              help="with a growing pause, up to 5 crashes in a row; each app's page can choose "
                                   "for itself. Takes effect at the next crash")
        submitted = st.form_submit_button("Save", type="primary")
    if not submitted:
        return
    changes: dict[str, str | bool | None] = {}
    if hf_token.strip():
        changes["hf_token"] = hf_token.strip()
    if ngrok.strip():
        changes["ngrok_authtoken"] = ngrok.strip()
    if provider != provider_now:
        changes["share_provider"] = "" if provider == FIRST_THAT_WORKS else provider
    if persist.strip() != str(current.get("persist") or ""):
        changes["persist"] = persist.strip()
    if autorestore != bool(current.get("autorestore", True)):
        changes["autorestore"] = autorestore
    if restart != (current.get("restart") == "on-failure"):
        changes["restart"] = "on-failure" if restart else "no"
    if not changes:
        st.info("Nothing changed.")
        return
    try:
        the_client.update_settings(**changes)
    except PinokioCloudError as exc:
        common.show_error(exc)
        return
    st.session_state[GENERATION_KEY] = generation + 1
    st.session_state[SAVED_KEY] = True
    st.rerun()


render()
