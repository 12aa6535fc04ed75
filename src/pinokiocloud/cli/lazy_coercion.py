"""Typer checks a parameter's value with a Pydantic ``TypeAdapter``, built the first time the parameter is
processed, even when it has no value. Importing Pydantic for that costs about 0.2 s, a quarter of a
`pinokiocloud status` (whose optional APP is usually absent). Here the adapter is built only once a value
is there; a missing value comes out as Typer's own coercion gives it (``None``, or ``()`` for a multiple
option), so nothing a user sees changes (tests/cli/test_import_cost.py pins both).

It leans on Typer's private ``_coercion`` module and ``_TyperParameter``: a Typer that no longer has them
leaves the CLI as it is (0.2 s slower), never broken."""

from __future__ import annotations

from dataclasses import dataclass

from typer._click import Context
from typer._coercion import RuntimeParam, build_runtime_param
from typer.core import _TyperParameter

__all__ = ["install"]


@dataclass(frozen=True)
class _OnFirstValue(RuntimeParam):
    """Typer's own coercion, built when a value first arrives (``RuntimeParam.coerce`` answers ``None`` itself)."""

    def _coerce_value(self, value: object, param: _TyperParameter, ctx: Context) -> object:
        real = build_runtime_param(param.type_descriptor)
        param._runtime_param = real  # the next value goes straight to it
        return real._coerce_value(value, param=param, ctx=ctx)


def _get_runtime_param(self: _TyperParameter) -> RuntimeParam:
    if self._runtime_param is None:
        descriptor = self.type_descriptor
        self._runtime_param = _OnFirstValue(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)
    return self._runtime_param


def install() -> None:
    """Make every Typer parameter build its Pydantic coercion on its first value (when this Typer has the
    hook, as 0.29 does)."""
    if callable(getattr(_TyperParameter, "get_runtime_param", None)) and hasattr(RuntimeParam, "_coerce_value"):
        _TyperParameter.get_runtime_param = _get_runtime_param  # type: ignore[method-assign]
