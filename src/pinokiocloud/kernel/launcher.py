"""A launcher folder: ``pinokio.js`` merged with its metadata files, and its evaluated menu (spec §1.2, §1.6)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pinokiocloud.errors import LauncherNotFoundError, ScriptLoadError
from pinokiocloud.kernel.bridge import NodeSidecar, reply
from pinokiocloud.kernel.context import KernelContext

__all__ = ["Launcher", "find_launcher_root", "load_launcher"]

_LAUNCHER_FILES = ("pinokio.js", "pinokio.json", "pinokio_meta.json")


@dataclass(frozen=True, slots=True)
class Launcher:
    folder: Path
    root: Path
    """Where ``pinokio.js`` lives: the folder, or its ``pinokio/`` subfolder."""
    files: list[Path]
    meta: dict[str, object]
    """Merged metadata (title, description, icon, version, …) without the menu."""
    menu: list[object] | None
    """The menu for the state in the context, or None when the launcher has none."""


def find_launcher_root(folder: Path) -> Path | None:
    if (folder / "pinokio.js").is_file():
        return folder
    if (folder / "pinokio" / "pinokio.js").is_file():
        return folder / "pinokio"
    if any((folder / name).is_file() for name in _LAUNCHER_FILES):
        return folder
    return None


async def load_launcher(sidecar: NodeSidecar, folder: Path, ctx: KernelContext) -> Launcher:
    """Load a launcher and evaluate its menu (a function gets ``(kernel, info)``) for ``ctx``'s state."""
    folder = folder.resolve()
    root = find_launcher_root(folder) if folder.is_dir() else None
    if root is None:
        raise LauncherNotFoundError(str(folder))
    result = reply(await sidecar.call(
        "launcher", {"dir": str(folder), "context": ctx.to_wire()}, subject=str(root / "pinokio.js")
    ), "launcher")
    menu = result.get("menu")
    found = Path(str(result.get("root") or root))
    if menu is not None and not isinstance(menu, list):
        raise ScriptLoadError(str(found / "pinokio.js"),
                              f"its menu function returned {_kind(menu)}, not a list of menu items",
                              kind="MenuError")
    files, meta = result.get("files"), result.get("meta")
    return Launcher(folder, found, [Path(str(f)) for f in (files if isinstance(files, list) else [])],
                    meta if isinstance(meta, dict) else {}, menu)


def _kind(value: object) -> str:
    """How a JSON value reads in a sentence: ``a number (5)``, ``an object``."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"
