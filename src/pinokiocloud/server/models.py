"""The JSON shapes the daemon's API answers with, one ``TypedDict`` per shape.

One definition serves both ends: the routes name them as ``response_model`` (FastAPI validates each answer
with Pydantic and ``/docs`` shows the shape), and ``Client`` names them as its return types (imported only
for the type checker, so the CLI loads neither Pydantic nor FastAPI). They are ``TypedDict``s, not
``BaseModel``s, because the answers are the plain dicts the daemon builds: a key that is sometimes left out
is ``NotRequired`` and stays left out (a model would add it as ``null``), and nothing is converted on the way
(an ``int`` is not turned into ``3.0``: numbers that may be either are ``Number``).

Only payloads that are genuinely open allow more keys: a launcher's own menu items and ``meta``, and the
machine report, whose nested facts grow with the platform layer.
"""

from __future__ import annotations

from typing import TypeAlias

from pydantic import ConfigDict, JsonValue, with_config
from typing_extensions import NotRequired, TypedDict

__all__ = [
    "AnswerResult", "AppList", "AppSettings", "AppStatus", "Archive", "Backup", "BlobInfo", "BlobList", "BundleTool",
    "CatalogEntry", "CatalogList", "DiskReading", "Download", "DownloadList", "GcResult", "Health", "Installed",
    "JsonObject", "LiveReadings", "Logs", "MachineReport", "MemoryReading", "Menu", "MenuItem", "Number",
    "ProviderAttempt", "Reinstalled", "Removed", "RestoreProgress", "RunEvent", "RunList", "RunSummary", "RunUsage",
    "SearchHit", "SearchResult", "ShareEvent", "ShareEvents", "ShareInfo", "ShareList", "Shutdown", "StdinResult",
    "Stopped", "StoreInfo", "StoreUsage", "UiInfo", "Unshared", "Updated", "VerifyProblem", "VerifyResult", "WebUi",
]

Number: TypeAlias = int | float
"""A count or a reading that is an ``int`` or a ``float`` depending on how it was summed (kept as it came)."""
JsonObject: TypeAlias = dict[str, JsonValue]
"""An object whose keys are not ours to name (a GPU reading, a launcher's ``meta``)."""


# ---- runs ----

class RunSummary(TypedDict):
    """A run (``Run.summary``); a run an earlier daemon ran has only what its record keeps."""

    id: str
    """The script's path and query: the same for every run of one script."""
    key: str
    """This run only."""
    path: str
    state: str
    """starting | running | idle | done | failed | crashed | stopped (| interrupted, recorded)."""
    daemon: bool
    error: str | None
    started_at: float
    ended_at: float | None
    uri: NotRequired[str]
    step: NotRequired[int]
    total: NotRequired[int]
    exit_code: NotRequired[int | None]
    restarts: NotRequired[int]
    caller: NotRequired[str | None]


class RunList(TypedDict):
    data: list[RunSummary]
    count: int


class RunUsage(TypedDict):
    """What a run's live processes use now."""

    key: str
    pids: list[int]
    cpu_percent: Number
    rss_bytes: int
    gpu_memory_mb: Number | None
    ports: list[int]


class AnswerResult(TypedDict):
    answered: bool


class StdinResult(TypedDict):
    written: int
    """Characters written."""


class RunEvent(TypedDict):
    """One server-sent event of ``/api/runs/{key}/events`` (its ``data:`` line)."""

    run_id: str
    type: str
    """start | memory | step | stream | result | notify | input | web.open | info | error | stop | state …"""
    data: JsonValue
    step: int | None
    total: int | None
    ts: float
    seq: int
    attempt: str
    """The run's key."""


# ---- shares ----

class ProviderAttempt(TypedDict):
    provider: str
    reason: str | None
    """Why it is not the one in use; ``null`` for the one that is."""


