"""The generated task, loaded by SkyPilot's own ``Task.from_yaml_config`` (the real package), for several apps
and option sets; secret values never in the YAML text."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from pinokiocloud.cloud.task import AppSource, LaunchOptions, build_task, dump_yaml

pytestmark = pytest.mark.slow

SECRET_VALUES = {"HF_TOKEN": "hf_never-in-yaml-3141", "CIVITAI_API_KEY": "civitai-never-in-yaml-2718",
                 "PINOKIOCLOUD_SHARE_PASSCODE": "correct-horse-battery-staple-77"}

_LOAD = r"""
import json, sys
import sky
results = []
for case in json.load(sys.stdin):
    try:
        task = sky.Task.from_yaml_config(case["config"], secrets_overrides=list(case["secrets"].items()))
        (res,) = list(task.resources)[:1]
        results.append({"ok": True, "name": task.name, "secrets": {k: getattr(v, "get_secret_value", lambda v=v: v)() for k, v in task.secrets.items()}, "envs": dict(task.envs),
                        "ports": list(res.ports or []), "disk": res.disk_size,
                        "accelerators": sorted({a for r in task.resources for a in (r.accelerators or {})}),
                        "autostop": res.autostop_config.idle_minutes if res.autostop_config and res.autostop_config.enabled else None,
                        "storage": sorted(task.storage_mounts), "file_mounts": sorted(task.file_mounts or {})})
    except Exception as exc:
        results.append({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
print(json.dumps(results))
"""


def _cases(tmp_path: Path) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    launcher = tmp_path / "my-launcher"
    launcher.mkdir()
    (launcher / "pinokio.js").write_text("module.exports = {}\n")
    wheel = tmp_path / "pinokiocloud-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    catalog = AppSource("catalog", "vibevoice", "vibevoice", vram_gb=8, disk_gb=20, gpu="nvidia")
    git = AppSource("git", "https://github.com/example/some-launcher.git", "some-launcher", commit="a" * 40,
                    vram_gb=20, disk_gb=120)
    cpu = AppSource("catalog", "bria-rmbg", "bria-rmbg")
    folder = AppSource("folder", str(launcher), "my-launcher")
    return [
        ("catalog app, defaults", build_task(LaunchOptions(catalog), ("HF_TOKEN",))),
        ("git + commit, runpod, bucket, share", build_task(LaunchOptions(
            git, infra="runpod", persist="s3://my-models", share=True, secrets=("CIVITAI_API_KEY",)),
            ("HF_TOKEN",))),
        ("flag gpus, k8s, volume, no autostop", build_task(LaunchOptions(
            cpu, gpus="A100-80GB:2", infra="k8s", persist="volume:pinokio-data", idle_minutes=0, disk_gb=300))),
        ("folder launcher, local wheel, gcs bucket", build_task(LaunchOptions(
            folder, install_spec=str(wheel), persist="gs://bucket/sub", port=9000))),
    ]


def test_skypilot_loads_every_generated_task_and_secrets_stay_out_of_the_yaml(tmp_path: Path,
                                                                              sky_python: Path) -> None:
    cases = _cases(tmp_path)
    broken = build_task(LaunchOptions(AppSource("catalog", "x", "x")))
    broken["resources"]["disk_size"] = "lots"  # proves the schema check can refuse
    texts = [dump_yaml(task) for _, task in cases]
    for text in texts:
        for value in SECRET_VALUES.values():
            assert value not in text
        parsed = yaml.safe_load(text)
        assert all(v is None for v in parsed["secrets"].values())
    payload = [{"config": yaml.safe_load(text), "secrets": {k: SECRET_VALUES[k] for k in yaml.safe_load(text)
                                                            ["secrets"] if k in SECRET_VALUES}} for text in texts]
    payload.append({"config": broken, "secrets": {}})
    done = subprocess.run([str(sky_python), "-c", _LOAD], input=json.dumps(payload), capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    by_name = dict(zip([name for name, _ in cases], results, strict=False))
    for name, result in by_name.items():
        assert result["ok"], (name, result)
    assert not results[-1]["ok"] and "disk_size" in results[-1]["error"]

    default = by_name["catalog app, defaults"]
    assert default["secrets"]["HF_TOKEN"] == SECRET_VALUES["HF_TOKEN"]  # the value joins only at launch
    assert default["ports"] == ["8080"] and default["disk"] == 100 and default["autostop"] == 1
    assert {"L4", "A10G", "T4"} <= set(default["accelerators"])
    git = by_name["git + commit, runpod, bucket, share"]
    assert git["storage"] == ["/pinokio-persist"] and git["disk"] == 180
    assert "T4" not in git["accelerators"] and "L4" in git["accelerators"]  # 20 GB: more than a T4 has
    assert git["envs"]["PINOKIOCLOUD_SHARE_PROVIDERS"].endswith(",lan")
    flag = by_name["flag gpus, k8s, volume, no autostop"]
    assert flag["accelerators"] == ["A100-80GB"] and flag["autostop"] is None and flag["disk"] == 300
    folder = by_name["folder launcher, local wheel, gcs bucket"]
    assert folder["ports"] == ["9000"]
    assert "~/pinokiocloud-upload/launchers/my-launcher" in folder["file_mounts"]
    assert "~/pinokiocloud-upload/pinokiocloud-0.1.0-py3-none-any.whl" in folder["file_mounts"]
