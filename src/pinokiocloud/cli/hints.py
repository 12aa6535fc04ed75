"""``did_you_mean``: the hint under a "no such app / script / catalog id" error, from what exists now."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

__all__ = ["did_you_mean"]

_NO_APP = re.compile(r"no app named '([^']+)' is installed")
_NO_SCRIPT = re.compile(r"^'([^']+)' is not a script of (\S+) ")
_NO_SOURCE = re.compile(r"^'([^']+)' is not a git URL, a catalog id or an absolute folder path")
_NOT_SCRIPTS = ("pinokio.js", "pinokio.json", "pinokio_meta.json", "package.json")


def did_you_mean(message: str) -> str:
    """A "did you mean …?" for a mistyped app, script or catalog id, from what exists now; empty when the
    daemon is not running or nothing is close."""
    try:
        from pinokiocloud.client import Client

        client = Client(autostart=False)
        if not client.is_up():
            return ""
        if found := _NO_APP.search(message):
            wanted, known = found.group(1), [str(a["name"]) for a in client.apps()]
        elif found := _NO_SCRIPT.search(message):
            wanted = found.group(1)
            folder = Path(str(client.status(found.group(2))["path"]))
            known = sorted(str(p.relative_to(folder)) for p in [*folder.glob("*.js"), *folder.glob("*.json")]
                           if p.name not in _NOT_SCRIPTS)
        elif found := _NO_SOURCE.search(message):
            wanted, known = found.group(1), [str(e["id"]) for e in client.catalog()["data"]]
        else:
            return ""
    except Exception:  # a hint must never hide the error it is for
        return ""
    close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