class ShareInfo(TypedDict):
    """One share; in listings and app status the passcode, token and token link are masked."""

    app: str
    target_url: str
    local_url: str
    public_url: str | None
    provider: str | None
    state: str
    is_protected: bool
    passcode: str | None
    token: str | None
    attempts: list[ProviderAttempt]
    started_at: float
    changed_at: float
    last_probe_at: float | None
    client_pid: int | None
    url: str
    """The public URL, or the local one when there is none."""
    token_url: str | None
    is_healthy: bool
    qr_png_base64: NotRequired[str]
    """A QR code of ``url`` (not in listings)."""


class ShareList(TypedDict):
    data: list[ShareInfo]
    count: int


class ShareEvent(TypedDict):
    kind: str
    """online | url-changed | unhealthy | local-only | stopped."""
    app: str
    url: str | None
    previous_url: str | None
    provider: str | None
    reason: str | None
    at: float


class ShareEvents(TypedDict):
    data: list[ShareEvent]


class Unshared(TypedDict):
    name: str
    unshared: bool
    """Whether there was a share to end."""


# ---- apps ----

class WebUi(TypedDict):
    url: str
    kind: str
    source: str
    title: str | None


class AppStatus(TypedDict):
    """One app, the same for ``ls``, ``status``, the dashboard and the API."""

    name: str
    path: str
    source: str | None
    state: str
    """offline | installing | starting | online | crashed | failed."""
    ready_url: str | None
    web_ui: WebUi | None
    runs: list[RunSummary]
    error: str | None
    autorestore: bool
    restart: str
    pids: list[int]
    ports: list[int]
    cpu_percent: Number
    rss_bytes: int
    gpu_memory_mb: Number | None
    share: NotRequired[ShareInfo | None]
    """``GET /api/apps/{name}`` only: its share, secrets masked."""


class AppList(TypedDict):
    data: list[AppStatus]
    count: int


class Installed(TypedDict):
    name: str
    run: RunSummary | None
    """The install script's run; ``null`` when the launcher has none."""


class Removed(TypedDict):
    name: str
    removed: bool


class Stopped(TypedDict):
    name: str
    stopped: list[RunSummary]


class Logs(TypedDict):
    name: str
    lines: list[str]


class Updated(TypedDict):
    name: str
    changed: bool
    before: str | None
    """The git commit before the pull; ``null`` for a launcher copied from a folder."""
    after: str | None
    run: RunSummary | None


class Reinstalled(TypedDict):
    name: str
    run: RunSummary | None


@with_config(ConfigDict(extra="allow"))
class MenuItem(TypedDict, total=False):
    """A launcher's menu item as its ``pinokio.js`` wrote it (any keys, any values: they pass through as they
    are), plus what the daemon resolved (``kind``, ``script``, ``running``, ``path``, and ``menu`` cleaned)."""

    text: JsonValue
    html: JsonValue
    href: JsonValue
    default: JsonValue
    params: JsonValue
    """The item's own ``params`` (for a script: its query string merged in)."""
    kind: str
    """script | url | route | file, for an item with an ``href``."""
    script: str
    running: bool
    path: str
    menu: list[MenuItem]


class Menu(TypedDict):
    name: str
    root: str
    meta: JsonObject
    """The launcher's title, description, icon … as it wrote them."""
    menu: list[MenuItem]


class BundleTool(TypedDict):
    tool: str
    commands: list[str]
    ours: bool


class CatalogEntry(TypedDict):
    id: str
    url: str
    title: str
    description: str
    category: str
    tags: list[str]
    complexity: str
    vram_gb: Number
    disk_gb: Number
    gpu: str | None
    icon: str
    homepage: str | None
    bundle: str | None
    conda: bool
    bundle_tools: NotRequired[list[BundleTool]]
    """``GET /api/catalog`` only: what the entry's tool bundle holds."""


class CatalogList(TypedDict):
    data: list[CatalogEntry]
    count: int
    problems: list[str]


class SearchHit(TypedDict):
    id: str
    title: str
    description: str
    tags: list[str]
    source: str
    """installed | catalog."""
    score: int
    matched: list[str]


class SearchResult(TypedDict):
    query: str
    data: list[SearchHit]
    count: int


