"""``proclife diff A B``: the rules two profiles disagree on, listed and drawn."""

from __future__ import annotations

import html
from pathlib import Path

import click
import graphviz

from proclife.model.core.spec import Rule
from proclife.model.profiles.diff import RuleDiff, rule_diff
from proclife.model.profiles.profile import Profile, model_of
from proclife.model.profiles.registry import resolve_profile
from proclife.publish import PublishError

COLOURS = {"added": "#1a7f37", "removed": "#cf222e", "changed": "#bc4c00"}


def changes(old: Rule, new: Rule) -> list[str]:
    """Each field that differs, as `field: old => new`."""
    out = []
    for name in ("src", "dst", "when", "effects", "outcome"):
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            show = (lambda v: v.describe() or "-") if name == "outcome" else (lambda v: ", ".join(v) if isinstance(v, tuple) else str(v))
            out.append(f"{name}: {show(before) or '-'} => {show(after) or '-'}")
    return out


def listing(a: Profile, b: Profile, diff: RuleDiff) -> list[str]:
    lines = [f"{a.name} -> {b.name}: {len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed"]
    lines += [f"  added   {r.id}: {' '.join(r.src)} -> {r.dst or '(stays)'}: {r.label()}" for r in diff.added]
    lines += [f"  removed {r.id}: {' '.join(r.src)} -> {r.dst or '(stays)'}: {r.label()}" for r in diff.removed]
    for old, new in diff.changed:
        lines.append(f"  changed {old.id}: {'; '.join(changes(old, new))}")
    for profile in (a, b):
        if profile.deviations:
            lines.append(f"  deviations of {profile.name}:")
            lines += [f"    {d.id}: {d.doc} ({d.source})" for d in profile.deviations]
    return lines


def drawing(a: Profile, b: Profile, diff: RuleDiff) -> graphviz.Digraph:
    """One cluster per machine; each differing transition drawn in the colour of its kind."""
    g = graphviz.Digraph(f"diff-{a.name}-{b.name}", graph_attr={
        "label": f"{a.name} → {b.name}: differing transitions (green added, red removed, orange changed)",
        "labelloc": "t", "fontname": "Helvetica,Arial,sans-serif", "rankdir": "LR", "fontsize": "16"},
        node_attr={"shape": "box", "style": "rounded", "fontname": "Helvetica,Arial,sans-serif"},
        edge_attr={"fontname": "Helvetica,Arial,sans-serif", "fontsize": "10"})
    marked: list[tuple[str, Rule]] = [("added", r) for r in diff.added] + [("removed", r) for r in diff.removed]
    marked += [("changed", new) for _old, new in diff.changed]
    sign = {"added": "+", "removed": "−", "changed": "~"}
    for machine in sorted({r.machine for _k, r in marked}):
        loops: dict[str, list[str]] = {}
        with g.subgraph(name=f"cluster_{machine}", graph_attr={"label": machine}) as sub:
            for kind, rule in marked:
                if rule.machine != machine:
                    continue
                for src in rule.src:
                    if rule.dst is None:  # a call that keeps the state: listed inside the state's box
                        text = html.escape(f"{sign[kind]} {rule.id}: {rule.label()}")
                        loops.setdefault(src, []).append(f'<font color="{COLOURS[kind]}">{text}</font>')
                        continue
                    sub.node(f"{machine}__{src}", src)
                    sub.node(f"{machine}__{rule.dst}", rule.dst)
                    style = "dashed" if kind == "removed" else "solid"
                    sub.edge(f"{machine}__{src}", f"{machine}__{rule.dst}", label=f"{rule.id}\n{rule.label()}",
                             color=COLOURS[kind], fontcolor=COLOURS[kind], style=style)
            for state, lines in loops.items():
                rows = "".join(f'<tr><td align="left">{line}</td></tr>' for line in lines)
                sub.node(f"{machine}__{state}", f'<<table border="0"><tr><td><b>{state}</b></td></tr>{rows}</table>>')
    return g


@click.command("diff")
@click.argument("profile_a")
@click.argument("profile_b")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("proclife-out"),
              show_default=True, help="Folder for the diagram (svg and dot).")
def command(profile_a: str, profile_b: str, out: Path) -> None:
    """Print the rules that differ between two profiles and draw them."""
    a, b = resolve_profile(profile_a), resolve_profile(profile_b)
    diff = rule_diff(model_of(a).spec, model_of(b).spec)
    click.echo("\n".join(listing(a, b, diff)))
    graph = drawing(a, b, diff)
    try:
        out.mkdir(parents=True, exist_ok=True)
        svg = graph.pipe(format="svg")
        (out / f"{graph.name}.svg").write_bytes(svg)
        (out / f"{graph.name}.dot").write_text(graph.source)
    except OSError as exc:
        raise PublishError(f"cannot write the diagram to {out}: {exc.strerror or exc}; choose another --out") from None
    except graphviz.ExecutableNotFound:
        raise PublishError("graphviz's `dot` is not installed; install it with `apt-get install graphviz`") from None
    click.echo(f"drew {out / (graph.name + '.svg')}")
