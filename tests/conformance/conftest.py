from __future__ import annotations

# The same harness and the same guard as the kernel's tests: a refused RunState move fails a conformance test too.
from tests.kernel.conftest import _no_illegal_run_state, h

__all__ = ["_no_illegal_run_state", "h"]