# ---- system, settings, the store ----

class Health(TypedDict):
    ok: bool
    version: str
    proof: NotRequired[str]
    """hex(HMAC-SHA256(token, challenge)), when ``?challenge=`` was given."""
    home: NotRequired[str]
    """With the token only."""
    pid: NotRequired[int]


class AppSettings(TypedDict):
    """The settings; tokens masked."""

    autorestore: bool
    hf_token: str | None
    ngrok_authtoken: str | None
    share_provider: str | None
    restart: str
    share_order: list[str]
    persist: str | None
    persist_in_use: bool


class MemoryReading(TypedDict):
    total: int
    used: int
    percent: Number


class DiskReading(TypedDict):
    path: str
    total: int
    free: int


class LiveReadings(TypedDict):
    time: float
    cpu_percent: Number
    memory: MemoryReading
    disk: DiskReading
    gpus: list[JsonObject]


@with_config(ConfigDict(extra="allow"))
class MachineReport(TypedDict):
    """The ``doctor`` report: each part as the platform layer reports it."""

    cloud: JsonObject
    home: str
    is_home_set: bool
    home_disk: JsonObject
    persist_disk: JsonObject | None
    facts: JsonObject
    gpu_source: str
    gpu_readings: list[JsonObject]
    cpu: JsonObject
    memory: JsonObject
    network: list[JsonObject]
    tools: list[JsonObject]
    fit: JsonObject | None
    requirements: JsonObject | None
    warnings: list[str]
    processes: JsonObject | None
    tool_origins: dict[str, str]
    paths: dict[str, JsonValue]


class Backup(TypedDict):
    path: str
    last_at: float | None
    error: str | None


class Archive(TypedDict):
    path: str
    bytes: int | None
    current: bool


class RestoreProgress(TypedDict):
    name: str
    state: str
    """waiting | extracting | restored | installing (the fallback install flow runs) | installed (it ended well) |
    failed."""
    done_bytes: int
    total_bytes: int
    reason: str | None
    seconds: Number | None
    line: str


class StoreUsage(TypedDict):
    root: str
    blobs: int
    stored_bytes: int
    linked_bytes: int
    free_bytes: int
    saved_bytes: int


class StoreInfo(TypedDict):
    persist_in_use: bool
    root: str | None
    wanted: str | None
    source: str
    reason: str | None
    store: str
    notices: list[str]
    backup: Backup | None
    archives: dict[str, Archive]
    restore: dict[str, RestoreProgress]
    sync_error: str | None
    """Why the apps' own files could not be kept on the root lately; ``null`` when the last sync worked."""
    free_bytes: NotRequired[int]
    usage: StoreUsage


class BlobInfo(TypedDict):
    sha256: str
    size: int
    sources: list[str]
    apps: list[str]
    links: list[str]


class BlobList(TypedDict):
    data: list[BlobInfo]
    count: int


class GcResult(TypedDict):
    removed: list[str]
    freed_bytes: int
    kept: int


class VerifyProblem(TypedDict):
    sha256: str
    message: str


class VerifyResult(TypedDict):
    checked: int
    problems: list[VerifyProblem]


# ---- the dashboard and downloads ----

class UiInfo(TypedDict):
    running: bool
    url: NotRequired[str]
    token_url: NotRequired[str]
    passcode: NotRequired[str | None]
    """Known only right after it was made; a kept one is a hash (``null``)."""
    passcode_since: NotRequired[float | None]


class Shutdown(TypedDict):
    stopping: bool


class Download(TypedDict):
    id: str
    url: str
    path: str | None
    app: str | None
    priority: int
    kind: str
    state: str
    """queued | running | done | failed | cancelled."""
    bytes: int
    total: int | None
    percent: Number | None
    rate_bps: Number
    eta_s: Number | None
    connections: int
    sha256: str | None
    error: str | None
    queued_at: float
    started_at: float | None
    finished_at: float | None


class DownloadList(TypedDict):
    data: list[Download]
    count: int
    concurrency: int
