"""A diagram as neutral data: nodes, clusters, edges and a legend, before any drawing syntax.

Builders turn the spec into a ``Chart``; the graphviz and mermaid writers only draw it, so
both formats show the same thing and neither holds a fact about processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# How an edge came about: the event's actor, or a role in the exit-sequence picture.
EdgeKind = Literal["program", "environment", "internal", "skip", "relation", "initial"]
LineKind = Literal["ok", "error", "note"]
EdgeTone = Literal["plain", "faint", "path"]  # faint: never taken in a run; path: on a disagreement's trace
NodeKind = Literal["state", "initial", "phase", "end", "process", "thread", "handle", "note"]

EDGE_MEANING: dict[str, str] = {
    "program": "the program does it (a call, or its code)",
    "environment": "from outside: a signal",
    "internal": "happens by itself (exit sequence, reaping)",
    "skip": "ends the process, skipping the rest",
    "relation": "owns / controls",
}


@dataclass(frozen=True)
class Line:
    """One row of a node's compartment: a call and its result, or a remark."""

    text: str
    kind: LineKind = "ok"
    rules: tuple[str, ...] = ()  # the rules the row stands for (a coverage painting reads them)


@dataclass(frozen=True)
class Node:
    id: str
    title: str
    kind: NodeKind = "state"
    doc: str = ""
    lines: tuple[Line, ...] = ()
    daemon: bool = False
    tooltip: str = ""


@dataclass(frozen=True)
class Cluster:
    """A group of nodes (a compound state, a process); clusters nest."""

    id: str
    title: str
    doc: str = ""
    nodes: tuple[str, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    lines: tuple[Line, ...] = ()
    tone: str = "plain"
    daemon: bool = False

    def all_nodes(self) -> tuple[str, ...]:
        return self.nodes + tuple(n for c in self.clusters for n in c.all_nodes())


@dataclass(frozen=True)
class Edge:
    """``tail``/``head`` name a cluster the edge should visibly leave or enter (graphviz ltail/lhead)."""

    src: str
    dst: str
    label: tuple[str, ...]
    kind: EdgeKind
    tail: str | None = None
    head: str | None = None
    rules: tuple[str, ...] = ()  # one per label row, the rule it shows
    tone: EdgeTone = "plain"
    tooltip: str = ""


@dataclass(frozen=True)
class Chart:
    name: str
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    clusters: tuple[Cluster, ...] = ()
    rankdir: Literal["LR", "TB"] = "LR"
    legend_lines: tuple[Line, ...] = field(default=())
    call_legend: bool = True

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def edge_kinds(self) -> tuple[str, ...]:
        return tuple(k for k in EDGE_MEANING if any(e.kind == k for e in self.edges))
