"""Package front doors whose names load on first use (PEP 562).

A package such as ``pinokiocloud.share`` is the one place other layers import from, but importing all of it
at once costs the daemon's start and every CLI command the heavy libraries behind a few of its names. Its
``__init__`` names each export's module; a name is imported when it is first read, then kept.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping, Sequence

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, Sequence[str]], namespace: MutableMapping[str, object],
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``homes`` maps each submodule to the names it exports,
    ``namespace`` is the package's ``globals()`` (a loaded name is stored there, so it costs one lookup)."""
    home_of = {name: module for module, names in homes.items() for name in names}

    def getattr_(name: str) -> object:
        module = home_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *home_of})

    return getattr_, dir_
