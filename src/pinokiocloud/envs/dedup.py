"""``fs.link {venv}``: identical files across app venvs become hard links of one copy (the original's link
step and Pinokio 8.1's "disk saver" do the same on one filesystem).

Each file of a venv is hashed (sha256 plus its mode, so an executable and a plain copy stay apart) and
looked up in a store of hard links under ``PINOKIO_HOME/cache/dedup``; a match replaces the file with a
link to the stored copy (atomically: link beside it, then rename over it). Installers replace files
rather than write into them (pip, uv), so a later install into one venv never changes another.
Only space that is really freed counts as saved: a file whose old copy is still linked elsewhere (uv's
cache) saves nothing.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

from pinokiocloud.store.blobs import hash_file

__all__ = ["MIN_SIZE", "DedupResult", "dedupe_venv", "store_dir"]

MIN_SIZE = 4096
"""Smaller files fit in one disk block: linking them saves next to nothing."""


@dataclass(frozen=True, slots=True)
class DedupResult:
    venv: Path
    files: int
    """Files looked at."""
    linked: int
    """Files that now share a copy with another venv."""
    bytes_saved: int
    skipped: str | None = None
    """Why nothing was done, when nothing could be."""

    def line(self) -> str:
        if self.skipped:
            return f"[fs.link] venv {self.venv}: {self.skipped}"
        return (f"[fs.link] venv {self.venv}: {self.files} files, {self.linked} share a copy with identical files, "
                f"{self.bytes_saved / 1e6:.1f} MB saved")


def store_dir(home: Path) -> Path:
    return home / "cache" / "dedup"


def dedupe_venv(venv: Path, home: Path) -> DedupResult:
    """Link every file of ``venv`` that another venv (seen before) has too. Blocking: call it in a thread."""
    if not (venv / "pyvenv.cfg").exists() and not (venv / "bin" / "python").exists():
        return DedupResult(venv, 0, 0, 0, skipped="not a Python venv (no pyvenv.cfg); nothing to link")
    store = store_dir(home)
    store.mkdir(parents=True, exist_ok=True)
    if os.stat(store).st_dev != os.stat(venv).st_dev:
        return DedupResult(venv, 0, 0, 0, skipped=f"on another filesystem than {store}; hard links cannot "
                                                  "cross filesystems, so nothing was linked")
    files = linked = saved = 0
    for root, _dirs, names in os.walk(venv):
        for name in names:
            path = Path(root) / name
            try:
                st = path.lstat()
            except OSError:
                continue
            if not path.is_file() or path.is_symlink() or st.st_size < MIN_SIZE:
                continue
            files += 1
            try:
                key = f"{hash_file(path)}-{st.st_mode & 0o7777:o}"
            except OSError:
                continue
            blob = store / key[:2] / key
            try:
                bst = blob.stat()
            except FileNotFoundError:
                blob.parent.mkdir(exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    os.link(path, blob)
                continue
            if bst.st_ino == st.st_ino:
                linked += 1
                continue
            tmp = path.with_name(f".{name}.pinokiocloud-link")
            try:
                tmp.unlink(missing_ok=True)
                os.link(blob, tmp)
                os.replace(tmp, path)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                if exc.errno == errno.EXDEV:
                    return DedupResult(venv, files, linked, saved, skipped="crosses filesystems; stopped")
                continue
            linked += 1
            if st.st_nlink == 1:
                saved += st.st_size
    return DedupResult(venv, files, linked, saved)
