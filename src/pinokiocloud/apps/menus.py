"""Menus: a launcher's menu items made uniform (what each item opens) and its script hrefs resolved."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from pinokiocloud.errors import BadParamError
from pinokiocloud.kernel.launcher import find_launcher_root

__all__ = ["MenuItem", "Params", "normalize_item", "script_path", "split_href", "stringify"]

MenuItem = dict[str, object]
"""One menu item as the launcher wrote it (arbitrary JSON), plus ``kind`` and what it points at."""
Params = dict[str, object]
"""Script arguments from a menu item or an href's query (strings, or lists of strings)."""


def stringify(value: object) -> object:
    """Menu params reach scripts through a query string in the original: every value is a string."""
    if isinstance(value, list):
        return [stringify(v) for v in value]
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def split_href(href: str) -> tuple[str, Params]:
    """``start.js?mode=fast&x=1&x=2&_=a`` → (``start.js``, {mode: "fast", x: ["1", "2"], _: ["a"]})."""
    parts = urlsplit(href)
    params: Params = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        seen = params.get(key)
        if key == "_":
            params["_"] = [*seen, value] if isinstance(seen, list) else [value]
        elif key in params:
            params[key] = [*seen, value] if isinstance(seen, list) else [seen, value]
        else:
            params[key] = value
    return parts.path, params


def script_path(folder: Path, href: str) -> tuple[Path, Params]:
    """The script an href names inside an app's launcher, and its query as params; a one-sentence error
    when there is no such file."""
    rel, params = split_href(href)
    root = find_launcher_root(folder) or folder
    path = (root / rel).resolve()
    if not path.is_file():
        raise BadParamError(f"{href!r} is not a script of {folder.name} (looked for {path})")
    return path, params


def normalize_item(item: object, root: Path, is_running: Callable[[str], bool]) -> MenuItem | None:
    """An item with ``kind`` (``url``, ``route``, ``script``, ``file``) and, for a script, its absolute path
    and whether it runs; ``None`` for labels and items with nothing to show or do."""
    if not isinstance(item, dict) or item.get("type") == "label":
        return None
    out: MenuItem = {str(k): v for k, v in item.items()}
    submenu = item.get("menu")
    if isinstance(submenu, list):
        out["menu"] = [n for n in (normalize_item(i, root, is_running) for i in submenu) if n is not None]
    href = item.get("href")
    if isinstance(href, str) and href:
        given = item.get("params")
        params = {str(k): stringify(v) for k, v in given.items()} if isinstance(given, dict) else {}
        if re.match(r"^https?://", href):
            out["kind"] = "url"
        elif href.startswith("/"):
            out["kind"] = "route"
        else:
            rel, query = split_href(href)
            target = (root / rel).resolve()
            out["params"] = {**query, **params}
            if target.is_file() and target.suffix in (".js", ".json"):
                out["kind"] = "script"
                out["script"] = str(target)
                out["running"] = is_running(str(target))
            else:
                out["kind"] = "file"
                out["path"] = str(target)
    if not (out.get("html") or out.get("text")):
        return None
    if not any(out.get(k) for k in ("href", "shell", "run", "action", "menu", "html")):
        return None
    return out
