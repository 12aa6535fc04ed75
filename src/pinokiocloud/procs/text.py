"""Terminal output as plain text: ANSI escapes removed and line endings made ``\\n``.

The ``on`` matcher, ``tail()`` and the UI want text a regex can match; the PTY gives bytes with colour
codes, cursor moves, ``\\r\\n`` (ONLCR) and ``\\r`` redraws (progress bars). Output arrives in arbitrary
chunks, so ``TextDecoder`` carries a split UTF-8 character, a split escape sequence or a trailing ``\\r``
over to the next chunk instead of printing garbage or a blank line.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["TextDecoder", "strip_ansi"]

MAX_PENDING_CHARS = 4096
"""Longest unfinished escape sequence held back for the next chunk; longer ones are let through."""

_ESCAPE = re.compile(
    r"""
      \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)      # OSC (window title, hyperlink), ended by BEL or ST
    | \x1b[P^_X][^\x1b]*\x1b\\                # DCS / PM / APC / SOS, ended by ST
    | (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]        # CSI: colours, cursor moves, erase line
    | \x1b[ -/]*[0-~]                         # other two- or three-byte escapes (charset, keypad)
    """,
    re.VERBOSE,
)
_PARTIAL = re.compile(
    r"(?:\x1b(?:\][^\x07\x1b]*\x1b?|[P^_X][^\x1b]*\x1b?|\[[0-?]*[ -/]*|[ -/]*)|\x9b[0-?]*[ -/]*)\Z"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NEWLINES = re.compile(r"\r\n|\r")


def strip_ansi(text: str) -> str:
    """``text`` without escape sequences or control characters, ``\\r\\n`` and ``\\r`` as ``\\n``."""
    text = _ESCAPE.sub("", text)
    return _CONTROLS.sub("", _NEWLINES.sub("\n", text))


class TextDecoder:
    """Incremental bytes → plain text for one output stream."""

    __slots__ = ("_decoder", "_pending")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> str:
        """Plain text for ``data``; whatever may continue in the next chunk is held back."""
        text = self._pending + self._decoder.decode(data)
        self._pending = ""
        cut = len(text)
        partial = _PARTIAL.search(text)
        if partial and len(text) - partial.start() <= MAX_PENDING_CHARS:
            cut = partial.start()
        elif text.endswith("\r"):
            cut -= 1
        self._pending = text[cut:]
        return strip_ansi(text[:cut])

    def flush(self) -> str:
        """Everything still held back, at end of output."""
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return strip_ansi(text)
