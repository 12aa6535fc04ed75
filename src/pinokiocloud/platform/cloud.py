"""Which cloud we run on, and what that means: where the fast disk and the persistent disk are, how the
user's browser reaches a local port, how long the session lives, and what the platform forbids.

Detection (spec cloud-and-tunnels §3): the ``PINOKIOCLOUD_PLATFORM`` override, then environment variables
unique to one platform, then folders that mark one, then plain Linux (``local``). ``/workspace`` alone is
ambiguous (RunPod, Vast.ai, ai-dock images), so it never decides by itself.

Everything takes the environment as a mapping and the filesystem root as a path, so tests can describe a
Colab or a RunPod machine with a dict and a temporary folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pinokiocloud.platform.system import holding_mount, read_mounts

__all__ = [
    "PLATFORMS",
    "CloudInfo",
    "Exposure",
    "Persistence",
    "SessionHints",
    "colab_proxy_url",
    "detect_cloud",
    "normalize_platform",
    "persistent_root",
]

COLAB_PROXY_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Exposure:
    """How a port on this machine is reached from the user's browser."""

    kind: str
    """``localhost``, ``colab-proxy``, ``runpod-proxy``, ``lightning-port``, ``vast-port-map``,
    ``paperspace-proxy``, ``modal-forward``, ``space-url`` or ``none``."""
    how: str
    """One sentence for the user."""
    url_template: str | None = None
    """A URL for any port, with ``{port}`` in it, where the platform proxies every port."""
    base_url: str | None = None
    """The machine's own public address, where it has one but does not map ports to it."""
    mapped_ports: dict[int, str] = field(default_factory=dict)
    """Internal port → ``host:external_port`` reachable from outside (Vast.ai, RunPod TCP)."""

    def url_for(self, port: int) -> str | None:
        """The URL a browser opens for ``port``, or ``None`` when this platform cannot say (use a tunnel)."""
        if self.url_template:
            return self.url_template.format(port=port)
        if port in self.mapped_ports:
            return f"http://{self.mapped_ports[port]}"
        return None


@dataclass(frozen=True, slots=True)
class Persistence:
    """Where files survive the end of a session, and whether that storage is there now."""

    path: str | None
    source: str
    """``PINOKIOCLOUD_PERSIST``, ``platform`` (its usual place) or ``none``."""
    exists: bool
    is_mounted: bool
    """The storage is attached now (for Drive or a volume: a filesystem is mounted there)."""
    fs_type: str | None
    """Filesystem type of the mount that holds ``path`` (``fuse.drive``, ``nfs``, ``overlay`` …)."""
    how_to_mount: str | None
    keeps: str
    """What survives, in one sentence."""


@dataclass(frozen=True, slots=True)
class SessionHints:
    max_hours: float | None
    """The longest a session can run before the platform ends it, where that is published; else ``None``."""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CloudInfo:
    id: str
    """One of ``PLATFORMS``: ``colab``, ``kaggle``, ``lightning``, ``vast``, ``runpod``, ``paperspace``,
    ``studiolab``, ``modal``, ``hfspaces``, ``local``."""
    name: str
    detected_by: str
    home: str
    """Recommended ``PINOKIO_HOME``: a fast local disk with room for apps and models."""
    persist: Persistence
    exposure: Exposure
    session: SessionHints
    is_tunnel_allowed: bool
    """``False`` where opening a public tunnel breaks the platform's rules or gets the session stopped."""
    policy: tuple[str, ...] = ()
    """The platform's rules that matter to PinokioCloud, always shown."""
    warnings: tuple[str, ...] = ()
    """Problems found while detecting (unknown override, missing persistent folder, ambiguous markers)."""


@dataclass(frozen=True, slots=True)
class _Profile:
    name: str
    home: str
    """``~`` is the user's home from the environment."""
    persist: str | None
    persist_needs_mount: bool
    how_to_mount: str | None
    keeps: str
    session: SessionHints
    is_tunnel_allowed: bool = True
    policy: tuple[str, ...] = ()


