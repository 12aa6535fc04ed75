"""Cloud platform detection with fake environments and fake root folders (cloud-and-tunnels §3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinokiocloud.config import Settings
from pinokiocloud.platform import detect_cloud
from pinokiocloud.platform.cloud import PLATFORMS, normalize_platform
from tests.platform.conftest import make_root, mountinfo

HOME = {"HOME": "/root", "PATH": "/usr/bin:/bin"}


def test_colab_with_drive_mounted(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/content/sample_data", "/content/drive/MyDrive"),
                     {"/proc/self/mountinfo": mountinfo(("/content/drive", "fuse.drive"))})
    cloud = detect_cloud({**HOME, "COLAB_RELEASE_TAG": "release-colab_20261120-060047_RC00", "COLAB_GPU": "1"}, root)
    assert (cloud.id, cloud.detected_by, cloud.home) == ("colab", "environment variable COLAB_RELEASE_TAG",
                                                         "/content/pinokio")
    assert cloud.persist.path == "/content/drive/MyDrive"
    assert (cloud.persist.is_mounted, cloud.persist.fs_type) == (True, "fuse.drive")
    assert cloud.exposure.kind == "colab-proxy" and cloud.exposure.url_for(7860) is None
    assert cloud.is_tunnel_allowed is False
    assert any("remote proxies" in p for p in cloud.policy)
    assert cloud.session.max_hours == 12
    assert cloud.warnings == ()


def test_colab_without_drive_warns_how_to_mount_it(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/content",), {"/proc/self/mountinfo": mountinfo()})
    cloud = detect_cloud({**HOME, "COLAB_GPU": "0"}, root)
    assert cloud.persist.is_mounted is False
    assert cloud.warnings == ("/content/drive/MyDrive is not mounted: models and state are lost when the session "
                              "ends; in a notebook cell: from google.colab import drive; "
                              "drive.mount('/content/drive')",)


def test_colab_found_by_its_folder_when_variables_are_gone(tmp_path: Path) -> None:
    cloud = detect_cloud(HOME, make_root(tmp_path, ("/content",)))
    assert (cloud.id, cloud.detected_by) == ("colab", "folder /content")


def test_kaggle_forbids_tunnels_and_uses_its_temp_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/kaggle/working", "/kaggle/input"))
    cloud = detect_cloud({**HOME, "KAGGLE_KERNEL_RUN_TYPE": "Interactive"}, root)
    assert (cloud.id, cloud.home, cloud.persist.path) == ("kaggle", "/kaggle/temp/pinokio", "/kaggle/working")
    assert cloud.persist.is_mounted and cloud.warnings == ()
    assert cloud.is_tunnel_allowed is False and "tunnels" in cloud.policy[0]
    assert cloud.exposure.kind == "none" and cloud.exposure.url_for(7860) is None


def test_lightning_port_url(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/teamspace/studios/this_studio",))
    cloud = detect_cloud({**HOME, "LIGHTNING_CLOUDSPACE_HOST": "01jabcd.cloudspaces.litng.ai",
                          "LIGHTNING_CLOUDSPACE_ID": "01jabcd"}, root)
    assert cloud.id == "lightning"
    assert cloud.home == "/teamspace/studios/this_studio/pinokio"
    assert cloud.exposure.url_for(7860) == "https://7860-01jabcd.cloudspaces.litng.ai"
    assert cloud.persist.is_mounted


def test_runpod_proxy_url_tcp_ports_and_volume(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/workspace",), {"/proc/self/mountinfo": mountinfo(("/workspace", "xfs"))})
    env = {**HOME, "RUNPOD_POD_ID": "k3x9q2vb1", "RUNPOD_PUBLIC_IP": "203.0.113.7", "RUNPOD_TCP_PORT_22": "40122"}
    cloud = detect_cloud(env, root)
    assert (cloud.id, cloud.home, cloud.persist.path) == ("runpod", "/workspace/pinokio", "/workspace")
    assert cloud.exposure.url_for(8188) == "https://k3x9q2vb1-8188.proxy.runpod.net"
    assert cloud.exposure.mapped_ports == {22: "203.0.113.7:40122"}
    assert (cloud.persist.is_mounted, cloud.persist.fs_type) == (True, "xfs")
    assert any("100 s" in p for p in cloud.policy)


def test_runpod_without_a_volume_warns(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/workspace",), {"/proc/self/mountinfo": mountinfo()})
    cloud = detect_cloud({**HOME, "RUNPOD_POD_ID": "k3x9q2vb1"}, root)
    assert cloud.persist.exists and not cloud.persist.is_mounted
    assert "attach a volume at /workspace" in cloud.warnings[0]


def test_vast_maps_only_the_ports_opened_at_creation(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/workspace",))
    env = {**HOME, "VAST_CONTAINERLABEL": "C.12345678", "PUBLIC_IPADDR": "198.51.100.20",
           "VAST_TCP_PORT_7860": "41234", "VAST_TCP_PORT_22": "41200", "VAST_TCP_PORT_BAD": "x"}
    cloud = detect_cloud(env, root)
    assert cloud.id == "vast" and cloud.home == "/workspace/pinokio"
    assert cloud.exposure.url_for(7860) == "http://198.51.100.20:41234"
    assert cloud.exposure.url_for(8188) is None
    assert cloud.exposure.mapped_ports == {22: "198.51.100.20:41200", 7860: "198.51.100.20:41234"}


def test_paperspace_fqdn(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/notebooks", "/storage"))
    cloud = detect_cloud({**HOME, "PAPERSPACE_FQDN": "nabc123.clg07azjl.paperspacegradient.com"}, root)
    assert (cloud.id, cloud.home, cloud.persist.path) == ("paperspace", "/tmp/pinokio", "/notebooks")
    assert cloud.exposure.base_url == "https://nabc123.clg07azjl.paperspacegradient.com/"
    assert cloud.session.max_hours == 6


def test_studio_lab_found_by_its_home_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/home/studio-lab-user",))
    cloud = detect_cloud({"HOME": "/home/studio-lab-user"}, root)
    assert (cloud.id, cloud.detected_by) == ("studiolab", "folder /home/studio-lab-user")
    assert cloud.home == "/home/studio-lab-user/pinokio"
    assert cloud.exposure.kind == "none" and cloud.is_tunnel_allowed
    assert cloud.session.max_hours == 4


def test_modal_has_no_persistent_folder_unless_given(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/vol/models",))
    env = {**HOME, "MODAL_TASK_ID": "ta-01J9ZX", "MODAL_ENVIRONMENT": "main"}
    cloud = detect_cloud(env, root)
    assert (cloud.id, cloud.persist.path, cloud.persist.source) == ("modal", None, "none")
    assert cloud.exposure.kind == "modal-forward"
    given = detect_cloud(env, root, persist=Path("/vol/models"))
    assert (given.persist.path, given.persist.source, given.persist.is_mounted) == (
        "/vol/models", "PINOKIOCLOUD_PERSIST", True)


def test_hugging_face_space_without_persistent_storage(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/home/user/app",), {"/proc/self/mountinfo": mountinfo()})
    env = {"HOME": "/home/user", "SYSTEM": "spaces", "SPACE_ID": "someone/pinokio",
           "SPACE_HOST": "someone-pinokio.hf.space"}
    cloud = detect_cloud(env, root)
    assert (cloud.id, cloud.home) == ("hfspaces", "/home/user/pinokio")
    assert cloud.exposure.base_url == "https://someone-pinokio.hf.space"
    assert "enable persistent storage" in cloud.warnings[0]


def test_plain_linux(tmp_path: Path) -> None:
    cloud = detect_cloud({"HOME": "/home/ada"}, make_root(tmp_path, ("/home/ada",)))
    assert (cloud.id, cloud.name, cloud.detected_by) == ("local", "Linux", "no cloud markers")
    assert cloud.home == "/home/ada/pinokio"
    assert cloud.exposure.url_for(7860) == "http://127.0.0.1:7860"
    assert cloud.persist.path is None and cloud.warnings == () and cloud.policy == ()


def test_workspace_alone_is_ambiguous(tmp_path: Path) -> None:
    cloud = detect_cloud(HOME, make_root(tmp_path, ("/workspace",)))
    assert cloud.id == "local"
    assert "PINOKIOCLOUD_PLATFORM=runpod" in cloud.warnings[0]


def test_workspace_with_a_vast_image_venv_is_vast(tmp_path: Path) -> None:
    cloud = detect_cloud(HOME, make_root(tmp_path, ("/workspace", "/venv/main")))
    assert cloud.id == "vast"


def test_variables_win_over_folders(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/content", "/workspace"))
    assert detect_cloud({**HOME, "RUNPOD_POD_ID": "abc"}, root).id == "runpod"


@pytest.mark.parametrize(("value", "expected"), [
    ("colab", "colab"), ("Vast.ai", "vast"), ("RunPod", "runpod"), ("lightning.ai", "lightning"),
    ("huggingface", "hfspaces"), ("SageMaker Studio Lab", "studiolab"), ("linux", "local"), ("azure", None),
])
def test_override_names(value: str, expected: str | None) -> None:
    assert normalize_platform(value) == expected


def test_override_wins_over_detection(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/content",))
    cloud = detect_cloud({**HOME, "COLAB_GPU": "1"}, root, override="Kaggle")
    assert (cloud.id, cloud.detected_by) == ("kaggle", "PINOKIOCLOUD_PLATFORM=Kaggle")


def test_unknown_override_is_plain_linux_with_a_warning(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/content",))
    cloud = detect_cloud({**HOME, "COLAB_GPU": "1"}, root, override="colb")
    assert cloud.id == "local"
    assert cloud.warnings == ("PINOKIOCLOUD_PLATFORM='colb' is not a platform PinokioCloud knows "
                              f"({', '.join(PLATFORMS)}); using plain Linux ('local')",)


def test_settings_carry_the_override_and_persistent_folder(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/kaggle",))
    settings = Settings.from_env({**HOME, "PINOKIOCLOUD_PLATFORM": " runpod ", "PINOKIOCLOUD_PERSIST": "/gone"})
    assert (settings.cloud_platform, settings.persist, settings.is_home_set) == ("runpod", Path("/gone"), False)
    cloud = detect_cloud(settings.environ, root, override=settings.cloud_platform, persist=settings.persist)
    assert cloud.id == "runpod" and cloud.persist.path == "/gone" and not cloud.persist.exists
    assert cloud.warnings == ("PINOKIOCLOUD_PERSIST=/gone does not exist: nothing is kept across sessions until it "
                              "does (mount the storage or create the folder)",)
    assert Settings.from_env({"PINOKIO_HOME": str(tmp_path)}).is_home_set


def test_mount_points_with_spaces_are_unescaped(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/content/drive/MyDrive", "/mnt/my disk/models"),
                     {"/proc/self/mountinfo": mountinfo(("/content/drive", "fuse.drive"), ("/mnt/my disk", "ext4"))})
    cloud = detect_cloud(HOME, root, persist=Path("/mnt/my disk/models"))
    assert (cloud.persist.exists, cloud.persist.is_mounted, cloud.persist.fs_type) == (True, True, "ext4")
    assert detect_cloud({**HOME, "COLAB_GPU": "1"}, root).persist.fs_type == "fuse.drive"
