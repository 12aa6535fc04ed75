"""``pinokiocloud script load|render``: look at a script offline, as the runner would see it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pinokiocloud.cli import output
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.errors import BadParamError

if TYPE_CHECKING:  # the kernel is imported when a script command runs, not for every CLI call
    from pinokiocloud.config import Settings
    from pinokiocloud.kernel import KernelContext, NodeSidecar

__all__ = ["GLOBAL_NAMES", "app", "context_with", "parse_vars"]

app = typer.Typer(no_args_is_help=True, help="Inspect Pinokio scripts offline.")

GLOBAL_NAMES = frozenset(
    {"platform", "arch", "gpu", "gpu_model", "gpu_driver", "gpu_target", "gpus", "vram", "ram", "env", "envs"}
)
"""Template names that are global values (spec §2.5); ``--var`` for these overrides the machine's."""

FileArg = Annotated[Path, typer.Argument(help="A .js or .json script file.", show_default=False)]


def _parse_value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_vars(pairs: list[str]) -> tuple[dict[str, object], dict[str, object]]:
    """``k=v`` pairs → (memory values, global overrides). Values are JSON when they parse, else text;
    dotted keys (``args.venv=env``) build nested objects."""
    memory: dict[str, object] = {}
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise BadParamError(f"--var needs NAME=VALUE (for example --var platform=linux), got {pair!r}")
        head, *rest = key.split(".")
        target = overrides if head in GLOBAL_NAMES else memory
        for part in [head, *rest][:-1]:
            node = target.get(part)
            if not isinstance(node, dict):
                node = target[part] = {}
            target = node
        target[[head, *rest][-1]] = _parse_value(raw)
    return memory, overrides


def context_with(ctx: KernelContext, overrides: dict[str, Any]) -> KernelContext:
    """``ctx`` as a machine with the ``--var`` global values would see it, so a function-form script's
    ``kernel.gpu``, ``kernel.platform`` … and ``pip.install.torch`` follow them as templates do.

    ``gpu=nvidia`` without ``gpus`` stands for one such card (``gpu_model``, ``vram``, ``gpu_driver`` and
    ``gpu_target`` describe it when given); ``gpu=none`` for no card."""
    import dataclasses

    from pinokiocloud.platform.gpu import GpuInfo

    system = ctx.system
    if isinstance(overrides.get("gpus"), list):
        gpus = [GpuInfo(str(g.get("name") or "none"), str(g.get("model") or g.get("name") or ""), g.get("driver"),
                        int(g.get("vram") or 0)) for g in overrides["gpus"] if isinstance(g, dict)]
        system = dataclasses.replace(system, gpus=gpus)
    elif "gpu" in overrides:
        vendor = str(overrides["gpu"]).lower()
        chosen = system.selected_gpu
        same = chosen is not None and chosen.name == vendor
        if vendor in ("", "none", "null"):
            system = dataclasses.replace(system, gpus=[])
        else:
            base = chosen if same and chosen is not None else GpuInfo(vendor, f"{vendor} GPU (--var)", None, 0)
            card = GpuInfo(vendor, str(overrides.get("gpu_model") or base.model),
                           overrides.get("gpu_driver", base.driver), int(overrides.get("vram") or base.vram),
                           overrides.get("gpu_target", base.target))
            system = dataclasses.replace(system, gpus=[card])
    system = dataclasses.replace(system, platform=str(overrides.get("platform", system.platform)),
                                 arch=str(overrides.get("arch", system.arch)),
                                 ram=int(overrides.get("ram", system.ram)))
    envs = overrides.get("envs", overrides.get("env"))
    return dataclasses.replace(ctx, system=system,
                               envs={**ctx.envs, **envs} if isinstance(envs, dict) else ctx.envs)


def _script_memory(path: Path, settings: Settings) -> dict[str, object]:
    from pinokiocloud.kernel.ports import find_free_port

    folder = path.parent
    try:
        name = str(folder.relative_to(settings.api_dir))
    except ValueError:
        name = folder.name
    return {"input": {}, "args": {}, "cwd": str(folder), "dirname": str(folder), "name": name,
            "uri": str(path), "port": find_free_port()}


@app.command("load")
def load(file: FileArg, as_json: JsonOpt = False) -> None:
    """Print a loaded script as data (function exports are called; functions show as "[function]")."""
    from pinokiocloud.cli.offline import run_with_kernel
    from pinokiocloud.kernel import load_script

    path = file.resolve()

    async def work(sc: NodeSidecar, ctx: KernelContext, _: Settings) -> dict[str, object]:
        loaded = await load_script(sc, path, ctx)
        return {"path": str(loaded.path), "kind": loaded.kind, "script": loaded.data}

    output.result(run_with_kernel(work), as_json=as_json)


@app.command("render")
def render(
    file: FileArg,
    step: Annotated[list[int] | None, typer.Option("--step", help="Step index to render (repeatable).")] = None,
    var: Annotated[list[str] | None, typer.Option("--var", metavar="NAME=VALUE", help="A template value (repeatable); "
                                                "platform, gpu, vram … replace this machine's.")] = None,
    action: Annotated[str, typer.Option(help="Which action of the script to render.")] = "run",
    as_json: JsonOpt = False,
) -> None:
    """Print the rendered step(s) of a script for the given variables."""
    from pinokiocloud.cli.offline import run_with_kernel
    from pinokiocloud.kernel import render_script

    path = file.resolve()
    memory, overrides = parse_vars(var or [])

    async def work(sc: NodeSidecar, ctx: KernelContext, settings: Settings) -> dict[str, object]:
        values = {**_script_memory(path, settings), **memory}
        steps = await render_script(sc, path, context_with(ctx, overrides), steps=step, action=action,
                                    memory=values, overrides=overrides)
        return {"path": str(path), "action": action,
                "steps": [{"index": s.index, "runs": s.runs, "step": s.step} for s in steps]}

    output.result(run_with_kernel(work), as_json=as_json)
