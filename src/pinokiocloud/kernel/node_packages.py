"""npm packages that launcher code expects next to it: ``lodash`` is ``_`` in every template (spec §2.1).

They are installed once into a folder of PINOKIO_HOME with the npm that ships with the node we use.
A machine with no registry access still works; ``_`` is then undefined and a warning is logged. With a
persistent root, the installed folder is kept there (``store.toolcache``) and a new home extracts it instead
of running npm again.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from pinokiocloud.procs.captured import run_captured_sync
from pinokiocloud.store.toolcache import restore_tool, save_tool

__all__ = ["SIDECAR_PACKAGES", "ensure_node_packages", "keep_node_packages", "node_packages_installed", "npm_command",
           "restore_node_packages"]

log = logging.getLogger(__name__)

SIDECAR_PACKAGES = ("lodash@4.17.21",)
INSTALL_TIMEOUT_S = 120
RETRY_AFTER_FAILURE_S = 3600
_FAILED_MARK = ".install-failed"
_TOOL = "sidecar-node-modules"
"""Its name on the persistent root (``ROOT/tools/``)."""


def npm_command(node: Path) -> list[str]:
    """The npm that belongs to ``node`` (its bundled npm-cli.js), else ``npm`` on PATH."""
    for cli in (
        node.parent.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js",
        node.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js",
        node.parent.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js",
    ):
        if cli.is_file():
            return [str(node), str(cli)]
    npm = shutil.which("npm")
    return [npm] if npm else []


def node_packages_installed(node_modules: Path) -> bool:
    """Whether every one of SIDECAR_PACKAGES is under ``node_modules``."""
    return all((node_modules / spec.rsplit("@", 1)[0]).is_dir() for spec in SIDECAR_PACKAGES)


def ensure_node_packages(node_modules: Path, node: Path) -> bool:
    """Install SIDECAR_PACKAGES under ``node_modules`` unless present; True when they are there."""
    if node_packages_installed(node_modules):
        return True
    prefix = node_modules.parent
    mark = prefix / _FAILED_MARK
    if mark.exists() and time.time() - mark.stat().st_mtime < RETRY_AFTER_FAILURE_S:
        return False
    npm = npm_command(node)
    if not npm:
        log.warning("no npm found next to %s; templates will have no `_` (lodash)", node)
        return False
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = [*npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save", *SIDECAR_PACKAGES]
    done = run_captured_sync(cmd, timeout_s=INSTALL_TIMEOUT_S)
    ok = done.code == 0 and node_packages_installed(node_modules)
    detail = f"npm ran past {INSTALL_TIMEOUT_S:g} s" if done.timed_out else done.output.strip()[-300:]
    if not ok:
        mark.write_text(detail)
        log.warning("could not install %s into %s: %s", ", ".join(SIDECAR_PACKAGES), prefix, detail)
    return ok


def _kept_here(node_modules: Path, home: Path) -> bool:
    """Only the home's own folder goes to the root: one that ``PINOKIOCLOUD_NODE_MODULES`` names is the user's."""
    return node_modules.is_relative_to(home)


def restore_node_packages(node_modules: Path, *, home: Path, root: Path) -> str | None:
    """Put the packages kept on ``root`` into a home that lacks them; ``None`` when they are there now (or
    were already), else why not, in one line (npm then installs them as before)."""
    if node_packages_installed(node_modules) or not _kept_here(node_modules, home):
        return None
    return restore_tool(root, _TOOL, " ".join(SIDECAR_PACKAGES), node_modules)


def keep_node_packages(node_modules: Path, *, home: Path, root: Path) -> bool:
    """Keep the installed packages on ``root`` unless it already holds these; whether a copy was written."""
    if not node_packages_installed(node_modules) or not _kept_here(node_modules, home):
        return False
    return save_tool(node_modules, root, _TOOL, " ".join(SIDECAR_PACKAGES))
