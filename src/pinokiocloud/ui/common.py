"""What every page shares: the daemon client, how errors are shown, the "daemon is not running" screen,
formatting, and whether a catalog app fits this machine.

Pages never import the kernel, runner or store: everything comes from the daemon's HTTP API through
``Client``. Errors are caught per page (``shown_errors``) and shown as a message with the last log lines,
never as a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import streamlit as st

from pinokiocloud.client import Client
from pinokiocloud.config import Settings
from pinokiocloud.errors import DaemonUnavailableError, PinokioCloudError
from pinokiocloud.platform.gpu import GpuInfo
from pinokiocloud.platform.policy import Fit, Requirements, check_requirements
from pinokiocloud.platform.system import DiskInfo, SystemFacts
from pinokiocloud.ui.jsonread import number, obj, objs, text
from pinokiocloud.ui.links import Link, browser_link, is_local_url

if TYPE_CHECKING:
    from pinokiocloud.client import AppStatus, CatalogEntry, MachineReport

__all__ = [
    "ALIVE_RUN_STATES",
    "LIVE_REFRESH_S",
    "LOG_TAIL_LINES",
    "PAGES",
    "app_of_run",
    "client",
    "daemon_is_up",
    "fit_of",
    "fmt_bytes",
    "fmt_duration",
    "fmt_gb",
    "is_debug",
    "link_for",
    "machine_summary",
    "open_app",
    "requirements_text",
    "selected_gpu",
    "show_error",
    "shown_errors",
    "state_badge",
    "system_report",
    "warm_imports_in_background",
]

PAGES = {
    "home": "views/home.py",
    "library": "views/library.py",
    "app": "views/app_page.py",
    "running": "views/running.py",
    "downloads": "views/downloads.py",
    "system": "views/system.py",
    "settings": "views/settings.py",
}
"""Page files, relative to ``app.py`` (what ``st.Page`` and ``st.switch_page`` take)."""

LIVE_REFRESH_S = 2.0
"""How often live parts (log tail, progress, usage, charts) refresh themselves."""
LOG_TAIL_LINES = 40
SYSTEM_REPORT_TTL_S = 60.0
"""The machine report (GPUs, disks, tools) changes rarely; pages reuse it for this long."""
ALIVE_RUN_STATES = frozenset({"starting", "running", "idle"})
STATE_COLORS = {
    "online": "green", "idle": "green", "done": "green",
    "installing": "blue", "starting": "blue", "running": "blue",
    "offline": "gray", "stopped": "gray",
    "failed": "red", "crashed": "red",
}
SELECTED_APP_KEY = "selected_app"
WARM_IMPORTS = ("pandas", "pyarrow", "altair")
"""What Streamlit imports for the first table or chart (about 2 s without bytecode caches)."""
_warming = threading.Lock()
_is_warm = False


def warm_imports_in_background() -> None:
    """Import ``WARM_IMPORTS`` in a thread once per process, after the first page is drawn, so that neither the
    first page nor the first visit of the System page waits for them."""
    global _is_warm
    with _warming:
        if _is_warm:
            return
        _is_warm = True
    threading.Thread(target=_warm_imports, name="dashboard-warm-imports", daemon=True).start()


def _warm_imports() -> None:
    for name in WARM_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


# ---- the daemon ----


@st.cache_resource(show_spinner=False)
def _client(home: str, port: int) -> Client:
    """One HTTP client per daemon for the whole UI process (building one costs ~25 ms)."""
    del home, port  # only the cache key: the settings come from the same environment
    return Client(Settings.from_env(), autostart=False)


def is_debug() -> bool:
    """``PINOKIOCLOUD_DEBUG=1``: show unexpected errors in full, traceback included."""
    try:
        return Settings.from_env().environ.get("PINOKIOCLOUD_DEBUG", "").strip() == "1"
    except PinokioCloudError:
        return False


def client() -> Client:
    """The client for the daemon of ``PINOKIO_HOME``/``PINOKIOCLOUD_PORT``; it never starts one by itself."""
    settings = Settings.from_env()
    return _client(str(settings.home), settings.port)


def daemon_is_up() -> bool:
    """Whether the daemon answers; when not, say so and offer to start it."""
    try:
        the_client = client()
        if the_client.is_up():
            return True
    except PinokioCloudError as exc:  # bad settings, or the port belongs to another home's daemon
        show_error(exc)
        return False
    st.title("PinokioCloud")
    st.error(f"The PinokioCloud daemon is not running at {the_client.url} "
             f"(PINOKIO_HOME={the_client.settings.home}).")
    st.write("The daemon installs and runs apps; this dashboard only talks to it. Start it here, or run "
             "`pinokiocloud serve` in a terminal.")
    if st.button("Start the daemon", key="start_daemon", type="primary"):
        try:
            with st.spinner("Starting the daemon…"), Client(the_client.settings, autostart=True) as starter:
                starter.ensure_daemon()
        except PinokioCloudError as exc:
            show_error(exc)
            return False
        st.rerun()
    return False


def system_report(the_client: Client) -> MachineReport:
    """``/api/system`` (the doctor report), kept in the session for ``SYSTEM_REPORT_TTL_S``."""
    cached: tuple[str, float, MachineReport] | None = st.session_state.get("_system_report")
    if cached is not None and cached[0] == the_client.url and time.monotonic() - cached[1] < SYSTEM_REPORT_TTL_S:
        return cached[2]
    report = the_client.system()
    st.session_state["_system_report"] = (the_client.url, time.monotonic(), report)
    return report


# ---- errors ----


def show_error(exc: PinokioCloudError, *, lines: Sequence[str] = ()) -> None:
    """The error's message (and hint), then the last log lines when there are any."""
    text = str(exc) or type(exc).__name__
    if getattr(exc, "hint", ""):
        text += f"\n\n{exc.hint}"
    if isinstance(exc, DaemonUnavailableError):
        text += "\n\nReload the page to start the daemon again."
    st.error(text, icon=":material/error:")
    if lines:
        st.caption("Last log lines")
        st.code("\n".join(lines[-LOG_TAIL_LINES:]), language=None)


