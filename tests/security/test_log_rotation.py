"""Logs cannot fill the disk: a command printing more than the cap leaves its app's log folder within the
cap with the newest output kept, and a 10 MB value never lands whole in ``daemon.log``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinokiocloud.procs import ManagedProcess
from pinokiocloud.procs.logfiles import LOG_MAX_ENV, MAX_LINE_CHARS, folder_size

CHILD_ENV = dict(os.environ)
MB = 1024 * 1024
# 8 MB of numbered lines, then a marker: the cap is 1 MB
FLOOD = ("import sys\n"
         "for i in range(80000): sys.stdout.write('line %06d ' % i + 'x' * 88 + '\\n')\n"
         "print('THE END', flush=True)\n")


async def _flood(folder: Path, name: str, log_max_bytes: int | None = None) -> None:
    proc = await ManagedProcess.spawn([sys.executable, "-c", FLOOD], cwd=folder, env=CHILD_ENV,
                                      log_path=folder / name, log_max_bytes=log_max_bytes)
    assert await asyncio.wait_for(proc.wait(), 60) == 0


def test_a_flood_leaves_the_app_log_folder_within_the_cap_with_the_newest_output(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch
                                                                                 ) -> None:
    monkeypatch.setenv(LOG_MAX_ENV, "1")  # the default cap comes from the setting
    folder = tmp_path / "logs" / "shell" / "app"
    folder.mkdir(parents=True)
    old = folder / "start.js.old-run.0.0.log"
    old.write_bytes(b"an earlier run\n" * 40000)  # 600 KB from an earlier run
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    asyncio.run(_flood(folder, "start.js.new-run.0.0.log"))
    assert folder_size(folder) <= 1 * MB, sorted((p.name, p.stat().st_size) for p in folder.iterdir())
    current = (folder / "start.js.new-run.0.0.log").read_bytes()
    assert current.rstrip().endswith(b"THE END")
    assert b"line 079999" in current
    assert b"line 000000" not in current + (folder / "start.js.new-run.0.0.log.1").read_bytes()
    assert not old.exists(), "the oldest log of the folder should have made room for the newest output"


def test_an_explicit_cap_is_kept_by_each_app_folder_and_other_apps_keep_theirs(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "shell" / "mine", tmp_path / "shell" / "theirs"
    theirs.mkdir(parents=True)
    mine.mkdir(parents=True)
    (theirs / "run.log").write_bytes(b"y" * 300_000)
    asyncio.run(_flood(mine, "run.log", log_max_bytes=MB // 2))
    assert folder_size(mine) <= MB // 2
    assert (theirs / "run.log").stat().st_size == 300_000


DAEMON = """
import logging, sys
from pathlib import Path
from pinokiocloud.procs.logfiles import configure_daemon_logging
configure_daemon_logging(Path(sys.argv[1]), max_bytes=1024 * 1024)
body = "B" * 10_000_000
logging.getLogger("pinokiocloud.server").warning("bad request body: %s", body)
try:
    raise ValueError(body)
except ValueError:
    logging.getLogger("uvicorn.error").exception("handler failed")
print("printed:", body, flush=True)
sys.stderr.write("stderr:" + body + "\\n")
for i in range(30000):
    logging.getLogger("pinokiocloud").info("line %d %s", i, "z" * 100)
logging.getLogger("pinokiocloud").info("LAST RECORD")
print("LAST PRINT", flush=True)
import time; time.sleep(0.5)
"""


def test_daemon_log_lines_are_cut_and_the_file_rotates_within_its_cap(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "daemon.log"
    done = subprocess.run([sys.executable, "-c", DAEMON, str(log)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", "stdout and stderr must go into daemon.log"
    files = sorted(log.parent.iterdir())
    assert sum(p.stat().st_size for p in files) <= 1024 * 1024 + 64 * 1024, [(p.name, p.stat().st_size) for p in files]
    text = "".join(p.read_text() for p in files)
    assert max(len(line) for line in text.splitlines()) <= MAX_LINE_CHARS + 200
    assert "LAST RECORD" in text and "LAST PRINT" in text
    assert "B" * (MAX_LINE_CHARS + 1) not in text


def test_the_huge_values_are_cut_with_a_count_of_what_was_left_out(tmp_path: Path) -> None:
    script = DAEMON.split("for i in range")[0] + "import time; time.sleep(0.5)\n"
    log = tmp_path / "daemon.log"
    subprocess.run([sys.executable, "-c", script, str(log)], check=True, timeout=60)
    text = log.read_text()
    assert "bad request body: BBB" in text and "more characters]" in text
    assert "ValueError: BBB" in text and "Traceback" in text
    assert "printed: BBB" in text and "stderr:BBB" in text and "more bytes]" in text
    assert log.stat().st_size < 64 * 1024


def test_the_store_keeps_a_flooding_run_within_its_cap_with_the_newest_events(tmp_path: Path) -> None:
    from pinokiocloud.store.db import Store

    store = Store(tmp_path / "state.db")
    cap = 100_000
    seq = 0
    for batch in range(40):  # 2000 events of about 1 KB: twenty times the cap
        rows = []
        for _ in range(50):
            seq += 1
            rows.append((seq, "flood", "app/flood.js", "stream", None, None, 0.0, {"raw": f"{seq:06d}" + "x" * 1000}))
        store.add_numbered_events(rows, max_bytes_per_run=cap)
        kept = store.events("flood", limit=10_000)
        assert sum(len(json.dumps(e["data"])) for e in kept) <= cap * 3 // 2 + 1100, batch
    store.add_numbered_events([(seq + 1, "other", "b.js", "stream", None, None, 0.0, {"raw": "kept"})],
                              max_bytes_per_run=cap)
    kept = store.events("flood", limit=10_000)
    assert kept[-1]["data"]["raw"].startswith(f"{seq:06d}") and kept[0]["seq"] > 1000
    assert [e["data"]["raw"] for e in store.events("other")] == ["kept"]
    store.close()


def test_an_access_log_rotates_within_its_cap_and_leaves_its_neighbours_alone(tmp_path: Path) -> None:
    from pinokiocloud.procs.logfiles import RotatingLog

    folder = tmp_path / "logs" / "share"
    folder.mkdir(parents=True)
    neighbour = folder / "other-app.access.log"
    neighbour.write_text("GET / 200\n" * 20000)
    os.utime(neighbour, (time.time() - 3600, time.time() - 3600))
    access = RotatingLog(folder / "app.access.log", 100_000, whole_folder=False)
    for i in range(5000):
        access.write(f"127.0.0.1 GET /file/{i} 200 {'a' * 60}\n")
    access.close()
    mine = [folder / "app.access.log", folder / "app.access.log.1"]
    assert sum(p.stat().st_size for p in mine) <= 100_000
    assert (folder / "app.access.log").read_text().endswith(f"/file/4999 200 {'a' * 60}\n")
    assert neighbour.stat().st_size == len("GET / 200\n") * 20000
