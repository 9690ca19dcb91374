"""The ``proclife`` command line: one group, one module per sub-command.

Errors the user can fix (``ModelError``, ``ImplementationError``, bad paths) end with a
one-line message and status 2; a failure of the harness itself ends with status 3.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import click

from proclife import __version__
from proclife.exits import HARNESS, USAGE

COMMANDS = (
    "proclife.commands.model_cmd",
    "proclife.commands.diagrams",
    "proclife.commands.conform",
    "proclife.commands.explore",
    "proclife.commands.replay",
    "proclife.commands.predict",
    "proclife.commands.demo",
    "proclife.commands.diff",
    "proclife.commands.trace",
    "proclife.commands.why",
)


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwound like Ctrl-C, so every ``with``/``finally`` cleans up on the way out."""


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While a command runs, SIGTERM interrupts it like SIGINT (unless it was inherited ignored)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Group(click.Group):
    """Turns our exception types into exit statuses and one-line messages."""

    def invoke(self, ctx: click.Context) -> object:
        from proclife.model.core.errors import ModelError

        try:
            with sigterm_interrupts():
                return super().invoke(ctx)
        except ModelError as exc:
            click.echo(f"proclife: error: {exc}", err=True)
            sys.exit(USAGE)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt as exc:
            why = " by SIGTERM" if isinstance(exc, Terminated) else ""
            click.echo(f"proclife: interrupted{why}; every process it started has been stopped", err=True)
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
