"""The Streamlit dashboard: a client of the daemon's HTTP API only (DESIGN §1 rule 1).

Run it with ``streamlit run src/pinokiocloud/ui/app.py`` (or ``pinokiocloud up``, which puts it behind the
passcode gateway). It finds the daemon the way every client does, through ``Settings.from_env()``
(``PINOKIO_HOME``, ``PINOKIOCLOUD_PORT``). One module per page lives in ``views/``; what pages share is in
``common.py``. (Not ``pages/``: Streamlit treats a ``pages/`` folder beside the entry point as an old-style
multipage app and then runs a page's file without ``app.py``, which skips the daemon check.)
"""
