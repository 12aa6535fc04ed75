"""Install sources and menu items: what the user typed or the launcher wrote, decided before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinokiocloud.apps.catalog import load_catalog
from pinokiocloud.apps.menus import normalize_item, script_path, split_href
from pinokiocloud.apps.sources import Source, check_name, default_name, resolve_source
from pinokiocloud.errors import BadParamError, InstallError


def test_an_href_query_becomes_params_with_repeats_as_lists() -> None:
    assert split_href("start.js?mode=fast&x=1&x=2&_=a") == ("start.js", {"mode": "fast", "x": ["1", "2"], "_": ["a"]})


def test_menu_items_say_what_they_open(tmp_path: Path) -> None:
    (tmp_path / "start.js").write_text("module.exports = { run: [] }")
    running = {str(tmp_path / "start.js")}
    script = normalize_item({"text": "Go", "href": "start.js?a=1", "params": {"b": True}}, tmp_path,
                            running.__contains__)
    assert script == {"text": "Go", "href": "start.js?a=1", "params": {"a": "1", "b": "true"}, "kind": "script",
                      "script": str(tmp_path / "start.js"), "running": True}
    web = normalize_item({"text": "Web", "href": "https://x.org"}, tmp_path, running.__contains__)
    assert web is not None and web["kind"] == "url"
    assert normalize_item({"type": "label", "text": "—"}, tmp_path, running.__contains__) is None
    assert normalize_item({"text": "nothing to do"}, tmp_path, running.__contains__) is None
    with pytest.raises(BadParamError, match="is not a script of"):
        script_path(tmp_path, "missing.js")


def test_install_sources_are_decided_before_anything_is_copied(tmp_path: Path) -> None:
    home = tmp_path / "pinokio"
    (home / "api" / "inside").mkdir(parents=True)
    launcher = tmp_path / "launcher"
    launcher.mkdir()
    (launcher / "pinokio.js").write_text("module.exports = {}")
    catalog = load_catalog(home)
    assert resolve_source("https://github.com/a/b.git", home, catalog) == Source("git", "https://github.com/a/b.git")
    assert resolve_source(str(launcher), home, catalog) == Source("folder", str(launcher.resolve()))
    entry = catalog.entries[0]
    assert resolve_source(entry.id, home, catalog) == Source("catalog", str(entry.url))
    for src, says in [("relative/dir", "absolute folder path"), (str(tmp_path), "holds PINOKIO_HOME"),
                      (str(home / "api" / "inside"), "where installed apps live"), ("", "empty"),
                      ("a\nb", "control character"), (str(tmp_path / "nope"), "not a folder")]:
        with pytest.raises(InstallError, match=says):
            resolve_source(src, home, catalog)
    assert default_name("https://github.com/x/My Repo.git") == "My-Repo"
    with pytest.raises(BadParamError):
        check_name("app\n")
