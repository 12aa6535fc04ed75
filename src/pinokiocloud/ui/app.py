"""The dashboard's entry point: ``streamlit run src/pinokiocloud/ui/app.py``.

It declares the pages and runs the chosen one when the daemon answers; when it does not, it says so and
offers to start it.
"""

from __future__ import annotations

import streamlit as st

from pinokiocloud.ui import common

st.set_page_config(page_title="PinokioCloud", page_icon=":material/cloud:", layout="wide")
# Errors PinokioCloud raises on purpose are caught on each page and shown as a message; a bug anywhere else
# shows its type and a generic sentence, not a traceback (PINOKIOCLOUD_DEBUG=1 shows everything).
st.set_option("client.showErrorDetails", "full" if common.is_debug() else "type")

page = st.navigation([
    st.Page(common.PAGES["home"], title="My apps", icon=":material/home:", default=True),
    st.Page(common.PAGES["library"], title="Library", icon=":material/apps:", url_path="library"),
    st.Page(common.PAGES["app"], title="App", icon=":material/widgets:", url_path="app"),
    st.Page(common.PAGES["running"], title="Running", icon=":material/monitoring:"),
    st.Page(common.PAGES["downloads"], title="Downloads", icon=":material/download:"),
    st.Page(common.PAGES["system"], title="System", icon=":material/memory:"),
    st.Page(common.PAGES["settings"], title="Settings", icon=":material/settings:"),
])

if common.daemon_is_up():
    st.sidebar.caption(f"Daemon {common.client().url}")
    page.run()
    common.warm_imports_in_background()
