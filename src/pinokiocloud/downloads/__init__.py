"""Downloads: resumable, verified HTTP file downloads (the engine behind ``fs.download``).

Other layers import from here, never from ``engine`` directly.
"""

from __future__ import annotations

from pinokiocloud.downloads.engine import (
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

__all__ = [
    "MAX_RETRIES",
    "PROGRESS_INTERVAL_S",
    "STALL_TIMEOUT_S",
    "UNREACHABLE_RETRIES",
    "DownloadProgress",
    "DownloadResult",
    "UnreachableError",
    "download",
    "download_many",
    "human_bytes",
]
