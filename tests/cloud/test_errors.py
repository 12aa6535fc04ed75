"""Bad input is one sentence naming the problem and the command that fixes it, exit 2, before anything is
provisioned; with SkyPilot installed and no cloud enabled (this machine's real state)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinokiocloud.cloud.backup import back_up
from pinokiocloud.store.db import Store

BIN = Path(sys.executable).parent / "pinokiocloud"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINOKIO", "SKYPILOT"))}
    env.update({"HOME": str(tmp_path / "home"), "PINOKIO_HOME": str(tmp_path / "pinokio")})
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def _fails_cleanly(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


@pytest.mark.slow
def test_no_cloud_enabled_names_sky_check_and_provisions_nothing(tmp_path: Path, sky_python: Path) -> None:
    cli = sky_python.parent / "pinokiocloud"
    done = subprocess.run([str(cli), "cloud", "launch", "bria-rmbg", "--infra", "runpod"], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300, check=False)
    _fails_cleanly(done, "runpod is not enabled in SkyPilot", "sky check runpod")
    done = subprocess.run([str(cli), "cloud", "launch", "bria-rmbg", "--gpus", "L4:1"], env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300, check=False)
    _fails_cleanly(done, "no cloud is enabled in SkyPilot", "`sky check`")
    assert not (tmp_path / "home" / ".sky" / "generated").exists()  # no cluster config was written

def test_a_missing_token_and_bad_flags_are_refused_before_skypilot(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env.pop("MY_PRIVATE_TOKEN", None)
    _fails_cleanly(subprocess.run([str(BIN), "cloud", "launch", "bria-rmbg", "--secret", "MY_PRIVATE_TOKEN"],
                                  env=env, capture_output=True, text=True, timeout=60, check=False),
                   "MY_PRIVATE_TOKEN", "export MY_PRIVATE_TOKEN")
    _fails_cleanly(subprocess.run([str(BIN), "cloud", "launch", "bria-rmbg", "--secret", "TOKEN=abc"],
                                  env=env, capture_output=True, text=True, timeout=60, check=False),
                   "not NAME=VALUE")
    _fails_cleanly(subprocess.run([str(BIN), "cloud", "launch", "bria-rmbg", "--gpus", "L4:x", "--dry-run"],
                                  env=env, capture_output=True, text=True, timeout=60, check=False), "--gpus")
    _fails_cleanly(subprocess.run([str(BIN), "cloud", "launch", "bria-rmbg", "--persist", "/tmp/x", "--dry-run"],
                                  env=env, capture_output=True, text=True, timeout=60, check=False), "bucket URL")
    _fails_cleanly(subprocess.run([str(BIN), "cloud", "launch", "no-such-app-zz", "--dry-run"],
                                  env=env, capture_output=True, text=True, timeout=60, check=False), "no app")


def test_without_skypilot_a_cluster_command_says_how_to_install_it(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['sky'] = None\n"  # the import system's own 'not installed'
            "from pinokiocloud.cli.main import main; main(['cloud', 'status'])")
    done = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True,
                          timeout=60, check=False)
    _fails_cleanly(done, "SkyPilot is not installed", "pip install skypilot")


def test_the_backup_holds_a_consistent_db_the_registry_and_masked_settings(tmp_path: Path) -> None:
    home = tmp_path / "pinokio"
    (home / "api" / "demo").mkdir(parents=True)
    store = Store(home / "pinokiocloud.db")
    store.put_app("demo", "https://example.invalid/demo.git", home / "api" / "demo", {"title": "Demo"})
    store.put_setting("hf_token", "hf_secret-value-123")
    store.put_setting("restart", "on-failure")
    (home / "ENVIRONMENT").write_text("A=1\n")
    persist = tmp_path / "bucket"
    persist.mkdir()
    with pytest.raises(Exception, match="does not exist"):
        back_up(home, tmp_path / "not-mounted")
    results = [back_up(home, persist) for _ in range(7)]  # the daemon's connection stays open meanwhile
    store.close()
    latest = results[-1].folder
    kept = sorted(p.name for p in (persist / "pinokiocloud-backups").iterdir() if p.is_dir())
    assert len(kept) == 5 and kept[-1] == latest.name
    assert set(results[-1].files) == {"pinokiocloud.db", "apps.json", "settings.json", "ENVIRONMENT",
                                      "manifest.json"}
    assert (latest / "pinokiocloud.db").stat().st_mode & 0o777 == 0o600
    assert "hf_secret-value-123" not in (latest / "settings.json").read_text()
    assert '"restart": "on-failure"' in (latest / "settings.json").read_text()
    copy = Store(latest / "pinokiocloud.db")
    assert copy.app("demo") is not None and copy.setting("hf_token") == "hf_secret-value-123"
    copy.close()
