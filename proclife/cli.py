"""The ``proclife`` command line: one group, one module per sub-command.

Errors the user can fix (``ModelError``, ``ImplementationError``, bad paths) end with a
one-line message and status 2; a failure of the harness itself ends with status 3.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from proclife import __version__
from proclife.exits import HARNESS, USAGE

COMMANDS = (
    "proclife.commands.model_cmd",
    "proclife.commands.diagrams",
    "proclife.commands.conform",
    "proclife.commands.explore",
    "proclife.commands.replay",
    "proclife.commands.demo",
    "proclife.commands.diff",
)


class Group(click.Group):
    """Turns our exception types into exit statuses and one-line messages."""

    def invoke(self, ctx: click.Context) -> object:
        from proclife.model.core.errors import ModelError

        try:
            return super().invoke(ctx)
        except ModelError as exc:
            click.echo(f"proclife: error: {exc}", err=True)
            sys.exit(USAGE)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("proclife: interrupted; every process it started has been stopped", err=True)
            sys.exit(HARNESS)
        except Exception as exc:
            kind = getattr(exc, "exit_status", None)
            if isinstance(kind, int):
                click.echo(f"proclife: error: {exc}", err=True)
                sys.exit(kind)
            # A crash is proclife's own failure: never status 1, which would read as a finding.
            traceback.print_exc()
            click.echo("proclife: internal error (traceback above): a failure of proclife, not a finding", err=True)
            sys.exit(HARNESS)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="proclife")
def main() -> None:
    """A formal model of the life of a Python process, its diagrams, and its checks against real processes."""


for _name in COMMANDS:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:
        if _exc.name != _name:
            raise
        continue
    main.add_command(_module.command)
