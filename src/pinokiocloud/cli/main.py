"""Entry point of the ``pinokiocloud`` command: composes the sub-commands and turns errors into
one clear line (exit 2 for the user's mistakes, 1 for ours; a traceback only with PINOKIOCLOUD_DEBUG=1)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pinokiocloud import __version__
from pinokiocloud.cli import apps, cloud, doctor, downloads, output, script, store
from pinokiocloud.cli.options import JsonOpt
from pinokiocloud.errors import PinokioCloudError, UserError

__all__ = ["app", "main"]


def _type_label(self: Any, ctx: Any) -> str | None:
    """What a value looks like in ``--help``: nothing for a flag, the metavar when one is given, else a plain
    word (TEXT, INTEGER, PATH) instead of Typer's ``<bool>``/``<list[str]>``."""
    del ctx
    if getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None
    if isinstance(self, typer.core.TyperArgument):
        return None  # the argument's name says it
    if self.metavar:
        return str(self.metavar)
    desc = self.type_descriptor
    if desc.is_path:
        return "PATH"
    if desc.is_choice:
        return "|".join(str(c) for c in desc.choices or ())
    name = str(self.bare_type()).removeprefix("list[").removesuffix("]")
    return {"str": "TEXT", "int": "N", "float": "NUMBER"}.get(name, name.upper())


typer.core.TyperOption.display_type_rich = _type_label  # type: ignore[method-assign]
typer.core.TyperArgument.display_type_rich = _type_label  # type: ignore[method-assign]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"pinokiocloud {__version__}")
        raise typer.Exit()


app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="PinokioCloud: run Pinokio AI-app launchers on cloud GPU machines.\n\n"
         "Start with `pinokiocloud up` (the dashboard's link and passcode), then `pinokiocloud install SRC` "
         "and `pinokiocloud start APP`. Every command that prints data takes --json.",
)


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", "-V", callback=_show_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """PinokioCloud: run Pinokio AI-app launchers on cloud GPU machines."""

app.add_typer(script.app, name="script")
app.add_typer(downloads.app, name="downloads")
app.add_typer(cloud.app, name="cloud")
app.add_typer(store.app, name="store")
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

        menu_data = Client().menu(target)
        if as_json:
            output.result(menu_data, as_json=True)
        else:
            apps.print_menu(menu_data)
        return

    from pinokiocloud.cli.offline import run_with_kernel
    from pinokiocloud.config import Settings
    from pinokiocloud.kernel import KernelContext, NodeSidecar, load_launcher

    async def work(sc: NodeSidecar, ctx: KernelContext, _: Settings) -> dict[str, Any]:
        found = await load_launcher(sc, folder.resolve(), ctx)
        return {"folder": str(found.folder), "root": str(found.root), "meta": found.meta, "menu": found.menu}

    found_menu = run_with_kernel(work)
    if as_json:
        output.result(found_menu, as_json=True)
    else:
        apps.print_menu(found_menu)


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
        output.error(str(exc), exc.hint or apps.did_you_mean(str(exc)))
        sys.exit(2)
    except PinokioCloudError as exc:
        if debug:
            raise
        output.error(str(exc), exc.hint or "run again with PINOKIOCLOUD_DEBUG=1 for a traceback")
        sys.exit(1)


if __name__ == "__main__":
    main()
