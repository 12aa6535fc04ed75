"""Conda without a system install (issue 14): real launcher scripts through the real runner against a local
channel built by the test, over file:// and over a loopback HTTP server."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinokiocloud.envs import conda
from pinokiocloud.kernel.runner import RunState
from tests.envs.channel import Package, hello, make_package, script, serve, write_repodata
from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness


def _harness(sidecar: SyncSidecar, home: Path, channels: str) -> Harness:
    return Harness(sidecar, home, environ={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
                                           "PINOKIOCLOUD_CONDA_CHANNELS": channels})


@pytest.fixture
def h(sidecar: SyncSidecar, home: Path, channel: Path) -> Iterator[Harness]:
    harness = _harness(sidecar, home, channel.as_uri())
    yield harness
    harness.close()


def _conda(home: Path, *args: str, channels: str, env: dict[str, str] | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The ``conda`` command exactly as an app shell runs it (the shim in the base env)."""
    base = conda.base_prefix(home)
    return subprocess.run([str(base / "bin" / "conda"), *args], capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "PINOKIOCLOUD_CONDA_CHANNELS": channels, **(env or {})})


def test_conda_path_creates_and_activates_an_env_and_its_package_runs(h: Harness) -> None:
    run = h.run("a.js", """
        const path = require('path')
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { conda: { path: path.resolve(__dirname, '.env') },
            message: "conda install -y world && world && echo prefix=$CONDA_PREFIX && python -V" }, returns: "local.r" },
          { method: "shell.run", params: { conda: ".env", message: "echo again=$CONDA_DEFAULT_ENV" }, returns: "local.a" },
        ] }
    """)
    assert run.state is RunState.IDLE, run.error
    env = h.app / ".env"
    out = h.local(run)["r"]["stdout"]
    assert "world\r\nhello 2.0" in out or "world\nhello 2.0" in out, out
    assert f"prefix={env}" in out and "Python 3.10.20 (fake)" in out  # created with the default python=3.10
    assert h.local(run)["a"]["stdout"].strip() == f"again={env}"
    assert (env / "bin" / "world").exists() and "[conda] creating" in h.printed(run)


def test_conda_path_with_python_and_activate_d_scripts(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { conda: { path: "e312", python: "3.12", args: ["envvar"] },
            message: "python -V; echo var=$ENVVAR_ACTIVE" }, returns: "local.r" },
        ] }
    """)
    assert run.state is RunState.IDLE, run.error
    assert h.local(run)["r"]["stdout"].split() == ["Python", "3.12.0", "(fake)", "var=yes"]


def test_bare_conda_install_goes_to_base_with_channel_forms(h: Harness, channel: Path) -> None:
    run = h.run("a.js", f"""
        module.exports = {{ daemon: true, run: [
          {{ method: "shell.run", params: {{ message: "conda install -y -c {channel.as_uri()} hello=1.0" }} }},
          {{ method: "shell.run", params: {{ message: "hello; echo $CONDA_DEFAULT_ENV $PIP_REQUIRE_VIRTUALENV" }}, returns: "local.one" }},
          {{ method: "shell.run", params: {{ message: "conda install --yes {channel.as_uri()}::hello=2.0 && hello" }}, returns: "local.two" }},
          {{ method: "shell.run", params: {{ message: "conda install conda=25.5.1 --yes && conda --version" }}, returns: "local.self" }},
          {{ method: "shell.run", params: {{ conda: {{ skip: true }}, message: "echo ${{CONDA_PREFIX-none}}; command -v conda" }}, returns: "local.skip" }},
        ] }}
    """)
    assert run.state is RunState.IDLE, run.error
    base = conda.base_prefix(h.home)
    assert h.local(run)["one"]["stdout"].split() == ["hello", "1.0", "base", "true"]
    assert h.local(run)["two"]["stdout"].strip().endswith("hello 2.0")
    assert (base / "bin" / "hello").exists()
    said = h.local(run)["self"]["stdout"]
    assert "conda=25.5.1: not installed; this conda is PinokioCloud's own command" in said
    assert "conda 25.5.1 (PinokioCloud's conda command on py-rattler" in said
    assert h.local(run)["skip"]["stdout"].split()[0] == "none"


def test_activate_deactivate_env_list_run_info_update_remove_in_a_shell(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { daemon: true, run: [
          { method: "shell.run", params: { chain: true, message: [
            "conda create -y -p ./made hello=1.0",
            "conda activate ./made", "hello", "echo active=$CONDA_DEFAULT_ENV",
            "conda update -y hello", "hello",
            "conda env list | grep -c made",
            "conda deactivate", "echo back=$CONDA_DEFAULT_ENV",
            "conda run -p ./made hello",
            "conda info --base",
            "conda remove -y -p ./made hello", "conda list -p ./made | grep -c hello || true",
          ] }, returns: "local.r" },
        ] }
    """)
    assert run.state is RunState.IDLE, run.error
    lines = [line for line in h.local(run)["r"]["stdout"].splitlines() if not line.startswith("[conda]")
             and not line.startswith("#")]
    made = h.app / "made"
    assert lines == ["hello 1.0", f"active={made}", "hello 2.0", "1", "back=base", "hello 2.0",
                     str(conda.base_prefix(h.home)), "0"], lines


