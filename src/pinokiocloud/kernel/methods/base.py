"""What every script method gets: the rendered request and a context to act on the run.

Every method has one signature, ``async def m(req: MethodRequest, ctx: MethodContext) -> Any``, and
its return value becomes the next step's ``input`` (spec §3). A method that cannot do its job
raises ``MethodError`` with a sentence for the user; the runner turns it into a failed step.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pinokiocloud.kernel.runner import Run, Runner

__all__ = ["METHODS", "MethodContext", "MethodError", "MethodFn", "MethodRequest", "closest_method", "method"]


class MethodError(Exception):
    """A method's failure, in words for the user (the runner adds script and step)."""


@dataclass(slots=True)
class MethodRequest:
    method: str
    params: Any
    step: dict[str, Any]
    """The whole rendered step (``params``, ``when``, ``next``, custom keys …)."""
    cwd: Path
    input: Any
    args: Any
    current: int
    total: int

    def param(self, *names: str, default: Any = None) -> Any:
        """The first of ``names`` present in ``params`` (many methods accept aliases: uri|url, dir|path)."""
        if isinstance(self.params, dict):
            for name in names:
                if name in self.params and self.params[name] is not None:
                    return self.params[name]
        return default

    def params_dict(self) -> dict[str, Any]:
        if self.params is None:
            return {}
        if not isinstance(self.params, dict):
            raise MethodError(f"params must be an object, got {type(self.params).__name__}")
        return self.params


@dataclass
class MethodContext:
    runner: Runner
    run: Run
    step: int
    total: int
    next_override: list[int | None] = field(default_factory=list)
    """Set by ``jump``: the step to go to next (None ends the run)."""
    step_ids: list[str | None] = field(default_factory=list)
    """The ``id`` of each step of the running action (for ``jump {id}``)."""

    @property
    def home(self) -> Path:
        return self.runner.home

    def emit(self, type_: str, data: Any = None) -> None:
        self.runner.emit(self.run, type_, data, step=self.step, total=self.total)

    def print(self, text: str) -> None:
        """Write to the run's terminal, as the original's ``ondata({raw})``."""
        self.emit("stream", {"raw": text if text.endswith("\n") else text + "\r\n"})

    def resolve(self, uri: str, cwd: Path | None = None) -> Path:
        path = self.runner.resolve(uri, cwd or self.run.cwd)
        if path is None:
            raise MethodError(f"{uri} names an app that is not cloned under {self.home / 'api'}")
        return path

    def jump(self, index: int | None) -> None:
        self.next_override[:] = [index]


MethodFn = Callable[[MethodRequest, MethodContext], Awaitable[Any]]
METHODS: dict[str, MethodFn] = {}


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
