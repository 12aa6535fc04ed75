"""Giving freed memory back to the operating system.

CPython frees a big ``bytes``/``str`` to the C allocator, and glibc keeps freed heap pages for reuse: after
a run that printed a gigabyte, the daemon's RSS stays at its peak although nothing holds the output any
more. ``malloc_trim(0)`` returns the free pages of every arena. Other C libraries (musl) have no such call
and need none of it as often; there ``trim_heap`` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import time
from collections.abc import Callable

__all__ = ["FORCED_MIN_BYTES", "TRIM_EVERY_S", "HeapTrimmer", "trim_heap"]

log = logging.getLogger(__name__)

TRIM_EVERY_S = 1.0
"""While output floods in, the heap is trimmed at most this often (each trim walks the heap)."""
FORCED_MIN_BYTES = 64 * 1024
"""A forced trim (a run ended) is skipped when less than this was let go since the last one."""


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        func = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_size_t]
    func.restype = ctypes.c_int
    return func


def trim_heap() -> bool:
    """Return freed heap memory to the OS now; False where the C library cannot (not glibc)."""
    func = _malloc_trim()
    if func is None:
        return False
    func(0)
    return True


class HeapTrimmer:
    """Trims the heap once enough memory has been let go, at most every ``every_s`` seconds unless
    forced (the end of a run), so a flood of output is not slowed down by trims."""

    def __init__(self, threshold_bytes: int = 8 * 1024 * 1024, every_s: float = TRIM_EVERY_S) -> None:
        self.threshold_bytes = threshold_bytes
        self.every_s = every_s
        self._freed = 0
        self._last = 0.0

    def freed(self, nbytes: int, *, force: bool = False) -> None:
        """Note that ``nbytes`` were let go; trim when it is worth it."""
        self._freed += nbytes
        now = time.monotonic()
        due = now - self._last >= self.every_s and self._freed >= self.threshold_bytes
        if due or (force and self._freed >= FORCED_MIN_BYTES):
            self._freed = 0
            self._last = now
            trim_heap()
