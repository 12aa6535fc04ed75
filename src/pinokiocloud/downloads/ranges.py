"""Which bytes of a ``.partial`` are done, kept in a small state file beside it so a crash resumes safely.

A parallel download writes several regions of one file at once, so "the partial's size" no longer says how
much is there. ``<target>.partial.state`` (JSON, a few hundred bytes) holds the done byte ranges, the file's
size and the validator (``ETag`` or ``Last-Modified``) every resume sends as ``If-Range``: when the file
changed on the server, the server answers with the whole new file instead of a piece of it, and the old bytes
are thrown away instead of spliced to the new ones.

A partial with no state file (left by a single-stream download, or by an older version) is taken as done
from 0 to its size, which is what a sequential writer leaves.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

__all__ = ["STATE_SUFFIX", "RangeSet", "RangeState", "state_path"]

STATE_SUFFIX = ".state"
"""Added to the ``.partial`` name: ``model.bin.partial.state``."""
_VERSION = 1


class StateJson(TypedDict):
    """The state file's content."""

    version: int
    url: str
    total: int | None
    validator: str | None
    sequential: bool
    done: list[list[int]]


def state_path(partial: Path) -> Path:
    return partial.with_name(partial.name + STATE_SUFFIX)


class RangeSet:
    """Sorted, disjoint, half-open byte ranges ``[start, end)``; adding merges neighbours."""

    def __init__(self, ranges: list[tuple[int, int]] | None = None) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in ranges or []:
            self.add(start, end)

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        i = bisect.bisect_left(self._ends, start)  # first range that ends at or after start
        j = bisect.bisect_right(self._starts, end)  # ranges from i to j-1 touch [start, end)
        if i < j:
            start = min(start, self._starts[i])
            end = max(end, self._ends[j - 1])
        self._starts[i:j] = [start]
        self._ends[i:j] = [end]

    def ranges(self) -> list[tuple[int, int]]:
        return list(zip(self._starts, self._ends, strict=True))

    def done(self) -> int:
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def prefix(self) -> int:
        """How many bytes from 0 are done without a hole."""
        return self._ends[0] if self._starts and self._starts[0] == 0 else 0

    def gaps(self, total: int) -> list[tuple[int, int]]:
        """The ranges of ``[0, total)`` not done yet."""
        found: list[tuple[int, int]] = []
        at = 0
        for start, end in zip(self._starts, self._ends, strict=True):
            if start >= total:
                break
            if start > at:
                found.append((at, start))
            at = max(at, end)
        if at < total:
            found.append((at, total))
        return found

    def covers(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end


@dataclass
class RangeState:
    """The resume facts of one partial: its done ranges, its size and the validator of its content."""

    url: str
    total: int | None = None
    validator: str | None = None
    """The ETag (strong) or Last-Modified the bytes on disk came with; sent as ``If-Range``."""
    sequential: bool = True
    """Written front to back by one connection: then the partial's size is the done prefix."""
    done: RangeSet = field(default_factory=RangeSet)

    def to_json(self) -> StateJson:
        return {"version": _VERSION, "url": self.url, "total": self.total, "validator": self.validator,
                "sequential": self.sequential, "done": [list(r) for r in self.done.ranges()]}

    @classmethod
    def load(cls, partial: Path, url: str) -> RangeState:
        """The state of ``partial`` (nothing done when there is no partial; legacy partials are a prefix)."""
        try:
            size = partial.stat().st_size
        except FileNotFoundError:
            with contextlib.suppress(FileNotFoundError):
                state_path(partial).unlink()
            return cls(url)
        try:
            raw = json.loads(state_path(partial).read_text())
            if not isinstance(raw, dict) or raw.get("version") != _VERSION:
                raise ValueError("unknown state")
            total = raw.get("total")
            validator = raw.get("validator")
            state = cls(
                url,
                total=int(total) if isinstance(total, int) else None,
                validator=str(validator) if isinstance(validator, str) else None,
                sequential=bool(raw.get("sequential", True)),
            )
            if state.sequential:
                state.done.add(0, size)
            else:
                for start, end in raw.get("done", []):
                    state.done.add(int(start), min(int(end), size))
            return state
        except FileNotFoundError:  # a partial from a single stream (or an older version): a prefix
            state = cls(url)
            state.done.add(0, size)
            return state
        except (OSError, ValueError, TypeError):
            return cls(url)  # a state that cannot be read proves nothing: the file starts over

    def save(self, partial: Path) -> None:
        """Replace the state file in one step (a crash leaves the old one or the new one, never half).

        On a full disk there is no room for the new file: then the old one is overwritten in place (its
        block is already allocated), so the ranges received before the disk filled are kept for the resume.
        """
        path = state_path(partial)
        tmp = path.with_name(path.name + ".tmp")
        text = json.dumps(self.to_json()).encode()
        try:
            tmp.write_bytes(text)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            if exc.errno != errno.ENOSPC or not path.exists():
                raise
            with path.open("r+b") as fh:
                fh.write(text)
                fh.truncate()

    @staticmethod
    def remove(partial: Path) -> None:
        for path in (state_path(partial), state_path(partial).with_name(state_path(partial).name + ".tmp")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
