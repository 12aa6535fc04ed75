"""``python -m pinokiocloud.watchdog``: keep the daemon of one ``PINOKIO_HOME`` alive.

Every daemon a client starts (``up``, any command, ``launch()``) runs under this small parent. When the
daemon dies by a signal (``kill -9``, the OOM killer) or crashes, it is started again within seconds; the
new daemon takes the home's lock, reaps what its predecessor left and restores the autorestore apps and the
dashboard. A stop that was asked for (``down``, SIGTERM, Ctrl-C) or a daemon that could not start (exit 2: the home is
owned, the port is taken — starting again would fail the same way) ends the watchdog too.

It is deliberately tiny and imports nothing heavy: it must outlive whatever killed the daemon. It starts the
daemon before it loads even the home's lock module (a fresh machine's restore begins with that start).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from types import FrameType

__all__ = ["MAX_RESTARTS", "RESTART_WINDOW_S", "daemon_argv", "main"]

MAX_RESTARTS = 5
RESTART_WINDOW_S = 120.0
"""More than MAX_RESTARTS deaths within this window: the daemon cannot stay up; the watchdog gives up."""
_FIRST_DELAY_S = 0.5
_CLEAN_EXITS = (0, 2, -signal.SIGTERM, -signal.SIGINT)
"""A stop that was asked for (``down`` and uvicorn end with the SIGTERM they caught), or a refusal to start."""


def daemon_argv() -> list[str]:
    return [sys.executable, "-m", "pinokiocloud.server.serve"]


def _say(message: str) -> None:
    print(f"[watchdog {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _describe(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def main() -> int:
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal or notebook cell is not a stop
    deaths: collections.deque[float] = collections.deque()
    env = dict(os.environ)
    while True:
        child = subprocess.Popen(daemon_argv(), stdin=subprocess.DEVNULL, env=env)
        from pinokiocloud.home_lock import START_REPORT_ENV  # after the start, for the reason above

        env.pop(START_REPORT_ENV, None)  # only the first start has a client waiting for its report
        code = child.wait()
        if stopping or code in _CLEAN_EXITS:
            return code if code >= 0 else 128 - code
        now = time.monotonic()
        deaths.append(now)
        while deaths and now - deaths[0] > RESTART_WINDOW_S:
            deaths.popleft()
        if len(deaths) > MAX_RESTARTS:
            _say(f"the daemon (pid {child.pid}) {_describe(code)}; it died {len(deaths)} times in "
                 f"{RESTART_WINDOW_S:g} s, so it is left down (see the lines above)")
            return 1
        delay = _FIRST_DELAY_S * 2 ** (len(deaths) - 1)
        _say(f"the daemon (pid {child.pid}) {_describe(code)}; starting it again in {delay:g} s")
        time.sleep(delay)
        if stopping:
            return 0


if __name__ == "__main__":
    sys.exit(main())
