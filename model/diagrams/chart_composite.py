"""How the three machines tie together in one system, built by running the engine.

The picture is a snapshot of a small example (main starts a non-daemon and a daemon child;
the first child runs a non-daemon and a daemon thread) reached from ``System.initial()``
through ``Engine.predict``, plus what the engine predicts if each target returned now.
Every state shown is the engine's, so the picture follows the rules when they change.
"""

from __future__ import annotations

from proclife.model.core.engine import Engine
from proclife.model.core.errors import ModelError
from proclife.model.core.extend import Model
from proclife.model.core.semantics import Action
from proclife.model.core.system import MAIN, System
from proclife.model.diagrams.chart import Chart, Cluster, Edge, Line, Node

SCENARIO: tuple[Action, ...] = (
    Action("create_child", MAIN, arg=False),
    Action("create_child", MAIN, arg=True),
    Action("start", 1),
    Action("start", 2),
    Action("create_thread", 1, arg=False),
    Action("create_thread", 1, arg=True),
    Action("thread_start", 1, 0),
    Action("thread_start", 1, 1),
    Action("thread_block", 1, 0),
)
WHAT_IF = "target_return"
SHOWN = ("life", "handle", "exitcode", "awaited", "orphan")  # ProcState fields worth a reader's eye


def run(engine: Engine, actions: tuple[Action, ...]) -> System:
    """The scenario's system; each step must have exactly one outcome, or the picture would lie."""
    system = System.initial()
    for action in actions:
        outcomes = engine.predict(system, action)
        if len(outcomes) != 1:
            msg = (f"composite diagram: {action.describe()} has {len(outcomes)} outcomes in this model; "
                   f"the example needs exactly one (adjust SCENARIO in model/diagrams/chart_composite.py)")
            raise ModelError(msg)
        system = outcomes[0].system
    return system


def who(system: System, pid: int) -> str:
    proc = system.procs[pid]
    if proc.parent is None:
        return f"P{pid} main program"
    return f"P{pid} {'daemon' if proc.daemon else 'non-daemon'} child of P{proc.parent}"


def what_if(engine: Engine, system: System) -> tuple[Line, ...]:
    """For each running process: the rules its target's return sets off, and where everyone waits."""
    lines = []
    for pid, proc in enumerate(system.procs):
        if not proc.running:
            continue
        for t in engine.predict(system, Action(WHAT_IF, pid)):
            lines.append(Line(f"if P{pid}'s {WHAT_IF}: " + ", ".join(t.rules)))
            for other, (before, after) in enumerate(zip(system.procs, t.system.procs, strict=False)):
                changed = [f"{name} {getattr(before, name)} → {getattr(after, name)}"
                           for name in SHOWN if getattr(before, name) != getattr(after, name)]
                if changed:
                    lines.append(Line(f"    P{other}: " + "; ".join(changed), "note"))
    return tuple(lines)


def process_cluster(system: System, pid: int) -> tuple[Cluster, list[Node]]:
    proc = system.procs[pid]
    life = Node(f"P{pid}/process", "process", kind="process", doc="process machine",
                lines=(Line(proc.life),))
    nodes = [life]
    for i, thread in enumerate(proc.threads):
        kind = "daemon" if thread.daemon else "non-daemon"
        nodes.append(Node(f"P{pid}/T{i}", f"thread T{i}", kind="thread", doc=f"{kind}; thread machine",
                          lines=(Line(thread.life),), daemon=thread.daemon))
    for child in system.children(pid):
        handle = system.procs[child].handle or ""
        nodes.append(Node(f"P{pid}/handle/P{child}", f"Process handle of P{child}", kind="handle",
                          doc="handle machine", lines=(Line(handle),)))
    cluster = Cluster(f"cluster_P{pid}", who(system, pid), nodes=tuple(n.id for n in nodes),
                      tone=str(min(pid, 1) * 3), daemon=proc.daemon)
    return cluster, nodes


def composite(model: Model) -> Chart:
    engine = Engine(model.spec, model.semantics)
    system = run(engine, SCENARIO)
    clusters, nodes, edges = [], [], []
    for pid in range(len(system.procs)):
        cluster, more = process_cluster(system, pid)
        clusters.append(cluster)
        nodes += more
        for i in range(len(system.procs[pid].threads)):
            edges.append(Edge(f"P{pid}/process", f"P{pid}/T{i}", ("runs",), "relation"))
        for child in system.children(pid):
            edges.append(Edge(f"P{pid}/handle/P{child}", f"P{child}/process", ("controls",), "relation",
                              head=f"cluster_P{child}"))
    steps = tuple(Line(a.describe()) for a in SCENARIO)
    nodes.append(Node("scenario", "built from System.initial() by", kind="note", lines=steps))
    nodes.append(Node("predictions", "what the engine predicts next", kind="note",
                      lines=what_if(engine, system)))
    return Chart(
        name="composite",
        title=f"a process with its threads and children ({model.spec.name} model v{model.spec.version})",
        nodes=tuple(nodes),
        edges=tuple(edges),
        clusters=tuple(clusters),
        rankdir="TB",
        call_legend=False,
        legend_lines=(Line("dashed border: a daemon process or thread", "note"),
                      Line("each box shows its machine's current state", "note")),
    )
