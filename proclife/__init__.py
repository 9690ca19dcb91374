"""proclife: a formal model of how a Python process lives and dies, and the tools that check it.

The public face is thin and lazy: ``import proclife`` loads nothing of the model, so the
agent that runs inside every process under test (``proclife.runtime.agent``) stays light.
"""

from __future__ import annotations

from collections.abc import Sequence

TYPE_CHECKING = False  # typing itself costs the agent's every fresh interpreter milliseconds
if TYPE_CHECKING:
    from typing import Any

    import graphviz

    from proclife.model.core.extend import Extension
    from proclife.model.core.machines import SpecMachine

__version__ = "0.1.0"
__all__ = ["DIAGRAMS", "__version__", "diagram", "machine", "model_data"]


def diagram(name: str, extend: Sequence[str | Extension] = ()) -> graphviz.Digraph:
    """One diagram of the (extended) model; a notebook shows the returned Digraph inline."""
    from proclife.model.core.extend import load
    from proclife.model.diagrams.charts import chart
    from proclife.model.diagrams.render import to_graphviz

    return to_graphviz(chart(name, load(extend)))


def model_data(extend: Sequence[str | Extension] = ()) -> dict[str, Any]:
    """The (extended) model as plain data, schema ``proclife.model/1`` (docs/model-schema.md)."""
    from proclife.model.core.export import model_data as export
    from proclife.model.core.extend import load

    return export(load(extend))


def machine(name: str, extend: Sequence[str | Extension] = ()) -> SpecMachine:
    """One machine of the (extended) model (``handle``, ``process`` or ``thread``) as a ``transitions`` machine.

    It is the spec run by ``transitions``' own semantics: one transition per rule, the rule's
    guards as conditions (pass ``guards={name: bool}`` to a trigger to assume their values,
    or ``system=`` and ``ctx=`` to evaluate them), ``rule=<id>`` to pick one alternative. The
    tests cross-check it rule by rule against proclife's own engine. Drive it in a notebook:
    ``m = proclife.machine("handle"); m.start(guards={...}); m.state``.
    """
    from proclife.model.core.extend import load
    from proclife.model.core.machines import build_machine

    return build_machine(load(extend), name)


def __getattr__(name: str) -> Any:
    if name == "DIAGRAMS":
        from proclife.model.diagrams.charts import DIAGRAMS

        return DIAGRAMS
    raise AttributeError(f"module 'proclife' has no attribute {name!r}")
