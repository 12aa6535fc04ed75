"""The ``on`` handlers of ``shell.run`` (spec §3.1.6): regexes watched over a shell's live output.

Output is ANSI-stripped, ``\\r\\n``/``\\r`` become ``\\n``, and the last 300 characters are kept. Each
handler reacts only to matches that end after its previous match. ``done`` and ``kill`` end the step,
``break: true`` patterns are errors (after removing every ``break: false`` pattern), ``once`` fires once.

Patterns are written for JavaScript (``"/http:\\/\\/\\S+/i"``); they run here with Python's ``re``,
after translating the few syntax differences that launchers use (docs/compat.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_HANDLERS",
    "WINDOW_CHARS",
    "BadPatternError",
    "Handler",
    "Match",
    "Matcher",
    "MatcherVerdict",
    "collect_errors",
    "compile_js_regex",
    "shortest_errors",
]

WINDOW_CHARS = 300
NOTIFY_CHARS = 64 * 1024
"""How much output a ``notify`` handler looks back over (the original: everything since its last match)."""
_PATTERN = re.compile(r"^/(.+)/([dgimsuy]*)$", re.DOTALL)


class BadPatternError(ValueError):
    """An ``on`` event that is not a ``/pattern/flags`` string, or a pattern that cannot compile."""


def compile_js_regex(text: object) -> re.Pattern[str]:
    """``"/pattern/flags"`` (split at the first and the last slash) → a compiled pattern."""
    if not isinstance(text, str):
        raise BadPatternError(f"event must be a \"/pattern/flags\" string, got {text!r}")
    m = _PATTERN.match(text)
    if not m:
        raise BadPatternError(f"event {text!r} is not a \"/pattern/flags\" string (for example \"/http:\\/\\/\\S+/\")")
    body, flags = m.group(1), m.group(2)
    body = re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", body)  # named groups
    body = re.sub(r"\\u\{([0-9A-Fa-f]+)\}", lambda x: chr(int(x.group(1), 16)), body)
    py = re.ASCII  # JavaScript's \d, \w and \b are ASCII-only
    if "i" in flags:
        py |= re.IGNORECASE
    if "m" in flags:
        py |= re.MULTILINE
    if "s" in flags:
        py |= re.DOTALL
    try:
        return re.compile(body, py)
    except re.error as exc:
        raise BadPatternError(f"event {text!r} cannot be used: {exc}") from exc


@dataclass
class Handler:
    pattern: re.Pattern[str]
    spec: Mapping[str, object]
    """The handler as the script wrote it (``event``, ``done``, ``kill``, ``break``, ``notify`` …)."""
    last_end: int = 0
    fired: bool = False

    @property
    def done(self) -> bool:
        return bool(self.spec.get("done"))

    @property
    def kill(self) -> bool:
        return bool(self.spec.get("kill"))

    @property
    def is_break(self) -> bool:
        return self.spec.get("break") is True

    @property
    def is_whitelist(self) -> bool:
        return "break" in self.spec and not self.spec.get("break")

    @property
    def trigger(self) -> str:
        value = self.spec.get("trigger")
        return value.strip() if isinstance(value, str) else ""


DEFAULT_HANDLERS: tuple[dict[str, object], ...] = (
    {"event": "/error:/i", "break": True},
    {"event": "/errno /i", "break": True},
    {"event": "/error:.*triton/i", "break": False},
)
"""Appended to every shell.run's handlers: this is how Pinokio fails installs (spec §3.1.6)."""


def _groups(m: re.Match[str]) -> list[str | None]:
    """A JavaScript match array: the whole match, then each group (null when it did not take part)."""
    return [m.group(0), *m.groups()]


def collect_errors(text: str, handlers: Sequence[Handler]) -> list[str]:
    """Every ``break: true`` match left after removing the ``break: false`` patterns (in order seen)."""
    line = text.replace("\r", "").replace("\n", "")
    for h in handlers:
        if h.is_whitelist:
            line = h.pattern.sub("", line)
    found: list[str] = []
    for h in handlers:
        if h.is_break:
            for m in h.pattern.finditer(line):
                if m.group(0) not in found:
                    found.append(m.group(0))
    return found


def shortest_errors(text: str, errors: Sequence[str]) -> list[str]:
    """Narrow matches down the way the original does: shortest first, dropping ones already covered."""
    line = text.replace("\r", "").replace("\n", "")
    kept = []
    for err in sorted(errors, key=len):
        if err in line:
            kept.append(err)
            line = line.replace(err, "")
    return kept


@dataclass(frozen=True, slots=True)
class Match:
    handler: int
    groups: list[str | None]


@dataclass
class MatcherVerdict:
    """What the last chunk means for the step."""

    event: list[str | None] | None = None
    """The match array of the latest capturing handler (becomes ``input.event``)."""
    finish: str | None = None
    """None (keep going), "done", "kill" or "break"."""
    buffer: str = ""
    triggers: list[tuple[str, list[str | None]]] = field(default_factory=list)
    notifications: list[tuple[object, list[str | None]]] = field(default_factory=list)
    """Each ``notify`` value that matched (a template the method renders), with its match array."""


class Matcher:
    """Feed normalized output chunks; read what the handlers decided."""

    def __init__(self, specs: Sequence[object], *, interactive: bool = False) -> None:
        # Handlers without an event are ignored, as in the original.
        self.handlers = [Handler(compile_js_regex(s.get("event")), s) for s in [*specs, *DEFAULT_HANDLERS]
                         if isinstance(s, Mapping) and s.get("event")]
        self.interactive = interactive
        self.buffer = ""
        self.offset = 0
        self.closed = False
        self.event: list[str | None] | None = None
        self._notify_text = ""
        self._has_notify = any(h.spec.get("notify") for h in self.handlers)

    @staticmethod
    def normalize(text: str) -> str:
        if "\r" not in text:  # the supervisor's text is normalized already; skip two full-text scans
            return text
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def feed(self, text: str) -> MatcherVerdict:
        """``text`` is already ANSI-stripped; returns what happened (possibly nothing)."""
        verdict = MatcherVerdict()
        chunk = self.normalize(text)
        if chunk:
            self.buffer = (self.buffer + chunk)[-WINDOW_CHARS:]
            self.offset += len(chunk)
            if self._has_notify:
                self._notify_text = (self._notify_text + chunk)[-NOTIFY_CHARS:]
        if self.closed or not self.buffer:
            return verdict
        start = self.offset - len(self.buffer)
        for h in self.handlers:
            if h.spec.get("once") and h.fired:
                continue
            if h.spec.get("notify"):
                m = h.pattern.search(self._notify_text)
                if m:
                    h.fired = True
                    self._notify_text = ""
                    verdict.notifications.append((h.spec["notify"], _groups(m)))
                continue
            fresh = [m for m in h.pattern.finditer(self.buffer) if start + m.end() > h.last_end]
            if not fresh:
                continue
            h.fired = True
            h.last_end = start + fresh[-1].end()
            live_errors = collect_errors(self.buffer, self.handlers) if h.is_break else []
            capture = (not h.is_whitelist and (not h.is_break or live_errors)) or h.done or h.kill or bool(h.trigger)
            if capture:
                self.event = verdict.event = _groups(fresh[0])
            if h.trigger:
                verdict.triggers.append((h.trigger, _groups(fresh[0])))
            if h.kill:
                verdict.finish = "kill"
            elif h.is_break and not self.interactive and live_errors:
                verdict.finish, verdict.buffer = "break", self.buffer
            elif h.done:
                verdict.finish = "done"
            if verdict.finish:
                self.closed = True
                break
        return verdict
