"""proclife: a formal model of how a Python process lives and dies, and the tools that check it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from model.charts import DIAGRAMS

if TYPE_CHECKING:
    import graphviz

    from model.extend import Extension

__version__ = "0.1.0"
__all__ = ["DIAGRAMS", "__version__", "diagram", "model_data"]


def diagram(name: str, extend: Sequence[str | Extension] = ()) -> graphviz.Digraph:
    """One diagram of the (extended) model; a notebook shows the returned Digraph inline."""
    from model.charts import chart
    from model.extend import load
    from model.render import to_graphviz

    return to_graphviz(chart(name, load(extend)))


def model_data(extend: Sequence[str | Extension] = ()) -> dict[str, Any]:
    """The (extended) model as plain data, schema ``proclife.model/1`` (docs/model-schema.md)."""
    from model.export import model_data as export
    from model.extend import load

    return export(load(extend))
