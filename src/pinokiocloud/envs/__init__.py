"""Every environment an app shell can get (DESIGN §4): uv venvs, conda envs over py-rattler, the tools of
``requires`` bundles, shared drives and venv deduplication. A layer below the kernel: it never imports it."""
