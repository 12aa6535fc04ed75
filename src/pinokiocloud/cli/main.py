"""Entry point of the ``pinokiocloud`` command: composes the sub-commands and turns errors into
one clear line (exit 2 for the user's mistakes, 1 for ours; a traceback only with PINOKIOCLOUD_DEBUG=1)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pinokiocloud import __version__
from pinokiocloud.cli import apps, doctor, output, script
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.errors import PinokioCloudError, UserError

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="PinokioCloud: run Pinokio AI-app launchers on cloud GPU machines.",
)
app.add_typer(script.app, name="script")
app.command("doctor")(doctor.doctor)
apps.register(app)


@app.command("menu")
def menu(
    target: Annotated[str, typer.Argument(help="An installed app, or a launcher folder (the one holding pinokio.js).")],
    as_json: JsonOpt = False,
) -> None:
    """Print an app's menu for its current state; for a folder, the state of a fresh install."""
    folder = Path(target)
    if not folder.is_dir():
        from pinokiocloud.client import Client

        output.result(Client().menu(target), as_json=as_json)
        return

    from pinokiocloud.cli.offline import run_with_kernel
    from pinokiocloud.config import Settings
    from pinokiocloud.kernel import KernelContext, NodeSidecar, load_launcher

    async def work(sc: NodeSidecar, ctx: KernelContext, _: Settings) -> dict[str, Any]:
        found = await load_launcher(sc, folder.resolve(), ctx)
        return {"folder": str(found.folder), "root": str(found.root), "meta": found.meta, "menu": found.menu}

    output.result(run_with_kernel(work), as_json=as_json)


@app.command("version")
def version() -> None:
    """Print the PinokioCloud version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    debug = os.environ.get("PINOKIOCLOUD_DEBUG") == "1"
    try:
        app(args=argv, prog_name="pinokiocloud")
    except UserError as exc:
        if debug:
            raise
        output.error(str(exc), exc.hint)
        sys.exit(2)
    except PinokioCloudError as exc:
        if debug:
            raise
        output.error(str(exc), exc.hint or "run again with PINOKIOCLOUD_DEBUG=1 for a traceback")
        sys.exit(1)


if __name__ == "__main__":
    main()
