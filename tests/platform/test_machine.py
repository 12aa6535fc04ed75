"""CPU, memory, disks, network and tools from fake /proc and /sys trees; unreadable files never raise."""

from __future__ import annotations

from pathlib import Path

from pinokiocloud.platform.system import (
    disk_info,
    find_tools,
    holding_mount,
    read_cpu,
    read_interfaces,
    read_memory,
    read_mounts,
)
from tests.platform.conftest import make_root, mountinfo, write_tool

MEMINFO = """MemTotal:       13294264 kB
MemFree:         9112308 kB
MemAvailable:   12070912 kB
Buffers:          402112 kB
"""
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz
processor\t: 1
model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz
"""
ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
tailscale0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""
FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 172.17.0.0/16 2 0 2
        |-- 172.17.0.2
           /32 host LOCAL
        |-- 172.17.255.255
           /32 link BROADCAST
     |-- 192.168.0.5
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 172.17.0.2
        /32 host LOCAL
"""
IF_INET6 = """00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000042acfffe110002 02 40 20 80     eth0
"""


def test_cpu_model_and_a_cgroup_quota(tmp_path: Path) -> None:
    root = make_root(tmp_path, files={"/proc/cpuinfo": CPUINFO, "/sys/fs/cgroup/cpu.max": "100000 100000\n"})
    cpu = read_cpu(root)
    assert cpu.model == "Intel(R) Xeon(R) CPU @ 2.20GHz"
    assert cpu.usable == 1 and cpu.count >= 1


def test_unreadable_cpuinfo_is_a_warning(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/proc/cpuinfo",))  # a folder where the file should be: reading fails
    warnings: list[str] = []
    cpu = read_cpu(root, warnings)
    assert cpu.count >= 1
    assert warnings[0].startswith("cannot read /proc/cpuinfo (")


def test_memory_with_a_container_limit(tmp_path: Path) -> None:
    root = make_root(tmp_path, files={"/proc/meminfo": MEMINFO, "/sys/fs/cgroup/memory.max": str(4 * 1024**3)})
    memory = read_memory(root)
    assert (memory.total_gb, memory.available_gb, memory.limit_gb) == (12.7, 4.0, 4.0)


def test_memory_without_a_limit(tmp_path: Path) -> None:
    root = make_root(tmp_path, files={"/proc/meminfo": MEMINFO, "/sys/fs/cgroup/memory.max": "max\n"})
    assert read_memory(root).limit_gb is None
    assert read_memory(root).available_gb == 11.5


def test_missing_meminfo_gives_unknowns_and_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    memory = read_memory(make_root(tmp_path), warnings)
    assert (memory.total_gb, memory.available_gb, memory.limit_gb) == (None, None, None)
    assert warnings and warnings[0].startswith("cannot read /proc/meminfo")


def test_home_not_created_yet_is_measured_at_its_parent(tmp_path: Path) -> None:
    root = make_root(tmp_path, ("/content",), {"/proc/self/mountinfo": mountinfo(("/content", "ext4"))})
    disk = disk_info(Path("/content/pinokio"), root, mounts=read_mounts(root))
    assert (disk.path, disk.measured_at, disk.exists, disk.fs_type) == ("/content/pinokio", "/content", False, "ext4")
    assert disk.total_gb is not None and disk.free_gb is not None and 0 <= disk.free_gb <= disk.total_gb


def test_mount_table_and_the_deepest_mount() -> None:
    mounts = {"/": "overlay", "/content": "ext4", "/content/drive": "fuse.drive"}
    assert holding_mount("/content/drive/MyDrive/x", mounts) == ("/content/drive", "fuse.drive")
    assert holding_mount("/content/drivex", mounts) == ("/content", "ext4")
    assert holding_mount("/etc", mounts) == ("/", "overlay")


def test_network_interfaces_with_addresses(tmp_path: Path) -> None:
    root = make_root(tmp_path, files={
        "/sys/class/net/eth0/operstate": "up\n", "/sys/class/net/eth0/address": "02:42:ac:11:00:02\n",
        "/sys/class/net/lo/operstate": "unknown\n", "/sys/class/net/lo/address": "00:00:00:00:00:00\n",
        "/sys/class/net/tailscale0/operstate": "down\n",
        "/proc/net/route": ROUTE, "/proc/net/fib_trie": FIB_TRIE, "/proc/net/if_inet6": IF_INET6,
    })
    interfaces = {i.name: i for i in read_interfaces(root)}
    assert set(interfaces) == {"eth0", "lo", "tailscale0"}
    eth0 = interfaces["eth0"]
    assert (eth0.state, eth0.mac, eth0.ipv4, eth0.ipv6) == (
        "up", "02:42:ac:11:00:02", ("172.17.0.2",), ("fe80::42:acff:fe11:2/64",))
    assert interfaces["lo"].ipv4 == ("127.0.0.1",) and interfaces["lo"].mac is None
    assert interfaces["tailscale0"].ipv4 == ("192.168.0.5",)


def test_no_sys_class_net_is_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    assert read_interfaces(make_root(tmp_path), warnings) == []
    assert warnings[0].startswith("cannot list network interfaces")


def test_this_machine_has_a_loopback() -> None:
    assert any(i.name == "lo" for i in read_interfaces())


def test_tools_found_on_path_with_versions(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    write_tool(bin_dir, "git", "echo 'git version 2.43.0'")
    write_tool(bin_dir, "ffmpeg", "echo 'ffmpeg version 6.1.1-3ubuntu5 Copyright (c) 2000-2023 the FFmpeg developers'")
    write_tool(bin_dir, "conda", "echo 'conda 24.9.2' >&2")
    node = write_tool(tmp_path / "elsewhere", "node", "echo v22.11.0")
    tools = {t.name: t for t in find_tools(str(bin_dir), known={"node": node})}
    assert [(n, tools[n].version) for n in ("node", "uv", "git", "ffmpeg", "conda")] == [
        ("node", "22.11.0"), ("uv", None), ("git", "2.43.0"), ("ffmpeg", "6.1.1-3ubuntu5"), ("conda", "24.9.2")]
    assert tools["node"].path == str(node) and tools["uv"].path is None


def test_garbage_in_proc_files_is_ignored(tmp_path: Path) -> None:
    junk = ("\x00garbage\n|-- 999.1.1.1\n   /32 host LOCAL\nzz zz zz zz zz zz\n"
            "Iface\teth0\tXYZ\t0\t0\t0\t0\tFFFFFFFFFF\n")
    root = make_root(tmp_path, files={
        "/proc/meminfo": junk, "/proc/cpuinfo": junk, "/proc/net/route": junk, "/proc/net/fib_trie": junk,
        "/proc/net/if_inet6": junk, "/proc/self/mountinfo": junk, "/sys/fs/cgroup/cpu.max": junk,
        "/sys/fs/cgroup/memory.max": junk, "/sys/class/net/eth0/operstate": junk,
    })
    warnings: list[str] = []
    assert read_memory(root, warnings).total_gb is None
    assert read_cpu(root, warnings).count >= 1
    assert [i.name for i in read_interfaces(root, warnings)] == ["eth0"]
    assert read_mounts(root) == {}
    assert warnings == ["cannot find MemTotal in /proc/meminfo"]
