"""Script methods, one module per family (STYLE §6); importing this package registers them all."""

from __future__ import annotations

import pinokiocloud.kernel.methods.data
import pinokiocloud.kernel.methods.env
import pinokiocloud.kernel.methods.flow
import pinokiocloud.kernel.methods.fs
import pinokiocloud.kernel.methods.hf
import pinokiocloud.kernel.methods.net
import pinokiocloud.kernel.methods.script
import pinokiocloud.kernel.methods.shell
import pinokiocloud.kernel.methods.ui  # noqa: F401  (importing a family registers its methods)
from pinokiocloud.kernel.methods.base import METHODS, MethodError, MethodRequest, RunHandle, method

__all__ = ["METHODS", "MethodError", "MethodRequest", "RunHandle", "method"]
