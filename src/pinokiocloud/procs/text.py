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
    \x1b(?:
        \][^\x07\x1b]*(?:\x07|\x1b\\)      # OSC (window title, hyperlink), ended by BEL or ST
      | [P^_X][^\x1b]*\x1b\\              # DCS / PM / APC / SOS, ended by ST
      | \[[0-?]*[ -/]*[@-~]               # CSI: colours, cursor moves, erase line
      | [ -/]*[0-~]                       # other two- or three-byte escapes (charset, keypad)
    )
    | \x9b[0-?]*[ -/]*[@-~]               # CSI in its 8-bit form
    """,
    re.VERBOSE,
)
_PARTIAL = re.compile(r"\x1b(?:\][^\x07\x1b]*\x1b?|[P^_X][^\x1b]*\x1b?|\[[0-?]*[ -/]*|[ -/]*)|\x9b[0-?]*[ -/]*")
"""An escape sequence cut off by the end of a chunk (matched against the whole rest of the text)."""
_DROP = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
"""Control characters other than tab and newline (BEL, backspace, a stray ESC …)."""


def strip_ansi(text: str) -> str:
    """``text`` without escape sequences or control characters, ``\\r\\n`` and ``\\r`` as ``\\n``."""
    # The checks keep plain output cheap: a regex pass costs far more than a scan for one character.
    if "\x1b" in text or "\x9b" in text:
        text = _ESCAPE.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.translate(_DROP)


def _partial_start(text: str) -> int | None:
    """Where an unfinished escape sequence at the end of ``text`` begins, if there is one. Only the
    last two escape characters can start it (an OSC cut inside its ``ESC \\`` terminator has two)."""
    floor = max(0, len(text) - MAX_PENDING_CHARS)
    last = max(text.rfind("\x1b", floor), text.rfind("\x9b", floor))
    if last < 0:
        return None
    before = max(text.rfind("\x1b", floor, last), text.rfind("\x9b", floor, last))
    for start in (before, last):
        if start >= 0 and _PARTIAL.fullmatch(text, start):
            return start
    return None


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
        cut = _partial_start(text)
        if cut is None:
            cut = len(text) - 1 if text.endswith("\r") else len(text)
        self._pending = text[cut:]
        return strip_ansi(text[:cut])

    def flush(self) -> str:
        """Everything still held back, at end of output."""
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return strip_ansi(text)