_PROFILES: dict[str, _Profile] = {
    "colab": _Profile(
        "Google Colab", "/content/pinokio", "/content/drive/MyDrive", True,
        "in a notebook cell: from google.colab import drive; drive.mount('/content/drive')",
        "only Google Drive survives; /content is wiped when the runtime ends",
        SessionHints(12, ("a runtime lasts at most 12 h (often less on the free tier) and stops sooner when idle",
                          "Drive is a network mount: slow for many small files, so apps stay on /content")),
        is_tunnel_allowed=False,
        policy=("Colab's terms forbid web services unrelated to interactive compute and connecting to remote "
                "proxies, and the free tier forbids remote UIs: use the Colab proxy link (it opens only in your "
                "own browser) instead of a public tunnel",)),
    "kaggle": _Profile(
        "Kaggle", "/kaggle/temp/pinokio", "/kaggle/working", False, None,
        "/kaggle/working (up to 20 GB) is kept only when you save a version; everything else ends with the session",
        SessionHints(12, ("about 30 GPU hours a week (reported)",
                          "turn Internet on in the notebook settings, or installs cannot download anything")),
        is_tunnel_allowed=False,
        policy=("Kaggle stops sessions that open public tunnels (ngrok, cloudflared, localtunnel …): apps run "
                "here, but their web UIs cannot be shared",)),
    "lightning": _Profile(
        "Lightning.ai Studio", "/teamspace/studios/this_studio/pinokio", "/teamspace/studios/this_studio", False,
        None, "the Studio's files persist when it sleeps or switches machines",
        SessionHints(None, ("the Studio sleeps when idle; GPU time uses credits",))),
    "vast": _Profile(
        "Vast.ai", "/workspace/pinokio", "/workspace", False, None,
        "/workspace survives stopping the instance, not destroying it",
        SessionHints(None, ("the instance runs and bills until you stop or destroy it",)),
        policy=("community-cloud hosts are run by third parties: keep tokens (HF_TOKEN, NGROK_AUTHTOKEN) in "
                "environment variables, not in files on this machine",)),
    "runpod": _Profile(
        "RunPod", "/workspace/pinokio", "/workspace", True,
        "attach a volume at /workspace when you create the pod (a network volume survives terminating it)",
        "the /workspace volume survives a stop; only a network volume survives terminating the pod",
        SessionHints(None, ("the pod runs and bills until you stop it; the container disk outside /workspace is "
                            "small (about 5 GB by default) and fills silently",)),
        policy=("the RunPod HTTP proxy is behind Cloudflare, which cuts requests that take longer than 100 s: "
                "use a TCP port or a tunnel for long generations",)),
    "paperspace": _Profile(
        "Paperspace Gradient", "/tmp/pinokio", "/notebooks", False, None,
        "/notebooks is kept per notebook and /storage is shared by the team; /tmp is lost at shutdown",
        SessionHints(6, ("free machines shut down after 6 h and have 5 GB of storage",)),
        policy=("free notebooks are public: keep tokens out of files under /notebooks",)),
    "studiolab": _Profile(
        "SageMaker Studio Lab", "~/pinokio", "/home/studio-lab-user", False, None,
        "the home folder (15 GB) is kept between sessions",
        SessionHints(4, ("GPU sessions last 4 h and CPU sessions 12 h",))),
    "modal": _Profile(
        "Modal", "~/pinokio", None, False,
        "mount a modal.Volume in the function and set PINOKIOCLOUD_PERSIST to its path",
        "only Modal Volumes persist; the container's disk ends with the function call",
        SessionHints(None, ("the container lives as long as the function call (its timeout)",))),
    "hfspaces": _Profile(
        "Hugging Face Spaces", "~/pinokio", "/data", True,
        "enable persistent storage in the Space's settings (it is mounted at /data)",
        "only /data (persistent storage) survives a restart; the rest of the disk is reset",
        SessionHints(None, ("free Spaces sleep when nobody uses them and restart from a clean disk",)),
        policy=("a public Space can be opened by anyone: keep the passcode in front of every app",)),
    "local": _Profile(
        "Linux", "~/pinokio", None, False,
        "set PINOKIOCLOUD_PERSIST to a folder on a disk that outlives this machine, if it is ephemeral",
        "the machine's own disks", SessionHints(None)),
}
PLATFORMS = tuple(_PROFILES)

