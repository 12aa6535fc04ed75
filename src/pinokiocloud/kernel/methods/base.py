"""What every script method gets: the rendered request and the handle of its run.

Every method has one signature, ``async def m(req: MethodRequest, ctx: RunHandle) -> object``, and its
return value becomes the next step's ``input`` (spec §3); a ``Jump`` (``ctx.jump(...)``) also picks the next
step. A method that cannot do its job raises ``MethodError`` with a sentence for the user; the runner turns
it into a failed step.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pinokiocloud.kernel.handle import Jump, MethodError, RunHandle

__all__ = ["METHODS", "Jump", "MethodError", "MethodFn", "MethodRequest", "RunHandle", "closest_method", "method"]


@dataclass(slots=True)
class MethodRequest:
    method: str
    params: object
    """The step's ``params`` as the launcher wrote them (any JSON value, rendered)."""
    step: dict[str, object]
    """The whole rendered step (``params``, ``when``, ``next``, custom keys …)."""
    cwd: Path
    input: object
    args: object
    current: int
    total: int

    def param(self, *names: str, default: object = None) -> object:
        """The first of ``names`` present in ``params`` (many methods accept aliases: uri|url, dir|path)."""
        if isinstance(self.params, dict):
            for name in names:
                if name in self.params and self.params[name] is not None:
                    return self.params[name]
        return default

    def params_dict(self) -> dict[str, object]:
        if self.params is None:
            return {}
        if not isinstance(self.params, dict):
            raise MethodError(f"params must be an object, got {type(self.params).__name__}")
        return self.params


MethodFn = Callable[[MethodRequest, RunHandle], Awaitable[object]]
METHODS: dict[str, MethodFn] = {}
"""Every method by name; importing ``kernel.methods`` fills it (one module per family)."""


def method(*names: str) -> Callable[[MethodFn], MethodFn]:
    """Register a function under one or more method names (``@method("fs.rm", "fs.remove")``)."""

    def register(fn: MethodFn) -> MethodFn:
        for name in names:
            if name in METHODS:
                raise RuntimeError(f"method {name} registered twice")
            METHODS[name] = fn
        return fn

    return register


def closest_method(name: str) -> str | None:
    matches = difflib.get_close_matches(name, list(METHODS), n=1, cutoff=0.75)
    return matches[0] if matches else None
