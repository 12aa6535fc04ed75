"""Does an app fit, and what the user is warned about."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinokiocloud.platform import GpuInfo, Requirements, check_requirements, detect_cloud, review
from pinokiocloud.platform.system import DiskInfo, MemoryInfo
from tests.platform.conftest import make_root

T4 = GpuInfo("nvidia", "tesla t4", "535.104.05", 15, "sm_75")
RADEON = GpuInfo("amd", "navi 31 [radeon rx 7900 xt/7900 xtx]", "6.3.6", 24, "gfx1100")
ROOMY = DiskInfo("/content/pinokio", "/content", 225.0, 180.5, True, "ext4")
TIGHT = DiskInfo("/content/pinokio", "/content", 100.0, 5.0, True, "ext4")


def test_an_sdxl_app_fits_a_t4() -> None:
    fit = check_requirements(Requirements(vram_gb=12, disk_gb=20, gpu="nvidia"), gpu=T4, disk=ROOMY)
    assert fit.fits and fit.reasons == ()


def test_ten_gb_onto_five_gb_free_says_so() -> None:
    fit = check_requirements(Requirements(disk_gb=10), gpu=T4, disk=TIGHT)
    assert not fit.fits
    assert fit.reasons == ("needs 10 GB of disk, /content/pinokio has 5 GB free; free space or set PINOKIO_HOME to "
                           "a bigger disk",)


def test_too_little_vram_names_the_card() -> None:
    fit = check_requirements(Requirements(vram_gb=24), gpu=T4, disk=ROOMY)
    assert fit.reasons == ("needs 24 GB of GPU memory; the tesla t4 has 15 GB",)


def test_wrong_vendor_and_no_gpu() -> None:
    assert check_requirements(Requirements(gpu="nvidia"), gpu=RADEON, disk=ROOMY).reasons == (
        "needs an NVIDIA GPU; this machine has the navi 31 [radeon rx 7900 xt/7900 xtx] (AMD)",)
    assert check_requirements(Requirements(gpu="nvidia", vram_gb=8), gpu=None, disk=ROOMY).reasons == (
        "needs an NVIDIA GPU; this machine has none (pick a GPU runtime)",)
    assert check_requirements(Requirements(vram_gb=8), gpu=None, disk=ROOMY).reasons == (
        "needs 8 GB of GPU memory; this machine has no GPU",)


def test_ram_counts_the_container_limit() -> None:
    memory = MemoryInfo(total_gb=503.8, available_gb=30.0, limit_gb=31.2)
    fit = check_requirements(Requirements(ram_gb=64), gpu=T4, disk=ROOMY, memory=memory)
    assert fit.reasons == ("needs 64 GB of RAM; this machine has 31.2 GB",)


def test_unmeasured_disk_does_not_pass_silently() -> None:
    unknown = DiskInfo("/x", None, None, None, False)
    assert not check_requirements(Requirements(disk_gb=1), gpu=None, disk=unknown).fits


def test_requirements_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="unknown GPU vendor"):
        Requirements(gpu="voodoo")
    with pytest.raises(ValueError, match="must not be negative"):
        Requirements(disk_gb=-1)


def test_review_on_colab_with_defaults(tmp_path: Path) -> None:
    cloud = detect_cloud({"COLAB_GPU": "0", "HOME": "/root"}, make_root(tmp_path, ("/content",)))
    warnings = review(cloud, home="/root/pinokio", is_home_set=False, home_disk=TIGHT, home_fs_type="ext4",
                      gpus=[], memory=MemoryInfo(12.7, 11.0, None))
    assert warnings == [
        "PINOKIO_HOME is not set, so apps go to /root/pinokio; on Google Colab use /content/pinokio "
        "(export PINOKIO_HOME=/content/pinokio)",
        "only 5 GB free at /root/pinokio; most AI apps need 10–30 GB (free space or set PINOKIO_HOME to a bigger disk)",
        "no GPU found: launchers will install CPU builds, and most image and video apps will be very slow or refuse "
        "to start",
    ]


def test_review_of_home_on_drive_and_a_memory_limit(tmp_path: Path) -> None:
    cloud = detect_cloud({"HOME": "/root"}, make_root(tmp_path))
    warnings = review(cloud, home="/content/drive/MyDrive/pinokio", is_home_set=True, home_disk=ROOMY,
                      home_fs_type="fuse.drive", gpus=[T4], memory=MemoryInfo(503.8, 30.0, 31.2))
    assert len(warnings) == 2
    assert warnings[0].startswith("PINOKIO_HOME (/content/drive/MyDrive/pinokio) is on a network filesystem "
                                  "(fuse.drive)")
    assert warnings[1] == ("this container may use 31.2 GB of RAM although the machine shows 503.8 GB (launchers "
                           "see the larger number as `ram`)")


def test_review_warns_when_a_cloud_keeps_nothing(tmp_path: Path) -> None:
    cloud = detect_cloud({"MODAL_TASK_ID": "ta-1", "HOME": "/root"}, make_root(tmp_path))
    warnings = review(cloud, home="/root/pinokio", is_home_set=True, home_disk=ROOMY, home_fs_type="overlay",
                      gpus=[T4], memory=None)
    assert warnings == ["no persistent storage: everything is lost when this Modal session ends; mount a "
                        "modal.Volume in the function and set PINOKIOCLOUD_PERSIST to its path"]