_ALIASES = {
    "colab": "colab", "google-colab": "colab", "googlecolab": "colab",
    "kaggle": "kaggle",
    "lightning": "lightning", "lightning.ai": "lightning", "lightning-ai": "lightning", "lightningai": "lightning",
    "vast": "vast", "vast.ai": "vast", "vastai": "vast", "vast-ai": "vast",
    "runpod": "runpod", "runpod.io": "runpod",
    "paperspace": "paperspace", "gradient": "paperspace", "paperspace-gradient": "paperspace",
    "studiolab": "studiolab", "studio-lab": "studiolab", "sagemaker": "studiolab",
    "sagemaker-studio-lab": "studiolab",
    "modal": "modal",
    "hfspaces": "hfspaces", "hf-spaces": "hfspaces", "spaces": "hfspaces", "huggingface": "hfspaces",
    "hf": "hfspaces",
    "local": "local", "linux": "local", "none": "local",
}

_ENV_SIGNALS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("colab", ("COLAB_RELEASE_TAG", "COLAB_GPU", "COLAB_BACKEND_VERSION", "COLAB_TPU_ADDR",
               "COLAB_NOTEBOOK_METADATA")),
    ("kaggle", ("KAGGLE_KERNEL_RUN_TYPE",)),
    ("lightning", ("LIGHTNING_CLOUDSPACE_HOST", "LIGHTNING_CLOUDSPACE_ID")),
    ("runpod", ("RUNPOD_POD_ID",)),
    ("vast", ("VAST_CONTAINERLABEL",)),
    ("paperspace", ("PAPERSPACE_FQDN", "PAPERSPACE_NOTEBOOK_REPO_ID")),
    ("modal", ("MODAL_TASK_ID",)),
    ("hfspaces", ("SPACE_ID",)),
)
_PATH_SIGNALS: tuple[tuple[str, str], ...] = (
    ("colab", "/content"),
    ("kaggle", "/kaggle"),
    ("lightning", "/teamspace"),
    ("studiolab", "/home/studio-lab-user"),
    ("paperspace", "/notebooks"),
)


def normalize_platform(value: str) -> str | None:
    """``"Vast.ai"`` → ``"vast"``; ``None`` for a name we do not know."""
    key = re.sub(r"[\s_]+", "-", value.strip().lower())
    return _ALIASES.get(key)


def _under(root: Path, path: str) -> Path:
    return root / PurePosixPath(path).relative_to("/")


def _expand_home(path: str, environ: Mapping[str, str]) -> str:
    if path == "~" or path.startswith("~/"):
        user_home = environ.get("HOME") or "/root"
        return str(PurePosixPath(user_home) / path[2:]) if path != "~" else user_home
    return path


def _persistence(profile: _Profile, environ: Mapping[str, str], root: Path, persist: Path | None,
                 warnings: list[str]) -> Persistence:
    if persist is not None:
        path, source, needs_mount = str(persist), "PINOKIOCLOUD_PERSIST", False
        keeps = "whatever the storage behind PINOKIOCLOUD_PERSIST keeps"
    elif profile.persist is not None:
        path, source, needs_mount = _expand_home(profile.persist, environ), "platform", profile.persist_needs_mount
        keeps = profile.keeps
    else:
        return Persistence(None, "none", False, False, None, profile.how_to_mount, profile.keeps)
    exists = _under(root, path).is_dir() if path.startswith("/") else Path(path).is_dir()
    mounts = read_mounts(root)
    holder = holding_mount(path, mounts) if mounts is not None else None
    if mounts is not None:
        is_mounted = exists and (not needs_mount or (holder is not None and holder[0] != "/"))
    else:
        # No mount table (not Linux, or /proc hidden): fall back to asking the real filesystem.
        probe = _under(root, path)
        is_mounted = exists and (not needs_mount or any(os.path.ismount(p) for p in (probe, *probe.parents)
                                                        if p != root and p != Path("/")))
    if source == "PINOKIOCLOUD_PERSIST" and not exists:
        warnings.append(f"PINOKIOCLOUD_PERSIST={path} does not exist: nothing is kept across sessions until it "
                        "does (mount the storage or create the folder)")
    elif source == "platform" and not is_mounted:
        warnings.append(f"{path} is not {'mounted' if needs_mount else 'there'}: models and state are lost when "
                        f"the session ends" + (f"; {profile.how_to_mount}" if profile.how_to_mount else ""))
    return Persistence(path, source, exists, is_mounted, holder[1] if holder else None, profile.how_to_mount, keeps)


