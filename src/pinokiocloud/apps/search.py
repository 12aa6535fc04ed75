"""Ranking installed apps and catalog entries against a typed query, in the spirit of the original's
``pterm search``: the query is split into terms, and each item is scored by where and how the terms match.

Rules, in order of importance:

1. An item that matches more of the query's terms ranks higher ("remove background" puts the app that matches
   both words above apps that match one).
2. Then the score: each matched term adds ``FIELD_WEIGHTS[field] * MATCH_WEIGHTS[kind]`` for every field it is
   found in, so a match in the title beats one in the tags, which beats one in the description, and a whole
   word beats a word prefix, which beats a substring ("voice" inside "VibeVoice").
3. Then the order the items were given in (the sort is stable), so callers decide ties, e.g. installed apps
   before catalog entries.

Matching is case-insensitive. Words are runs of letters and digits; a field also matches with its word
separators removed, so "stablediffusion" finds "Stable Diffusion". Substrings count only for terms of
``MIN_SUBSTRING_CHARS`` or more characters, and common short words ("to", "the") are dropped from queries that
have other words, so they do not pull in every description. An empty query lists every item, in order.

Pure and dependency-free: the manager feeds installed apps' metadata and the catalog's entries alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

__all__ = [
    "FIELD_WEIGHTS",
    "MATCH_WEIGHTS",
    "MIN_SUBSTRING_CHARS",
    "Match",
    "SearchHit",
    "SearchItem",
    "Source",
    "rank",
    "terms",
]

Source = Literal["installed", "catalog"]


class Match(IntEnum):
    """How a term matched a field; a higher value is a better match."""

    SUBSTRING = 1
    PREFIX = 2
    WORD = 3


FIELD_WEIGHTS = {"title": 4, "tags": 2, "description": 1}
"""The id counts as part of the title (users type ids: ``comfyui``, ``a1111``)."""
MATCH_WEIGHTS = {Match.SUBSTRING: 1, Match.PREFIX: 2, Match.WORD: 3}
MIN_SUBSTRING_CHARS = 3
_STOPWORDS = frozenset({"a", "an", "and", "app", "for", "from", "in", "is", "of", "on", "or", "the", "to", "with"})
_WORD_RE = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class SearchItem:
    """Something a user can search for: an installed app or a catalog entry."""

    id: str
    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    source: Source = "catalog"

    def __post_init__(self) -> None:
        if not isinstance(self.tags, tuple):  # callers pass lists from JSON; keep the record hashable
            object.__setattr__(self, "tags", tuple(self.tags))


@dataclass(frozen=True, slots=True)
class SearchHit:
    item: SearchItem
    score: int
    """Sum of field weight times match weight over the matched terms; 0 for an empty query."""
    matched: tuple[str, ...] = field(default=())
    """The query terms this item matched, in query order."""


@dataclass(frozen=True, slots=True)
class _Field:
    """One searchable field: its words, and each part with its separators removed (for substrings)."""

    words: tuple[str, ...]
    compact: str
    """Parts joined by a space, so a substring never spans two parts (two tags, or the title and the id)."""

    @classmethod
    def of(cls, *parts: str) -> _Field:
        split = [_WORD_RE.findall(part.casefold()) for part in parts]
        return cls(tuple(w for words in split for w in words), " ".join("".join(words) for words in split))

    def match(self, term: str) -> Match | None:
        if term in self.words:
            return Match.WORD
        if any(word.startswith(term) for word in self.words):
            return Match.PREFIX
        if len(term) >= MIN_SUBSTRING_CHARS and term in self.compact:
            return Match.SUBSTRING
        return None


def terms(query: str) -> list[str]:
    """The query's search terms: lower-case words, each once, without stopwords unless that leaves none."""
    words = list(dict.fromkeys(_WORD_RE.findall(query.casefold())))
    meaningful = [w for w in words if w not in _STOPWORDS]
    return meaningful or words


def rank(query: str, items: Iterable[SearchItem], *, min_match: int = 1) -> list[SearchHit]:
    """Items that match at least ``min_match`` of the query's terms (all, when the query has fewer), best first.

    An empty query (or one with no words) returns every item in the given order with score 0.
    """
    wanted = terms(query)
    if not wanted:
        return [SearchHit(item, 0) for item in items]
    needed = max(1, min(min_match, len(wanted)))
    scored: list[tuple[int, int, int, SearchHit]] = []
    for position, item in enumerate(items):
        hit = _score(item, wanted)
        if len(hit.matched) >= needed:
            scored.append((-len(hit.matched), -hit.score, position, hit))
    scored.sort(key=lambda row: row[:3])
    return [row[3] for row in scored]


def _score(item: SearchItem, wanted: Sequence[str]) -> SearchHit:
    fields = {
        "title": _Field.of(item.title, item.id),
        "tags": _Field.of(*item.tags),
        "description": _Field.of(item.description),
    }
    score = 0
    matched: list[str] = []
    for term in wanted:
        term_score = 0
        for name, value in fields.items():
            kind = value.match(term)
            if kind is not None:
                term_score += FIELD_WEIGHTS[name] * MATCH_WEIGHTS[kind]
        if term_score:
            matched.append(term)
            score += term_score
    return SearchHit(item, score, tuple(matched))
