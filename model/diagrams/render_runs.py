"""Pictures of runs: the state graph of a small bounded system, and a path through it.

Nodes are whole systems described compactly (one line per process); edges are actions.
A counterexample is drawn as a highlighted chain so that it reads from top to bottom.
"""

from __future__ import annotations

from collections.abc import Sequence

import graphviz

from proclife.model.core.base import (
    BLOCKED,
    JOIN_CHILDREN,
    JOIN_THREADS,
    REAPED,
    RUNNABLE,
    TERMINATE_DAEMONS,
    ZOMBIE,
)
from proclife.model.core.errors import ModelError
from proclife.model.core.system import System
from proclife.model.explore.explorer import Explorer, Step

SHORT = {
    RUNNABLE: "run", BLOCKED: "blk", TERMINATE_DAEMONS: "x:term",
    JOIN_CHILDREN: "x:kids", JOIN_THREADS: "x:thr", ZOMBIE: "zmb",
    REAPED: "gone", "terminated": "end", "new": "new",
}


class GraphTooBigError(ModelError):
    """The state graph is too big to draw."""


def brief(system: System) -> str:
    """One line per process: P<i> life [handle] exitcode, thread lives."""
    lines = []
    for i, p in enumerate(system.procs):
        text = f"P{i}{'d' if p.daemon else ''} {SHORT.get(p.life, p.life)}"
        if p.handle:
            text += f" [{p.handle}]"
        if p.exitcode is not None:
            text += f" ={p.exitcode}"
        if p.orphan:
            text += " orphan"
        if p.threads:
            text += " " + ",".join(f"{'d' if t.daemon else 'n'}{SHORT.get(t.life, t.life)}" for t in p.threads)
        lines.append(text)
    return "\\n".join(lines)


def state_graph(explorer: Explorer, limit: int = 400) -> graphviz.Digraph:
    """Every reachable system of a small bound as a node (self-loops left out)."""
    start = explorer._norm(System.initial())
    index = {start: 0}
    todo = [start]
    dot = graphviz.Digraph("states", graph_attr={"rankdir": "TB"}, node_attr={"shape": "box", "fontsize": "9"})
    dot.node("s0", brief(start), style="bold")
    edges: set[tuple[int, int, str]] = set()
    while todo:
        system = todo.pop()
        for action, t in explorer.successors(system):
            nxt = explorer._norm(t.system)
            if nxt not in index:
                if len(index) >= limit:
                    raise GraphTooBigError(
                        f"the state graph has more than {limit} states; draw smaller bounds "
                        "(e.g. --procs 1 --threads 0 --scope small)"
                    )
                index[nxt] = len(index)
                dot.node(f"s{index[nxt]}", brief(nxt))
                todo.append(nxt)
            if nxt != system:
                edges.add((index[system], index[nxt], action.describe()))
    for a, b, label in sorted(edges):
        dot.edge(f"s{a}", f"s{b}", label=label, fontsize="8")
    return dot


def path_graph(path: Sequence[Step], title: str = "path") -> graphviz.Digraph:
    """A path from the initial system, the last state highlighted in red."""
    dot = graphviz.Digraph(title, graph_attr={"rankdir": "TB", "label": title},
                           node_attr={"shape": "box", "fontsize": "9"})
    dot.node("s0", brief(System.initial()))
    for k, step in enumerate(path, 1):
        last = k == len(path)
        dot.node(f"s{k}", brief(step.system), color="red" if last else "black", penwidth="2" if last else "1")
        dot.edge(f"s{k - 1}", f"s{k}", label=f"{step.action.describe()}\\n{', '.join(step.rules)}",
                 color="red", fontsize="8", penwidth="2")
    return dot


def rendered(dot: graphviz.Digraph, name: str, fmt: str = "svg") -> dict[str, bytes]:
    """``name.dot`` and ``name.<fmt>``, in memory: the caller writes them all at once or none."""
    return {f"{name}.dot": dot.source.encode(), f"{name}.{fmt}": dot.pipe(format=fmt)}