def _mapped_ports(environ: Mapping[str, str], prefix: str, host: str | None) -> dict[int, str]:
    if not host:
        return {}
    mapped: dict[int, str] = {}
    for key, value in environ.items():
        match = re.fullmatch(re.escape(prefix) + r"(\d+)", key)
        if match and value.strip().isdigit():
            mapped[int(match.group(1))] = f"{host}:{value.strip()}"
    return dict(sorted(mapped.items()))


def _exposure(platform_id: str, environ: Mapping[str, str]) -> Exposure:
    env = {k: v.strip() for k, v in environ.items() if v and v.strip()}
    if platform_id == "colab":
        return Exposure("colab-proxy", "in a notebook cell, google.colab.output.serve_kernel_port_as_window(PORT) "
                        "opens the port; the link works only in your own browser")
    if platform_id == "runpod":
        pod = env.get("RUNPOD_POD_ID")
        return Exposure(
            "runpod-proxy", "ports listed under 'Expose HTTP ports' of the pod open at "
            "https://POD_ID-PORT.proxy.runpod.net; TCP ports through the public IP mapping",
            url_template=f"https://{pod}-{{port}}.proxy.runpod.net" if pod else None,
            mapped_ports=_mapped_ports(env, "RUNPOD_TCP_PORT_", env.get("RUNPOD_PUBLIC_IP")))
    if platform_id == "lightning":
        host = env.get("LIGHTNING_CLOUDSPACE_HOST")
        return Exposure(
            "lightning-port", "open the port in the Studio's Port plugin; it is then served at https://PORT-HOST",
            url_template=f"https://{{port}}-{host}" if host else None)
    if platform_id == "vast":
        ip = env.get("PUBLIC_IPADDR")
        return Exposure(
            "vast-port-map", "ports opened when the instance was created are mapped to random ports on its public "
            "IP (VAST_TCP_PORT_<port>); other ports need a tunnel",
            base_url=f"http://{ip}" if ip else None, mapped_ports=_mapped_ports(env, "VAST_TCP_PORT_", ip))
    if platform_id == "paperspace":
        fqdn = env.get("PAPERSPACE_FQDN")
        return Exposure(
            "paperspace-proxy", "the notebook is served at https://PAPERSPACE_FQDN/; other ports are reached "
            "through a path behind a reverse proxy on that address, or through a tunnel",
            base_url=f"https://{fqdn}/" if fqdn else None)
    if platform_id == "modal":
        return Exposure("modal-forward", "inside the Modal function, `with modal.forward(PORT) as tunnel:` gives "
                        "a https://….modal.host URL for the port")
    if platform_id == "hfspaces":
        host = env.get("SPACE_HOST")
        return Exposure("space-url", "only the Space's app_port (7860 unless its README says otherwise) is "
                        "served, at the Space's own URL", base_url=f"https://{host}" if host else None)
    if platform_id == "local":
        return Exposure("localhost", "a browser on this machine opens http://127.0.0.1:PORT; from elsewhere use "
                        "`ssh -L PORT:127.0.0.1:PORT` or share the app through a tunnel",
                        url_template="http://127.0.0.1:{port}")
    return Exposure("none", "this platform cannot reach a port from your browser" +
                    ("; a tunnel is the only way" if _PROFILES[platform_id].is_tunnel_allowed else ""))


def _detect_id(environ: Mapping[str, str], root: Path, warnings: list[str]) -> tuple[str, str]:
    for platform_id, names in _ENV_SIGNALS:
        for name in names:
            if environ.get(name, "").strip():
                return platform_id, f"environment variable {name}"
    if environ.get("SYSTEM", "").strip() == "spaces":
        return "hfspaces", "environment variable SYSTEM=spaces"
    for platform_id, folder in _PATH_SIGNALS:
        if _under(root, folder).is_dir():
            return platform_id, f"folder {folder}"
    if _under(root, "/workspace").is_dir():
        if _under(root, "/venv/main").is_dir():
            return "vast", "folders /workspace and /venv/main (a Vast.ai image)"
        warnings.append("found /workspace but no RunPod or Vast.ai variables, so this is treated as plain Linux; "
                        "set PINOKIOCLOUD_PLATFORM=runpod or =vast if that is wrong")
    return "local", "no cloud markers"


