"""npm packages the tests need (the original template engine and lodash), installed once into a
folder the tests own (``.cache/tests/npm``) with the npm that ships with our node."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pinokiocloud.kernel import find_node
from pinokiocloud.kernel.node_packages import npm_command

REPO = Path(__file__).resolve().parents[2]
NPM_PREFIX = REPO / ".cache" / "tests" / "npm"
NODE_MODULES = NPM_PREFIX / "node_modules"
PACKAGES = {"jimini": "0.0.8", "lodash": "4.17.21"}


def _installed() -> bool:
    import json

    for name, version in PACKAGES.items():
        manifest = NODE_MODULES / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != version:
            return False
    return True


def ensure_test_packages() -> Path:
    """Return the node_modules folder holding jimini and lodash, installing them when missing."""
    if _installed():
        return NODE_MODULES
    NPM_PREFIX.mkdir(parents=True, exist_ok=True)
    npm = npm_command(find_node())
    specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
    cmd = [*npm, "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", "--no-save", *specs]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 or not _installed():
        raise RuntimeError(f"npm install {' '.join(specs)} failed: {done.stderr[-2000:]}")
    return NODE_MODULES
