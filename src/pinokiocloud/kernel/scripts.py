"""Loading Pinokio script files and rendering their steps through the Node sidecar (spec §1.3, §2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pinokiocloud.errors import ScriptLoadError, SidecarError
from pinokiocloud.kernel.bridge import NodeSidecar, reply
from pinokiocloud.kernel.context import KernelContext

__all__ = [
    "UNDEFINED",
    "LoadedScript",
    "RenderedStep",
    "load_script",
    "render_script",
    "render_steps",
    "render_template",
]


class _Undefined:
    """JavaScript's ``undefined``, which a ``when``-style render (allow_undefined) can return."""

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()


@dataclass(frozen=True, slots=True)
class LoadedScript:
    path: Path
    kind: str
    """json | object | function | class | esm-object | esm-function."""
    data: object
    """The script as data; functions appear as the string ``"[function]"``."""


@dataclass(frozen=True, slots=True)
class RenderedStep:
    index: int
    step: object
    runs: bool
    """False when the step's ``when`` says to skip it."""


async def load_script(sidecar: NodeSidecar, path: Path, ctx: KernelContext) -> LoadedScript:
    """Load a ``.json``/``.js`` script, calling a function export with the ``kernel`` facade."""
    path = path.resolve()
    if not path.is_file():
        raise ScriptLoadError(str(path), "no such file")
    result = reply(await sidecar.call("load", {"path": str(path), "context": ctx.to_wire()}, subject=str(path)),
                   "load")
    return LoadedScript(path, str(result.get("kind")), result.get("script"))


async def render_template(
    sidecar: NodeSidecar, template: object, ctx: KernelContext, *,
    memory: Mapping[str, object] | None = None, overrides: Mapping[str, object] | None = None,
    allow_undefined: bool = False,
) -> object:
    """Render one value the way the engine renders anything (spec §2.1–2.2), one pass."""
    params = {"template": template, "vars": dict(memory or {}), "globals": dict(overrides or {}),
              "context": ctx.to_wire(), "allow_undefined": allow_undefined}
    result = reply(await sidecar.call("render", params), "render")
    return UNDEFINED if result.get("undefined") else result.get("value")


async def render_steps(
    sidecar: NodeSidecar, steps: Sequence[object], ctx: KernelContext, *,
    memory: Mapping[str, object] | None = None, overrides: Mapping[str, object] | None = None,
) -> list[RenderedStep]:
    """Render whole steps in one call: passes, ``{{{ }}}`` flatten, ``when`` (spec §2.3–2.4)."""
    params = {"templates": list(steps), "step": True, "vars": dict(memory or {}),
              "globals": dict(overrides or {}), "context": ctx.to_wire()}
    results = await sidecar.call("render", params)
    if not isinstance(results, list):
        raise SidecarError(f"the Node sidecar answered render of steps with {type(results).__name__}, not a list")
    return [_rendered(reply(r, "render"), i) for i, r in enumerate(results)]


def _rendered(item: dict[str, object], index: int) -> RenderedStep:
    at = item.get("index", index)
    return RenderedStep(at if isinstance(at, int) else index, item.get("step"), bool(item.get("runs")))


async def render_script(
    sidecar: NodeSidecar, path: Path, ctx: KernelContext, *,
    steps: Sequence[int] | None = None, action: str = "run",
    memory: Mapping[str, object] | None = None, overrides: Mapping[str, object] | None = None,
) -> list[RenderedStep]:
    """Load a script and render the chosen steps of ``action`` with ``self`` set to the script."""
    path = path.resolve()
    if not path.is_file():
        raise ScriptLoadError(str(path), "no such file")
    params = {"path": str(path), "action": action, "steps": list(steps) if steps is not None else None,
              "vars": dict(memory or {}), "globals": dict(overrides or {}), "context": ctx.to_wire()}
    result = reply(await sidecar.call("render_script", params, subject=str(path)), "render_script")
    listed = result.get("steps")
    return [_rendered(reply(s, "render_script"), i) for i, s in enumerate(listed if isinstance(listed, list) else [])]
