"""The life-cycle chart of one machine (handle, process, thread), read straight off the spec.

Rules that change state become edges, grouped per (source, target, actor) so parallel rules
share one arrow; rules that keep the state are listed inside the state they apply in, the
way UML writes internal transitions, so illegal calls and their exceptions stay visible
without a tangle of self-loops.
"""

from __future__ import annotations

from proclife.model.core.extend import Model
from proclife.model.core.spec import Rule, Spec, StateDef
from proclife.model.diagrams.chart import Chart, Cluster, Edge, EdgeKind, Line, Node
from proclife.model.diagrams.labels import rule_text


def node_id(machine: str, state: str) -> str:
    return f"{machine}/{state}"


def cluster_id(machine: str, state: str) -> str:
    return f"cluster_{machine}_{state.replace('.', '_')}"


def line(spec: Spec, rule: Rule) -> Line:
    text = rule_text(rule, spec.event(rule.event).params)
    return Line(text, "error" if rule.outcome.raises else "ok", (rule.id,))


def internal_lines(spec: Spec, machine: str) -> dict[str, tuple[Line, ...]]:
    """Per state name as the rules write it: the rules that keep the state.

    Events with the same guards and result share a line (``pid, sentinel → int``), so a
    state where most calls fail the same way reads as one sentence, not a column of repeats.
    """
    grouped: dict[str, dict[tuple[str, bool], list[Rule]]] = {}
    for rule in spec.rules_of(machine):
        if rule.dst is None:
            rest = line(spec, rule).text[len(rule.event):]
            for name in rule.src:
                grouped.setdefault(name, {}).setdefault((rest, bool(rule.outcome.raises)), []).append(rule)
    return {
        name: tuple(Line(", ".join(r.event for r in rules) + rest, "error" if raises else "ok",
                         tuple(r.id for r in rules))
                    for (rest, raises), rules in by_result.items())
        for name, by_result in grouped.items()
    }


def state_edges(spec: Spec, machine: str, compound: set[str]) -> tuple[Edge, ...]:
    grouped: dict[tuple[str, str, EdgeKind], list[Rule]] = {}
    for rule in spec.rules_of(machine):
        if rule.dst is None:
            continue
        kind: EdgeKind = spec.event(rule.event).actor
        for name in rule.src:
            grouped.setdefault((name, rule.dst, kind), []).append(rule)
    edges = []
    for (src, dst, kind), rules in grouped.items():
        tail = cluster_id(machine, src) if src in compound else None
        start = spec.expand(machine, src)[0]
        edges.append(Edge(node_id(machine, start), node_id(machine, dst), tuple(line(spec, r).text for r in rules),
                          kind, tail=tail, rules=tuple(r.id for r in rules)))
    return tuple(edges)


def build_cluster(spec: Spec, machine: str, state: StateDef, lines: dict[str, tuple[Line, ...]],
                  compound: set[str], tone: str) -> Cluster:
    children = [s for s in spec.states_of(machine) if s.parent == state.name]
    return Cluster(
        id=cluster_id(machine, state.name),
        title=state.name,
        doc=state.doc,
        nodes=tuple(node_id(machine, s.name) for s in children if s.name not in compound),
        clusters=tuple(build_cluster(spec, machine, s, lines, compound, tone)
                       for s in children if s.name in compound),
        lines=lines.get(state.name, ()),
        tone=tone,
    )


def lifecycle(model: Model, machine: str) -> Chart:
    """Every state, every rule of ``machine``; compound states become clusters."""
    spec = model.spec
    states = spec.states_of(machine)
    compound = {s.parent for s in states if s.parent}
    lines = internal_lines(spec, machine)
    start = node_id(machine, "__initial")
    nodes = [Node(start, "", kind="initial")]
    nodes += [
        Node(node_id(machine, s.name), s.name.rpartition(".")[2], doc=s.doc, lines=lines.get(s.name, ()))
        for s in states if s.name not in compound
    ]
    tops = [s for s in states if s.parent is None and s.name in compound]
    clusters = tuple(build_cluster(spec, machine, s, lines, compound, str(i)) for i, s in enumerate(tops))
    edges = (Edge(start, node_id(machine, spec.initial[machine]), (), "initial"),
             *state_edges(spec, machine, compound))
    return Chart(
        name=machine,
        title=f"{machine} life-cycle ({spec.name} model v{spec.version})",
        nodes=tuple(nodes),
        edges=edges,
        clusters=clusters,
        rankdir="TB" if compound or len(states) > 3 else "LR",
        legend_lines=tuple(Line(f"note: {n}", "note") for n in spec.notes if machine in n.lower()),
    )
