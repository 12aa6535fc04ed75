"""The App page's "Run on a cloud GPU…": the options of ``pinokiocloud cloud launch``, through the CLI.

SkyPilot takes tens of seconds to import, so the dashboard never imports it: it runs the same CLI commands a
user would (``cloud launch … --dry-run``, ``cloud launch``) as subprocesses. Whether a cloud is enabled is
asked only when the user opens the panel and presses "Check clouds" (SkyPilot's ``sky check``), and the
answer is kept for the session. A launch runs in the background, writing to
``PINOKIO_HOME/logs/cloud/<cluster>.launch.log``, whose tail the panel shows.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from pinokiocloud.cloud.task import DEFAULT_IDLE_MINUTES, DEFAULT_PORT, cluster_name
from pinokiocloud.config import Settings
from pinokiocloud.ui.jsonread import obj

__all__ = ["cloud_panel"]

CLOUDS_KEY = "_cloud_enabled"
LAUNCHES_KEY = "_cloud_launches"
CHECK_TIMEOUT_S = 300
DRY_RUN_TIMEOUT_S = 300
_CHECK = ("import json; from pinokiocloud.cloud import sky\n"
          "try:\n    print(json.dumps({'clouds': sky.enabled_clouds()}))\n"
          "except Exception as exc:\n    print(json.dumps({'error': str(exc)}))\n")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pinokiocloud.cli.main", *args]


@dataclass(frozen=True)
class _Clouds:
    # what `sky check` said: the enabled clouds, or why it could not tell (a comment: Streamlit's magic would
    # print a class docstring in a page module)
    names: list[str]
    error: str = ""


def _enabled_clouds() -> _Clouds:
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S,
                          check=False, stdin=subprocess.DEVNULL)
    lines = done.stdout.strip().splitlines()
    try:
        answer = obj(json.loads(lines[-1])) if lines else {"error": done.stderr.strip()[-500:]}
    except ValueError:
        answer = {"error": lines[-1]}
    names = answer.get("clouds")
    return _Clouds([str(n) for n in names] if isinstance(names, list) else [], str(answer.get("error") or ""))


def _args(name: str, gpus: str, infra: str, disk: int, idle: int, share: bool, persist: str) -> list[str]:
    args = ["cloud", "launch", name, "--idle-minutes", str(idle)]
    if gpus.strip():
        args += ["--gpus", gpus.strip()]
    if infra and infra != "cheapest enabled":
        args += ["--infra", infra]
    if disk:
        args += ["--disk", str(disk)]
    if share:
        args.append("--share")
    if persist.strip():
        args += ["--persist", persist.strip()]
    return args


def _launch_log(name: str) -> Path:
    folder = Settings.from_env().home / "logs" / "cloud"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{cluster_name(name)}.launch.log"


def _launch(name: str, args: list[str]) -> None:
    log = _launch_log(name)
    with log.open("w") as out:
        proc = subprocess.Popen(_cli(*args), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    st.session_state.setdefault(LAUNCHES_KEY, {})[name] = proc


def _show_launch(name: str) -> None:
    proc: subprocess.Popen[bytes] | None = st.session_state.get(LAUNCHES_KEY, {}).get(name)
    log = _launch_log(name)
    if proc is None and not log.exists():
        return
    code = proc.poll() if proc is not None else None
    if proc is not None and code is None:
        st.info("Launching through SkyPilot (minutes) …")
    elif code == 0:
        st.success(f"Launched: the URL and passcode are below; stop paying with `pinokiocloud cloud down {name}`.")
    elif code is not None:
        st.error(f"The launch failed (exit {code}); the last lines say why.")
    lines = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
    if lines:
        st.code("\n".join(lines), language=None)
    st.button("Refresh", key=f"cloud_refresh_{name}")


def cloud_panel(name: str) -> None:
    """The "Run on a cloud GPU…" section of an installed app."""
    st.subheader("Cloud GPU")
    if importlib.util.find_spec("sky") is None:
        st.caption("Run this app on a cloud GPU (RunPod, Vast, Lambda, Kubernetes, AWS, GCP …): install the cloud "
                   "extra with `pip install skypilot`, then see docs/cloud.md.")
        return
    with st.expander("Run on a cloud GPU…", expanded=False):
        answer: _Clouds | None = st.session_state.get(CLOUDS_KEY)
        if answer is None:
            st.caption("SkyPilot's `sky check` decides which clouds have credentials (it takes a while).")
            if st.button("Check clouds", key=f"cloud_check_{name}"):
                with st.spinner("sky check …"):
                    st.session_state[CLOUDS_KEY] = answer = _enabled_clouds()
            else:
                return
        if answer.error:
            st.error(answer.error)
            return
        clouds = answer.names
        if not clouds:
            st.warning("No cloud is enabled in SkyPilot. Set up the credentials of one (RunPod: `pip install "
                       "'skypilot[runpod]'` and `runpod config`; Kubernetes: a kubeconfig; see docs/cloud.md), "
                       "then run `sky check` and check again here.")
            if st.button("Check again", key=f"cloud_recheck_{name}"):
                st.session_state.pop(CLOUDS_KEY, None)
                st.rerun()
            return
        with st.form(f"cloud_form_{name}"):
            gpus = st.text_input("GPU (NAME:COUNT; empty: from the app's needs)", placeholder="L4:1")
            infra = st.selectbox("Where", ["cheapest enabled", *clouds])
            disk = st.number_input("Disk GB (0: from the app's estimate)", min_value=0, value=0, step=10)
            idle = st.number_input("Stop after minutes without visitors (0: never)", min_value=0,
                                   value=DEFAULT_IDLE_MINUTES)
            share = st.checkbox("Also open a public tunnel", value=False)
            persist = st.text_input("Persistent bucket or volume (optional)", placeholder="s3://my-bucket")
            st.caption(f"The app is served behind its passcode on port {DEFAULT_PORT} of the machine.")
            show = st.form_submit_button("Show the task")
            go = st.form_submit_button("Launch", type="primary")
        args = _args(name, gpus, str(infra), int(disk), int(idle), share, persist)
        if show:
            done = subprocess.run(_cli(*args, "--dry-run"), capture_output=True, text=True,
                                  timeout=DRY_RUN_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
            if done.returncode == 0:
                st.code(done.stdout, language="yaml")
                st.caption(done.stderr.strip())
            else:
                st.error(done.stderr.strip() or f"exit {done.returncode}")
        if go:
            _launch(name, args)
        _show_launch(name)
