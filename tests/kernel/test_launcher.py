"""Launchers (spec §1.2, §1.6–1.7): pinokio.js + metadata merge, menus evaluated for a state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pinokiocloud.errors import LauncherNotFoundError, ScriptLoadError, ScriptTimeoutError
from pinokiocloud.kernel import Launcher, load_launcher
from tests.helpers.sidecar import SyncSidecar, make_context

# The canonical menu of current launchers (proto's template, app-patterns C5), as our fixture launcher has it.
CANONICAL_MENU = (Path(__file__).resolve().parents[1] / "fixtures" / "launcher" / "pinokio.js").read_text()


def _launcher(sidecar: SyncSidecar, folder: Path, **state: object) -> Launcher:
    home = folder.parent.parent
    return sidecar.run(load_launcher(sidecar.sidecar, folder, make_context(home, **state)))  # type: ignore[arg-type]


@pytest.fixture
def canon(home: Path) -> Path:
    app = home / "api" / "canon"
    app.mkdir()
    (app / "pinokio.js").write_text(CANONICAL_MENU)
    return app


def test_menu_follows_the_app_state(sidecar: SyncSidecar, canon: Path) -> None:
    assert [i["text"] for i in _launcher(sidecar, canon).menu or []] == ["Install"]
    assert [i["text"] for i in _launcher(sidecar, canon, running=[str(canon / "install.js")]).menu or []] == [
        "Installing"]
    (canon / "app" / "env").mkdir(parents=True)
    assert [i["text"] for i in _launcher(sidecar, canon).menu or []] == ["Start", "Reset"]
    start = str(canon / "start.js")
    assert [i["text"] for i in _launcher(sidecar, canon, running=[start]).menu or []] == ["Terminal"]
    menu = _launcher(sidecar, canon, running=[start], local={start: {"url": "http://127.0.0.1:7860"}}).menu
    assert menu is not None
    assert menu[0] == {"default": True, "icon": "fa-solid fa-rocket", "text": "Open Web UI",
                       "href": "http://127.0.0.1:7860", "popout": True}


def test_metadata_files_merge_later_wins_and_bad_menus_drop(sidecar: SyncSidecar, home: Path) -> None:
    app = home / "api" / "meta"
    app.mkdir()
    (app / "pinokio.js").write_text("module.exports = { title: 'js', icon: 'icon.png', version: '3.0', menu: "
                                    "[{ text: 'Go', href: 'start.js' }] }")
    (app / "pinokio_meta.json").write_text(json.dumps({"title": "meta", "posts": ["a"], "menu": "not a menu"}))
    (app / "pinokio.json").write_text(json.dumps({"title": "json", "description": "d"}))
    found = _launcher(sidecar, app)
    assert found.meta == {"title": "json", "icon": "icon.png", "version": "3.0", "posts": ["a"], "description": "d"}
    assert found.menu == [{"text": "Go", "href": "start.js"}]
    assert [p.name for p in found.files] == ["pinokio.js", "pinokio_meta.json", "pinokio.json"]


def test_launcher_in_a_pinokio_subfolder(sidecar: SyncSidecar, home: Path) -> None:
    app = home / "api" / "sub"
    (app / "pinokio").mkdir(parents=True)
    (app / "pinokio" / "pinokio.js").write_text(
        "module.exports = { title: 'sub', menu: (kernel, info) => [{ text: String(info.exists('install.js')), "
        "href: info.path('install.js') }] }")
    (app / "pinokio" / "install.js").write_text("module.exports = { run: [] }")
    found = _launcher(sidecar, app)
    assert found.root == app / "pinokio"
    assert found.menu == [{"text": "true", "href": str(app / "pinokio" / "install.js")}]


def test_menu_function_sync_and_required_from_another_file(sidecar: SyncSidecar, home: Path) -> None:
    app = home / "api" / "ff"
    app.mkdir()
    (app / "pinokio.js").write_text("module.exports = { version: '5.0', title: 'ff', "
                                    "menu: require(__dirname + '/menu.js') }")
    (app / "menu.js").write_text(
        "module.exports = async (kernel, info) => [{ text: 'Run', href: 'run.js', params: { run: true, "
        "mode: 'default' }, shown: info.exists('.env') }, { text: 'n', menu: [{ text: 'sub', href: 's.js' }] }]")
    found = _launcher(sidecar, app)
    assert found.menu == [
        {"text": "Run", "href": "run.js", "params": {"run": True, "mode": "default"}, "shown": False},
        {"text": "n", "menu": [{"text": "sub", "href": "s.js"}]},
    ]


def test_info_facade_reads_the_snapshot(sidecar: SyncSidecar, home: Path) -> None:
    app = home / "api" / "info"
    app.mkdir()
    (app / "pinokio.js").write_text("""
      module.exports = { menu: (kernel, info) => [{ text: JSON.stringify({
        running: info.running('start.js'), local: info.local('start.js'), global: info.global('start.js'),
        ready: info.ready('start.js'), notReady: info.ready('install.js'), path: info.path('app'),
        byHome: info.ready('~/api/info/start.js'),
      }), href: 'x' }] }
    """)
    start = str(app / "start.js")
    found = _launcher(sidecar, app, running=[start + "?session=abc"], ready=[start],
                      local={start + "?session=abc": {"url": "u"}}, global_={start: {"n": 1}})
    assert found.menu is not None
    assert json.loads(found.menu[0]["text"]) == {
        "running": True, "local": {"url": "u"}, "global": {"n": 1}, "ready": True, "notReady": False,
        "path": str(app / "app"), "byHome": True,
    }


def test_older_kernel_menu_forms(sidecar: SyncSidecar, home: Path) -> None:
    app = home / "api" / "old"
    (app / "app" / "env").mkdir(parents=True)
    (app / "pinokio.js").write_text("""
      const path = require('path')
      module.exports = {
        version: '3.0',
        menu: async (kernel) => {
          let installing = await kernel.running(__dirname, 'install.js')
          let installed = await kernel.exists(__dirname, 'app', 'env')
          let session = kernel.memory.local[path.resolve(__dirname, 'start.js')]
          return [{ text: [installing, installed, session && session.url].join('|'), href: 'start.js' }]
        }
      }
    """)
    start = str(app / "start.js")
    found = _launcher(sidecar, app, local={start: {"url": "http://x"}})
    assert found.menu == [{"text": "false|true|http://x", "href": "start.js"}]


def test_launcher_with_only_metadata_has_no_menu(sidecar: SyncSidecar, home: Path) -> None:
    app = home / "api" / "plain"
    app.mkdir()
    (app / "pinokio.json").write_text('{"title": "plain"}')
    found = _launcher(sidecar, app)
    assert (found.meta, found.menu) == ({"title": "plain"}, None)


def test_folder_without_launcher_is_a_user_error(sidecar: SyncSidecar, home: Path) -> None:
    empty = home / "api" / "empty"
    empty.mkdir()
    with pytest.raises(LauncherNotFoundError, match="not a Pinokio launcher folder"):
        _launcher(sidecar, empty)


def test_throwing_menu_names_the_line(sidecar: SyncSidecar, home: Path) -> None:
    app = home / "api" / "throws"
    app.mkdir()
    (app / "pinokio.js").write_text("module.exports = {\n  menu: (kernel, info) => {\n    return info.nope()\n  }\n}\n")
    with pytest.raises(ScriptLoadError, match=r"TypeError: info\.nope is not a function") as err:
        _launcher(sidecar, app)
    assert (err.value.file, err.value.line) == (str(app / "pinokio.js"), 3)


def test_endless_async_menu_times_out(node_modules: Path, home: Path) -> None:
    sc = SyncSidecar(node_modules, call_timeout_s=1)
    try:
        app = home / "api" / "hang"
        app.mkdir()
        (app / "pinokio.js").write_text("module.exports = { menu: async () => new Promise(() => {}) }")
        with pytest.raises(ScriptTimeoutError, match=r"pinokio\.js"):
            sc.run(load_launcher(sc.sidecar, app, make_context(home)))
        (app / "pinokio.js").write_text("module.exports = { menu: [] }")
        assert sc.run(load_launcher(sc.sidecar, app, make_context(home))).menu == []
    finally:
        sc.close()
