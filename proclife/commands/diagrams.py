"""``proclife diagrams``: render every diagram of the model into a folder, all or nothing."""

from __future__ import annotations

from pathlib import Path

import click

from proclife.model.core.extend import load
from proclife.publish import DEFAULT_FORMATS, FORMATS, parse_formats, publish


@click.command("diagrams")
@click.option("--out", "out", default="diagrams", show_default=True, type=click.Path(path_type=Path),
              help="Folder to write into (created if missing).")
@click.option("--format", "formats", default=",".join(DEFAULT_FORMATS), show_default=True,
              help=f"Comma-separated formats among {', '.join(FORMATS)}.")
@click.option("--extend", "extend", multiple=True, metavar="MODULE:ATTR",
              help="Apply an extension before drawing; repeat to apply several in order.")
def command(out: Path, formats: str, extend: tuple[str, ...]) -> None:
    """Draw the life-cycle, exit-sequence and composite diagrams from the model."""
    wanted = parse_formats(formats)
    model = load(extend)
    written = publish(model, out, wanted)
    click.echo(f"wrote {len(written)} files to {out}")
