"""The early restore's worker: ``python -m pinokiocloud.store.unpack_worker`` reads ``{root, allow_download,
jobs}`` as JSON on stdin (``jobs``: a list of ``{name, app_dir, expected_id}``; nothing at all: there is nothing
to restore, and it ends) and, one app after the other, checks its archive and
writes it out next to its folder (``envarchive.unpack_archive``), telling ``store.early`` what happens as JSON
lines on stdout: ``checked`` (with the reason when the archive cannot be used), ``progress``, ``unpacked``
(where the folder is) or ``failed`` (the error's kind and sentence).

Why a process of its own: in a thread of ``serve`` the extraction hardly overlapped the daemon's imports
(measured on tmpfs, a numpy/scipy/pillow venv: imports plus extraction 2.0 s in one process, 1.3-1.6 s in two).
It loads what it needs before it reads its jobs: ``serve`` starts it first and finds the jobs meanwhile.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import zstandard

from pinokiocloud.store.envarchive import check_archive, unpack_archive

__all__ = ["main"]


def _say(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def main() -> int:
    given = sys.stdin.read()
    if not given.strip():
        return 0
    order = json.loads(given)
    root, allow_download = Path(str(order["root"])), order["allow_download"] is True
    for job in order["jobs"]:
        name, app_dir = str(job["name"]), Path(str(job["app_dir"]))
        expected = job.get("expected_id")
        try:
            manifest, reason = check_archive(root, name, app_dir, allow_python_download=allow_download,
                                             expected_id=expected if isinstance(expected, str) else None)
            if reason is not None or manifest is None:
                _say(name=name, event="checked", reason=reason or f"the archive of {name} cannot be read")
                continue
            _say(name=name, event="checked", reason=None, total=int(manifest.get("size") or 0))

            def progress(done: int, total: int, name: str = name) -> None:
                _say(name=name, event="progress", done=done, total=total)

            unpacked = unpack_archive(root, name, app_dir, manifest, progress)
        except (OSError, tarfile.TarError, zstandard.ZstdError) as exc:
            kind = "ZstdError" if isinstance(exc, zstandard.ZstdError) else (
                "TarError" if isinstance(exc, tarfile.TarError) else "OSError")
            _say(name=name, event="failed", kind=kind, message=str(exc))
            continue
        _say(name=name, event="unpacked", work=str(unpacked.work), folder=str(unpacked.folder),
             files=unpacked.files, bytes=unpacked.bytes, seconds=unpacked.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
