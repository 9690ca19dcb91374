"""Which diagrams exist and how each is built from a model: the one list every writer uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Model
from proclife.model.diagrams.chart import Chart
from proclife.model.diagrams.chart_composite import composite
from proclife.model.diagrams.chart_exit import exit_sequences
from proclife.model.diagrams.chart_machines import lifecycle

BUILDERS: dict[str, Callable[[Model], Chart]] = {
    "handle": partial(lifecycle, machine="handle"),
    "process": partial(lifecycle, machine="process"),
    "thread": partial(lifecycle, machine="thread"),
    "exit-sequences": exit_sequences,
    "composite": composite,
}
DIAGRAMS: tuple[str, ...] = tuple(BUILDERS)


def chart(name: str, model: Model) -> Chart:
    try:
        build = BUILDERS[name]
    except KeyError:
        msg = f"no diagram {name!r}; choose one of {', '.join(DIAGRAMS)}"
        raise ModelError(msg) from None
    return build(model)
