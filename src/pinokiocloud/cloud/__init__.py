"""Launch an app on any cloud GPU through SkyPilot (the optional ``cloud`` extra; DESIGN §7).

``task`` builds the SkyPilot task without importing SkyPilot; ``sky`` is the only module that imports it;
``remote`` and ``backup`` are what the task runs on the machine; ``source`` decides what it installs.
"""

from pinokiocloud.cloud.task import AppSource, LaunchOptions, build_task, cluster_name, dump_yaml

__all__ = ["AppSource", "LaunchOptions", "build_task", "cluster_name", "dump_yaml"]
