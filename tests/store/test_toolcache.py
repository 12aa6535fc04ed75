"""Tool folders kept on the persistent root (the sidecar's npm packages): a new home extracts the copy instead of
running npm, and a copy for other packages, or a damaged one, is named and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from pinokiocloud.store.toolcache import restore_tool, save_tool, tool_paths
from tests.helpers.cli import Cli


def _folder(path: Path) -> Path:
    (path / "lodash" / "fp").mkdir(parents=True)
    (path / "lodash" / "lodash.js").write_text("module.exports = {}\n")
    (path / "lodash" / "fp" / "map.js").write_text("module.exports = 1\n")
    os.symlink("lodash.js", path / "lodash" / "index.js")
    return path


def _listing(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink() else p.read_text() if p.is_file() else "/")
            for p in sorted(folder.rglob("*"))}


def test_a_kept_folder_comes_back_in_a_new_home_and_is_written_once_per_key(tmp_path: Path) -> None:
    root, old = tmp_path / "persist", _folder(tmp_path / "old" / "node_modules")
    assert save_tool(old, root, "sidecar", "lodash@4.17.21")
    assert not save_tool(old, root, "sidecar", "lodash@4.17.21")  # the root holds these already
    new = tmp_path / "new" / "bin" / "sidecar" / "node_modules"
    assert restore_tool(root, "sidecar", "lodash@4.17.21", new) is None
    assert _listing(new) == _listing(old)
    assert os.listdir(new.parent) == ["node_modules"]  # no work folder left


def test_a_copy_for_other_packages_or_none_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    root, new = tmp_path / "persist", tmp_path / "new" / "node_modules"
    assert restore_tool(root, "sidecar", "lodash@4.17.21", new) == "the persistent root holds no copy of sidecar"
    save_tool(_folder(tmp_path / "old"), root, "sidecar", "lodash@4.17.20")
    why = restore_tool(root, "sidecar", "lodash@4.17.21", new)
    assert why == "the copy of sidecar on the persistent root holds 'lodash@4.17.20', this version needs 'lodash@4.17.21'"
    assert not new.exists()


def test_a_damaged_copy_is_named_leaves_nothing_behind_and_is_kept(tmp_path: Path) -> None:
    root, new = tmp_path / "persist", tmp_path / "new" / "node_modules"
    save_tool(_folder(tmp_path / "old"), root, "sidecar", "k")
    archive, _ = tool_paths(root, "sidecar")
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    why = restore_tool(root, "sidecar", "k", new)
    assert why is not None and why.startswith("the copy of sidecar on the persistent root could not be extracted (")
    assert not new.exists() and os.listdir(new.parent) == []
    assert archive.read_bytes() == bytes(data)


def test_a_new_home_takes_the_sidecar_packages_from_the_root_instead_of_npm(tmp_path: Path,
                                                                          node_modules: Path) -> None:
    """Session 1's daemon keeps its home's npm packages on the root; a new home's daemon has them before node
    starts, from that copy (a file only session 1's folder held comes back)."""
    root = tmp_path / "persist"
    root.mkdir()

    def cli(name: str) -> Cli:
        made = Cli(tmp_path / name, node_modules)
        made.env["PINOKIOCLOUD_PERSIST"] = str(root)
        del made.env["PINOKIOCLOUD_NODE_MODULES"]  # the home's own folder, bin/sidecar/node_modules
        return made

    first = cli("one")
    own = first.home / "bin" / "sidecar" / "node_modules"
    shutil.copytree(node_modules, own, symlinks=True)  # as npm installed them in session 1
    (own / "lodash" / "from-session-1").write_text("1")
    _, manifest = tool_paths(root, "sidecar-node-modules")
    try:
        assert first("status").returncode == 0
        deadline = time.monotonic() + 60
        while not manifest.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert manifest.is_file()
    finally:
        first.close()
    second = cli("two")
    try:
        done = second("status")
        assert done.returncode == 0, done.stdout + done.stderr
        assert (second.home / "bin" / "sidecar" / "node_modules" / "lodash" / "from-session-1").is_file()
        assert "npm packages are not taken from the persistent root" not in (second.home / "logs" / "daemon.log").read_text()
    finally:
        second.close()
