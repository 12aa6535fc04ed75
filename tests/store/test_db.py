"""The SQLite store: WAL, bounded events, interrupted runs, memory and settings survive reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pinokiocloud.store import EVENTS_KEPT_PER_RUN, RunRecord, Store


def _run(key: str, state: str, daemon: bool = True) -> RunRecord:
    return RunRecord(key, f"/h/api/a/{key}.js", "a", f"/h/api/a/{key}.js", "start.js", "run", {"x": 1}, state,
                     daemon, None, None, None, 1.0, None)


def test_wal_mode_and_everything_survives_reopening(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = Store(db)
    store.put_app("a", "https://x/a.git", tmp_path / "a", {"kind": "git"})
    store.put_run(_run("k1", "idle"))
    store.put_memory("global", "/h/api/a/start.js", {"n": 2})
    store.put_setting("autorestore", False)
    store.close()
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = Store(db)
    assert [a.name for a in again.apps()] == ["a"] and again.apps()[0].meta == {"kind": "git"}
    assert again.runs()[0].args == {"x": 1}
    assert again.memory("global") == {"/h/api/a/start.js": {"n": 2}}
    assert again.setting("autorestore") is False


def test_alive_runs_are_marked_interrupted(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.put_run(_run("alive", "idle"))
    store.put_run(_run("done", "done"))
    interrupted = store.mark_interrupted(["starting", "running", "idle"])
    assert [r.key for r in interrupted] == ["alive"]
    assert {r.key: r.state for r in store.runs()} == {"alive": "interrupted", "done": "done"}


def test_events_are_bounded_per_run(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.add_events(("k", "id", "stream", 0, 1, float(i), {"i": i}) for i in range(EVENTS_KEPT_PER_RUN + 50))
    store.add_events([("other", "id2", "stream", 0, 1, 0.0, {"i": -1})])
    kept = store.events("k")
    assert len(kept) == EVENTS_KEPT_PER_RUN and kept[0]["data"] == {"i": 50}
    assert len(store.events("other")) == 1
    assert [e["data"]["i"] for e in store.events("k", after=kept[-2]["seq"])] == [EVENTS_KEPT_PER_RUN + 49]
