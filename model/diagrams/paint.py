"""A run's coverage painted on a life-cycle chart: pure, a ``Chart`` in and a ``Chart`` out.

Each rule's count goes on its row (an edge label's row, or a state's row for a rule that keeps
the state); an edge none of whose rules was taken is faint; the consequences a rule showed
go in its edge's tooltip (a state's, for the rules listed inside it); and the rules of a
disagreement's trace are a red path, each row marked with the step numbers that took it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from proclife.model.diagrams.chart import Chart, Cluster, Edge, Line, Node


@dataclass(frozen=True)
class Coverage:
    """What a run took: steps per rule, the consequences each rule showed, a trace's rules by step
    (the last entry the rules the disagreeing step expected)."""

    counts: Mapping[str, int] = field(default_factory=dict)
    consequences: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    trace: tuple[tuple[str, ...], ...] = ()

    def steps(self, rule: str) -> list[int]:
        return [i for i, rules in enumerate(self.trace, 1) if rule in rules]


def _row(text: str, rules: tuple[str, ...], coverage: Coverage) -> str:
    count = sum(coverage.counts.get(r, 0) for r in rules)
    steps = sorted({s for r in rules for s in coverage.steps(r)})
    marks = f" ×{count}" + (f"  ◀ step {', '.join(map(str, steps))}" if steps else "")
    return text + marks


def _tooltip(rules: tuple[str, ...], coverage: Coverage) -> str:
    lines = [f"{r}: {c}" for r in rules for c in coverage.consequences.get(r, ())]
    return "\n".join(lines) if lines else "no consequence observed"


def _edge(edge: Edge, coverage: Coverage) -> Edge:
    if not edge.rules:
        return edge
    taken = any(coverage.counts.get(r, 0) for r in edge.rules)
    on_path = any(coverage.steps(r) for r in edge.rules)
    labels = tuple(_row(text, (rule,), coverage) for text, rule in zip(edge.label, edge.rules, strict=True))
    return replace(edge, label=labels, tone="path" if on_path else "plain" if taken else "faint",
                   tooltip=_tooltip(edge.rules, coverage))


def _line(line: Line, coverage: Coverage) -> Line:
    if not line.rules:
        return line
    taken = any(coverage.counts.get(r, 0) for r in line.rules)
    kind = line.kind if taken else "note"
    return replace(line, text=_row(line.text, line.rules, coverage), kind=kind)


def _lines_tooltip(lines: tuple[Line, ...], coverage: Coverage) -> str:
    return _tooltip(tuple(r for line in lines for r in line.rules), coverage)


def _node(node: Node, coverage: Coverage) -> Node:
    if not any(line.rules for line in node.lines):
        return node
    return replace(node, lines=tuple(_line(x, coverage) for x in node.lines),
                   tooltip=_lines_tooltip(node.lines, coverage))


def _cluster(cluster: Cluster, coverage: Coverage) -> Cluster:
    return replace(cluster, lines=tuple(_line(x, coverage) for x in cluster.lines),
                   clusters=tuple(_cluster(c, coverage) for c in cluster.clusters))


def paint(chart: Chart, coverage: Coverage) -> Chart:
    """``chart`` with the run's coverage on it (see the module's docstring)."""
    legend: tuple[Line, ...] = (
        Line("×N: steps that took the rule; faint: never taken", "note"),
        Line("hover an edge or a state: the consequences each rule showed", "note"),
    )
    if coverage.trace:
        legend += (Line(f"red: the disagreement's trace ({len(coverage.trace)} steps; ◀ step numbers)", "error"),)
    return replace(
        chart,
        title=chart.title + ": coverage of a run",
        nodes=tuple(_node(n, coverage) for n in chart.nodes),
        edges=tuple(_edge(e, coverage) for e in chart.edges),
        clusters=tuple(_cluster(c, coverage) for c in chart.clusters),
        legend_lines=chart.legend_lines + legend,
    )
