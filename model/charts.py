"""Which diagrams exist and how each is built from a model: the one list every writer uses."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from model.chart import Chart
from model.chart_composite import composite
from model.chart_exit import exit_sequences
from model.chart_machines import lifecycle
from model.errors import ModelError
from model.extend import Model

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