@contextmanager
def shown_errors() -> Iterator[None]:
    """Run a page (or part of one); an error PinokioCloud raises becomes a message instead of a traceback.

    Streamlit's own control flow (``st.rerun``, ``st.switch_page``) passes through untouched.
    """
    try:
        yield
    except PinokioCloudError as exc:
        show_error(exc)


# ---- links a browser can open ----


def link_for(the_client: Client, url: str, share: Mapping[str, object] | None = None) -> Link:
    """``url`` (an app's address or a menu link) as the user's browser reaches it: the share's public URL, the
    platform's proxy for the port, else 127.0.0.1 (never ``0.0.0.0``)."""
    exposure = None
    if is_local_url(url):
        with contextlib.suppress(PinokioCloudError):
            exposure = obj(obj(system_report(the_client).get("cloud")).get("exposure"))
    return browser_link(url, exposure=exposure, share=share)


# ---- navigation ----


def open_app(name: str) -> NoReturn:
    """Show the App page for ``name``."""
    st.session_state[SELECTED_APP_KEY] = name
    st.switch_page(PAGES["app"])


def app_of_run(run_path: str, apps: Sequence[AppStatus]) -> str | None:
    """The installed app whose folder holds the run's script."""
    for app in apps:
        folder = str(app.get("path") or "").rstrip("/")
        if folder and (run_path == folder or run_path.startswith(folder + "/")):
            return str(app["name"])
    return None


# ---- formatting ----


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def fmt_gb(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}".rstrip("0").rstrip(".") + " GB"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "–"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def state_badge(state: str | None) -> str:
    """Markdown for a coloured badge naming ``state``."""
    label = state or "unknown"
    return f":{STATE_COLORS.get(label, 'gray')}-badge[{label}]"


# ---- does an app fit this machine? ----


def selected_gpu(report: MachineReport) -> GpuInfo | None:
    """The GPU apps will use (NVIDIA first, spec §2.5), from the ``/api/system`` report."""
    facts = obj(report.get("facts"))
    gpus = [GpuInfo(str(g.get("name")), str(g.get("model")), text(g.get("driver")), int(number(g.get("vram")) or 0),
                    text(g.get("target")))
            for g in objs(facts.get("gpus"))]
    return SystemFacts(str(facts.get("platform") or ""), str(facts.get("arch") or ""),
                       int(number(facts.get("ram")) or 0), gpus).selected_gpu


def _home_disk(report: MachineReport) -> DiskInfo | None:
    disk = report.get("home_disk")
    if not isinstance(disk, dict):
        return None
    return DiskInfo(str(disk.get("path")), text(disk.get("measured_at")), number(disk.get("total_gb")),
                    number(disk.get("free_gb")), bool(disk.get("exists")), text(disk.get("fs_type")))


def fit_of(entry: CatalogEntry, report: MachineReport) -> Fit:
    """Whether a catalog entry fits this machine's GPU and the free disk at PINOKIO_HOME (the platform
    policy's rule and wording, the same as ``doctor``)."""
    try:
        needs = Requirements(vram_gb=float(entry.get("vram_gb") or 0), disk_gb=float(entry.get("disk_gb") or 0),
                             gpu=entry.get("gpu") or None)
    except ValueError as exc:
        return Fit(False, (str(exc),))
    return check_requirements(needs, gpu=selected_gpu(report), disk=_home_disk(report))


def requirements_text(entry: CatalogEntry) -> str:
    parts = []
    gpu = entry.get("gpu")
    vram = float(entry.get("vram_gb") or 0)
    if gpu or vram:
        parts.append(f"GPU: {str(gpu).upper() if gpu else 'any'}{f' · {fmt_gb(vram)} VRAM' if vram else ''}")
    else:
        parts.append("no GPU needed")
    if entry.get("disk_gb"):
        parts.append(f"{fmt_gb(float(entry['disk_gb']))} disk")
    return " · ".join(parts)


def machine_summary(report: MachineReport) -> str:
    gpu = selected_gpu(report)
    disk = _home_disk(report)
    gpu_text = f"{gpu.model} ({fmt_gb(gpu.vram)})" if gpu else "no GPU"
    disk_text = f"{fmt_gb(disk.free_gb)} free at {disk.path}" if disk and disk.free_gb is not None else "disk unknown"
    return f"This machine: {gpu_text} · {disk_text}"
