"""Render every diagram in every format and put the files in place all at once, or not at all.

Everything is rendered in memory first and staged in a hidden folder inside the target, then
renamed into place, so a failure (no ``dot``, a full disk, an unwritable folder) never leaves
half a set of diagrams next to an older, inconsistent one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import graphviz

from proclife.exits import USAGE
from proclife.model.core.extend import Model
from proclife.model.diagrams.chart import Chart
from proclife.model.diagrams.charts import DIAGRAMS, chart
from proclife.model.diagrams.mermaid import to_mermaid
from proclife.model.diagrams.render import HEADER, to_graphviz

FORMATS: dict[str, str] = {"svg": "svg", "png": "png", "pdf": "pdf", "dot": "dot", "mermaid": "mmd"}
DEFAULT_FORMATS = ("svg", "png", "dot", "mermaid")
PNG_DPI = "150"


class PublishError(Exception):
    """A problem the user can fix; the command line prints it on one line and exits with 2."""

    exit_status = USAGE


def parse_formats(text: str) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        msg = (f"unknown format {', '.join(unknown) or repr(text)}; "
               f"use --format with a comma-separated list of {', '.join(FORMATS)}")
        raise PublishError(msg)
    return wanted


def render(item: Chart, fmt: str) -> bytes:
    """One diagram in one format; the text formats never need the ``dot`` program."""
    if fmt == "mermaid":
        return to_mermaid(item).encode()
    graph = to_graphviz(item)
    if fmt == "dot":
        return graph.source.encode()
    if fmt == "png":
        graph.graph_attr["dpi"] = PNG_DPI
    try:
        data: bytes = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        msg = "graphviz's `dot` program is not on PATH; install graphviz (apt-get install graphviz)"
        raise PublishError(msg) from None
    except graphviz.CalledProcessError as exc:
        msg = f"graphviz could not draw {item.name}.{fmt}: {exc.stderr!r}; try --format dot and check the source"
        raise PublishError(msg) from None
    if fmt == "svg":
        declaration, _, rest = data.partition(b"\n")
        data = declaration + b"\n<!-- " + HEADER.encode() + b" -->\n" + rest
    return data


def render_all(model: Model, formats: tuple[str, ...]) -> dict[str, bytes]:
    """File name -> content for every diagram, in memory."""
    files: dict[str, bytes] = {}
    for name in DIAGRAMS:
        item = chart(name, model)
        for fmt in formats:
            files[f"{name}.{FORMATS[fmt]}"] = render(item, fmt)
    return files


def missing_dirs(path: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create, outermost first."""
    out = []
    while not path.exists() and path != path.parent:
        out.append(path)
        path = path.parent
    return out[::-1]


def write_all(files: dict[str, bytes], out: Path, option: str = "--out") -> list[Path]:
    """Stage the files inside ``out``, then rename each into place; undo everything on failure."""
    created = missing_dirs(out)
    stage: Path | None = None
    try:
        out.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".proclife-diagrams-", dir=out))
        for name, data in files.items():
            (stage / name).write_bytes(data)
        placed = []
        for name in files:
            os.replace(stage / name, out / name)
            placed.append(out / name)
        return placed
    except OSError as exc:
        for path in reversed(created):
            shutil.rmtree(path, ignore_errors=True)
        reason = exc.strerror or type(exc).__name__
        msg = f"cannot write to {out}: {reason}; choose a writable folder with {option} DIR"
        raise PublishError(msg) from None
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)


def publish(model: Model, out: Path, formats: tuple[str, ...]) -> list[Path]:
    return write_all(render_all(model, formats), out)
