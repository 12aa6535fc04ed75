"""Downloads: parallel, resumable, sha256-verified HTTP downloads, their queue and their records.

Other layers import from here, never from the modules directly.
"""

from __future__ import annotations

from pinokiocloud.downloads.auth import Tokens, tokens_from_env
from pinokiocloud.downloads.engine import (
    MAX_CONNECTIONS,
    MAX_RETRIES,
    PROGRESS_INTERVAL_S,
    STALL_TIMEOUT_S,
    UNREACHABLE_RETRIES,
    DownloadProgress,
    DownloadResult,
    UnreachableError,
    download,
    download_many,
    human_bytes,
)
from pinokiocloud.downloads.queue import (
    PRIORITY_BACKGROUND,
    PRIORITY_STEP,
    DownloadCancelledError,
    DownloadQueue,
    QueuedDownload,
    Reporter,
    install,
    queue_for,
    uninstall,
)
from pinokiocloud.downloads.records import FileRecord, Records, normalize_source, records_for

__all__ = [
    "MAX_CONNECTIONS",
    "MAX_RETRIES",
    "PRIORITY_BACKGROUND",
    "PRIORITY_STEP",
    "PROGRESS_INTERVAL_S",
    "STALL_TIMEOUT_S",
    "UNREACHABLE_RETRIES",
    "DownloadCancelledError",
    "DownloadProgress",
    "DownloadQueue",
    "DownloadResult",
    "FileRecord",
    "QueuedDownload",
    "Records",
    "Reporter",
    "Tokens",
    "UnreachableError",
    "download",
    "download_many",
    "human_bytes",
    "install",
    "normalize_source",
    "queue_for",
    "records_for",
    "tokens_from_env",
    "uninstall",
]
