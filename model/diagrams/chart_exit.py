"""The child's and the main program's exit sequences side by side.

Each sequence is the chain of ``proceed`` rules that carry its guard (``is_child`` or
``is_main``); around it go the other process rules that apply to that side: the ends of the
target that enter the chain, and the signals and ``os._exit`` that leave it early. A child
from Python 3.13 on (``atexit_in_child``) has a side of its own: the main program's order.
"""

from __future__ import annotations

from proclife.model.core.extend import Model
from proclife.model.core.spec import Rule, Spec
from proclife.model.diagrams.chart import Chart, Cluster, Edge, EdgeKind, Line, Node
from proclife.model.diagrams.labels import rule_text

MACHINE = "process"
SIDES = ("is_child", "atexit_in_child", "is_main")
# A side leaves out the rules that need another side: Python 3.11/3.12 children, 3.13+ children, main.
EXCLUDES = {
    "is_child": ("is_main", "atexit_in_child"),
    "atexit_in_child": ("is_main", "!atexit_in_child"),
    "is_main": ("is_child", "atexit_in_child"),
}
CHAIN_GUARD = {"atexit_in_child": "is_child"}  # the proceed rules a side's chain is made of carry this
HIDE = {"is_child": ("is_child", "!atexit_in_child"), "atexit_in_child": ("is_child", "atexit_in_child"),
        "is_main": ("is_main",)}
STEP = "proceed"
EXITING = "exiting."


def chain(spec: Spec, guard: str) -> tuple[list[str], dict[str, Rule], str]:
    """The phases in order, the proceed rule leaving each, and the state the chain ends in."""
    steps: dict[str, Rule] = {}
    for r in spec.rules_of(MACHINE):
        if r.event != STEP or CHAIN_GUARD.get(guard, guard) not in r.when or not applies(r, guard):
            continue
        # Where a phase is left two ways (to the finalizers, or past them when there is nothing to
        # join), the chain goes through every phase; the shortcut is drawn as an edge beside it.
        if r.src[0] not in steps or str(r.dst).startswith(EXITING):
            steps[r.src[0]] = r
    targets = {r.dst for r in steps.values()}
    phase = next(s for s in steps if s not in targets)
    order = []
    while phase in steps:
        order.append(phase)
        phase = str(steps[phase].dst)
    return order, steps, phase


def applies(rule: Rule, guard: str) -> bool:
    """A rule belongs to a side unless it requires the other side's guard."""
    return not any(g in rule.when for g in EXCLUDES[guard])


def side(model: Model, guard: str) -> tuple[Cluster, list[Node], list[Edge]]:
    spec = model.spec
    phases, steps, end = chain(spec, guard)
    top = phases[0].partition(".")[0]
    ids = {"running": f"{guard}/running", top: f"{guard}/{top}", end: f"{guard}/end"}
    ids.update({p: f"{guard}/{p}" for p in phases})
    exiting = f"cluster_{guard}_{top}"
    lines: dict[str, list[Line]] = {p: [Line(steps[p].source.ref, "note")] for p in phases}
    grouped: dict[tuple[str, str, EdgeKind], list[str]] = {}
    for rule in spec.rules_of(MACHINE):
        if not applies(rule, guard):
            continue
        text = rule_text(rule, spec.event(rule.event).params, hide=HIDE[guard])
        if rule.dst is None:
            for p in phases:
                if p in rule.src:
                    lines[p].append(Line(text))
            continue
        if rule.dst not in ids or rule.dst == "running":
            continue
        kind: EdgeKind = "skip" if rule.dst == end and rule.event != STEP else spec.event(rule.event).actor
        for name in rule.src:
            src = "running" if name.partition(".")[0] == "running" else name
            if src in ids and text not in grouped.setdefault((src, rule.dst, kind), []):
                grouped[(src, rule.dst, kind)].append(text)
    edges = [
        Edge(ids[phases[0]] if src == top else ids[src], ids[dst], tuple(labels), kind,
             tail=exiting if src == top else None)
        for (src, dst, kind), labels in grouped.items()
    ]
    state_doc = {s.name: s.doc for s in spec.states_of(MACHINE)}
    nodes = [Node(ids["running"], "running", doc=state_doc["running"])]
    nodes += [Node(ids[p], p.rpartition(".")[2], kind="phase", doc=state_doc[p], lines=tuple(lines[p]))
              for p in phases]
    nodes.append(Node(ids[end], end, kind="end", doc=state_doc[end]))
    guard_doc = (model.semantics.guards[guard].__doc__ or "").strip()
    inner = Cluster(exiting, top, state_doc[top], nodes=tuple(ids[p] for p in phases), tone="1")
    outer = Cluster(f"cluster_{guard}", f"when {guard}", guard_doc,
                    nodes=(ids["running"], ids[end]), clusters=(inner,), tone="white")
    return outer, nodes, edges


def exit_sequences(model: Model) -> Chart:
    clusters, nodes, edges = [], [], []
    for guard in SIDES:
        cluster, more_nodes, more_edges = side(model, guard)
        clusters.append(cluster)
        nodes += more_nodes
        edges += more_edges
    return Chart(
        name="exit-sequences",
        title=f"exit sequences: child and main program ({model.spec.name} model v{model.spec.version})",
        nodes=tuple(nodes),
        edges=tuple(edges),
        clusters=tuple(clusters),
        rankdir="TB",
    )