def detect_cloud(
    environ: Mapping[str, str],
    root: Path = Path("/"),
    *,
    override: str | None = None,
    persist: Path | None = None,
) -> CloudInfo:
    """The platform this machine is on and its paths, exposure, session hints and policy.

    ``override`` is ``PINOKIOCLOUD_PLATFORM`` (an unknown name gives ``local`` and a warning, never an
    error); ``persist`` is ``PINOKIOCLOUD_PERSIST``, which replaces the platform's persistent folder.
    """
    warnings: list[str] = []
    if override is not None and override.strip():
        platform_id = normalize_platform(override)
        if platform_id is None:
            warnings.append(f"PINOKIOCLOUD_PLATFORM={override.strip()!r} is not a platform PinokioCloud knows "
                            f"({', '.join(PLATFORMS)}); using plain Linux ('local')")
            platform_id, detected_by = "local", f"PINOKIOCLOUD_PLATFORM={override.strip()} (unknown)"
        else:
            detected_by = f"PINOKIOCLOUD_PLATFORM={override.strip()}"
    else:
        platform_id, detected_by = _detect_id(environ, root, warnings)
    profile = _PROFILES[platform_id]
    return CloudInfo(
        id=platform_id,
        name=profile.name,
        detected_by=detected_by,
        home=_expand_home(profile.home, environ),
        persist=_persistence(profile, environ, root, persist, warnings),
        exposure=_exposure(platform_id, environ),
        session=profile.session,
        is_tunnel_allowed=profile.is_tunnel_allowed,
        policy=profile.policy,
        warnings=tuple(warnings),
    )


_NO_AUTO_ROOT = frozenset({"kaggle"})
"""Platforms whose persistent folder is not picked by itself: Kaggle keeps /kaggle/working (20 GB) only when
the user saves a version, so models there would fill it and still be lost."""


def persistent_root(cloud: CloudInfo) -> tuple[Path | None, str]:
    """The folder PinokioCloud keeps its store, backups and archives in, and one sentence saying why.

    ``PINOKIOCLOUD_PERSIST`` is used as given; otherwise the platform's volume gets a ``pinokiocloud`` folder
    (``/content/drive/MyDrive/pinokiocloud`` on Colab, ``/workspace/pinokiocloud`` on RunPod and Vast.ai,
    ``/teamspace/studios/this_studio/pinokiocloud`` on Lightning), only when that volume is there now.
    """
    persist = cloud.persist
    if persist.path is None:
        return None, f"no persistent folder on {cloud.name}: {persist.how_to_mount or persist.keeps}"
    if persist.source == "PINOKIOCLOUD_PERSIST":
        return Path(persist.path), f"PINOKIOCLOUD_PERSIST={persist.path}"
    if cloud.id in _NO_AUTO_ROOT:
        return None, (f"{persist.path} is not used by itself on {cloud.name} ({persist.keeps}); set "
                      "PINOKIOCLOUD_PERSIST to keep models and state there anyway")
    if not persist.is_mounted:
        return None, (f"{persist.path} is not {'mounted' if persist.exists else 'there'} yet"
                      + (f"; {persist.how_to_mount}" if persist.how_to_mount else ""))
    return Path(persist.path) / "pinokiocloud", f"{cloud.name}'s persistent volume ({persist.keeps})"


def colab_proxy_url(port: int, timeout_s: float = COLAB_PROXY_TIMEOUT_S) -> str | None:
    """The Colab proxy URL for ``port``, asked from the notebook's browser tab.

    Works only when called inside a running Colab kernel (``pinokiocloud.launch()`` in a cell); anywhere
    else (a ``!`` shell, the daemon, another machine) it returns ``None``. The URL opens only in the
    browser session of the user who owns the notebook.
    """
    if importlib.util.find_spec("google") is None or importlib.util.find_spec("google.colab") is None:
        return None
    try:
        output: Any = importlib.import_module("google.colab.output")
        url = output.eval_js(f"google.colab.kernel.proxyPort({int(port)}, {{'cache': false}})",
                             timeout_sec=timeout_s)
    except Exception:  # foreign code outside a kernel fails in many ways; all of them mean "no URL"
        return None
    return url if isinstance(url, str) and url.startswith("http") else None