def test_a_spec_that_does_not_solve_fails_the_run_in_one_sentence_and_base_stays_usable(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [
          { method: "shell.run", params: { message: "conda install -y hello=1.0" } },
          { method: "shell.run", params: { message: "conda install -y hello=9.9 nothere" } },
          { method: "shell.run", params: { message: "echo never" } },
        ] }
    """)
    assert run.state is RunState.FAILED
    error = str(run.error)
    assert "conda error: conda could not solve" in error and "hello 9.9" in error, error
    assert "set PINOKIOCLOUD_CONDA_CHANNELS to a channel that has them" in error
    assert "never" not in h.printed(run)
    again = h.run("b.js", 'module.exports = { daemon: true, run: [{ method: "shell.run", params: { message: "hello; conda list | grep -c hello" }, returns: "local.r" }] }')
    assert h.local(again)["r"]["stdout"].split() == ["hello", "1.0", "1"]


def test_conda_env_for_a_package_the_channel_lacks_names_it(h: Harness) -> None:
    run = h.run("a.js", """
        module.exports = { run: [{ method: "shell.run", params: { conda: { path: ".env", args: ["conda-forge::ffmpeg=7.0.2"] }, message: "true" } }] }
    """)
    assert run.state is RunState.FAILED
    assert "could not create the conda env" in str(run.error) and "ffmpeg 7.0.2" in str(run.error)


def test_over_loopback_http_with_hand_written_repodata_and_an_interrupted_install(
        sidecar: SyncSidecar, home: Path, tmp_path: Path) -> None:
    chan = tmp_path / "httpchan"
    for pkg in (hello("1.0"), Package("big", "1.0", {"bin/big": script("echo big"), "share/big.bin": "x" * 4096})):
        make_package(chan, pkg)
    write_repodata(chan)
    with serve(chan, held=["big-1.0-0.tar.bz2"]) as served:
        h = _harness(sidecar, home, served.url)
        try:
            first = h.run("a.js", 'module.exports = { daemon: true, run: [{ method: "shell.run", params: { message: "conda install -y hello && hello" }, returns: "local.r" }] }')
            assert first.state is RunState.IDLE, first.error
            assert h.local(first)["r"]["stdout"].strip().endswith("hello 1.0")
            assert any(r.endswith("hello-1.0-0.tar.bz2") for r in served.requests)
            # An install killed half-way (its download held back) leaves base usable and is finished later.
            base = conda.base_prefix(home)
            proc = subprocess.Popen([str(base / "bin" / "conda"), "install", "-y", "big"],
                                    env={"PATH": "/usr/bin:/bin", "PINOKIOCLOUD_CONDA_CHANNELS": served.url},
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert served.asked_held.wait(30)
            proc.kill()
            proc.wait(10)
            listed = _conda(home, "list", channels=served.url)
            assert listed.returncode == 0 and "hello" in listed.stdout
            assert "an install of big hello was interrupted" in listed.stdout, listed.stdout
            assert not (base / "bin" / "big").exists()
            still = subprocess.run([str(base / "bin" / "hello")], capture_output=True, text=True, check=True)
            assert still.stdout.strip() == "hello 1.0"
            served.release.set()
            done = h.run("b.js", 'module.exports = { daemon: true, run: [{ method: "shell.run", params: { message: "conda install -y hello && big" }, returns: "local.r" }] }')
            assert done.state is RunState.IDLE, done.error
            assert h.local(done)["r"]["stdout"].strip().endswith("big")
            assert conda.pending_specs(base) is None
        finally:
            h.close()


def test_an_unreachable_channel_is_named(sidecar: SyncSidecar, home: Path) -> None:
    h = _harness(sidecar, home, "http://127.0.0.1:9/mirror")
    try:
        started = time.monotonic()
        run = h.run("a.js", 'module.exports = { run: [{ method: "shell.run", params: { message: "conda install -y hello" } }] }')
        assert run.state is RunState.FAILED and time.monotonic() - started < 30
        assert "conda could not reach a channel (http://127.0.0.1:9/mirror)" in str(run.error)
    finally:
        h.close()


def test_channel_names_map_onto_a_configured_mirror() -> None:
    environ = {"PINOKIOCLOUD_CONDA_CHANNELS": "http://m/conda-forge, http://m/nvidia/label/cuda-12.9.1"}
    assert conda.resolve_channels(["nvidia/label/cuda-12.9.1"], environ, override=True) == [
        "http://m/nvidia/label/cuda-12.9.1"]
    assert conda.resolve_channels(["pytorch"], environ, override=True) == ["http://m/conda-forge",
                                                                          "http://m/nvidia/label/cuda-12.9.1"]
    assert conda.resolve_channels(["nvidia"], {}) == ["nvidia", "conda-forge"]
    assert conda.resolve_channels(["/srv/chan"], {}) == ["file:///srv/chan", "conda-forge"]
    assert conda.split_spec("nvidia/label/cuda-12.9.1::cuda-runtime") == ("nvidia/label/cuda-12.9.1", "cuda-runtime")
    assert conda.split_spec("file:///x/chan::hello=1.0") == ("file:///x/chan", "hello=1.0")
    assert conda.split_spec("ffmpeg=*=*gpl*") == (None, "ffmpeg=*=*gpl*")


def test_usage_mistakes_exit_2_in_one_sentence(h: Harness, channel: Path) -> None:
    from pinokiocloud.envs.tools import ensure_shims

    ensure_shims(h.home)
    for args, words in ((["install", "-y"], "needs at least one package spec"),
                        (["frobnicate"], "conda frobnicate is not supported here"),
                        (["create", "-y", "hello"], "needs -p PATH or -n NAME")):
        done = _conda(h.home, *args, channels=channel.as_uri())
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert os.access(conda.base_prefix(h.home) / "condabin" / "conda", os.X_OK)
