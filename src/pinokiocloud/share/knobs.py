"""The tunable numbers of the share layer's long-lived objects: one frozen dataclass per object.

The share manager (probe and race timings) and the guess limiter (rates and delays) each take about ten
numbers. Each names its numbers once, as the fields of a :class:`Knobs` subclass that checks them in
``__post_init__``; the object keeps that one value (``manager.timings``, ``limiter.policy``) instead of a
copy of every argument on ``self``, and callers still pass single numbers as keyword arguments, which
:meth:`Knobs.but` applies.
"""

from __future__ import annotations

import dataclasses
from typing import TypeVar

__all__ = ["Knobs"]

K = TypeVar("K", bound="Knobs")


@dataclasses.dataclass(frozen=True, slots=True)
class Knobs:
    """Base of a set of numbers; subclasses add the fields and check them in ``__post_init__``."""

    def but(self: K, **overrides: float) -> K:
        """A copy with ``overrides`` applied (checked again); a name that is no field is a ``TypeError``,
        as an unknown keyword argument would be."""
        if not overrides:
            return self
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting {', '.join(map(repr, unknown))} "
                            f"(it has {', '.join(sorted(names))})")
        return dataclasses.replace(self, **overrides)
