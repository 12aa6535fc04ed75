"""Entry point of the ``pinokiocloud`` command: composes the commands of each family (one module each) and
turns errors into one clear line (exit 2 for the user's mistakes, 1 for ours; a traceback only with
PINOKIOCLOUD_DEBUG=1). The turning happens inside the Typer app, so ``typer.testing.CliRunner`` sees the
same exit codes as a shell."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from pinokiocloud import __version__
from pinokiocloud.cli import (
    cloud,
    daemon,
    doctor,
    downloads,
    lifecycle,
    output,
    script,
    share,
    status,
    store,
)
from pinokiocloud.cli.hints import did_you_mean
from pinokiocloud.errors import PinokioCloudError, UserError

if TYPE_CHECKING:
    from typer._click.core import Context  # the click that Typer vendors (what its commands are given)

__all__ = ["app", "main"]


def _type_label(self: TyperArgument | TyperOption, ctx: Context) -> str | None:
    """What a value looks like in ``--help``: nothing for a flag, the metavar when one is given, else a plain
    word (TEXT, INTEGER, PATH) instead of Typer's ``<bool>``/``<list[str]>``."""
    del ctx
    if getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None
    if isinstance(self, TyperArgument):
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


TyperOption.display_type_rich = _type_label  # type: ignore[method-assign]
TyperArgument.display_type_rich = _type_label  # type: ignore[method-assign,assignment]
try:  # no Pydantic import for parameters left out (`status` without APP); leans on Typer's private modules
    from pinokiocloud.cli import lazy_coercion
except ImportError:  # a Typer without them: the CLI is 0.2 s slower, nothing else
    pass
else:
    lazy_coercion.install()


class _Commands(TyperGroup):
    """The command group: our errors become one line on stderr and an exit code (2: the user's mistake, what
    to do is in the line; 1: an operation failed), unless PINOKIOCLOUD_DEBUG=1 asks for the traceback."""

    def invoke(self, ctx: Context) -> object:
        debug = os.environ.get("PINOKIOCLOUD_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except UserError as exc:
            if debug:
                raise
            output.error(str(exc), exc.hint or did_you_mean(str(exc)))
            raise typer.Exit(2) from None
        except PinokioCloudError as exc:
            if debug:
                raise
            output.error(str(exc), exc.hint or "run again with PINOKIOCLOUD_DEBUG=1 for a traceback")
            raise typer.Exit(1) from None


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"pinokiocloud {__version__}")
        raise typer.Exit()


app = typer.Typer(
    cls=_Commands,
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
app.command("serve")(daemon.serve)
app.command("up")(daemon.up)
app.command("down")(daemon.down)
app.command("install")(lifecycle.install)
app.command("update")(lifecycle.update)
app.command("reinstall")(lifecycle.reinstall)
app.command("run")(lifecycle.run)
app.command("start")(lifecycle.start)
app.command("stop")(lifecycle.stop)
app.command("status")(status.status)
app.command("ls")(status.ls)
app.command("logs")(status.logs)
app.command("share")(share.share)
app.command("unshare")(share.unshare)
app.command("search")(status.search)
app.command("rm")(lifecycle.rm)
app.command("menu")(status.menu)


@app.command("version")
def version() -> None:
    """Print the PinokioCloud version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="pinokiocloud")


if __name__ == "__main__":
    main()
