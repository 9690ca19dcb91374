"""The pictures of a traced run (``proclife trace --draw DIR``): its timeline, and the model's diagrams
painted with the rules its decision took, by ``paint`` exactly as ``proclife conform --draw`` paints a
run's coverage (the diagrams come from the model; nothing of the model is restated here). The
command line renders the painted charts and writes every file at once.
"""

from __future__ import annotations

import json
from collections import Counter

from proclife.model.core.extend import load
from proclife.model.core.spec import MACHINES
from proclife.model.diagrams.chart import Chart
from proclife.model.diagrams.charts import chart
from proclife.model.diagrams.paint import Coverage, paint
from proclife.model.profiles.profile import model_of
from proclife.model.profiles.registry import default_profile, resolve_profile
from proclife.trace.decide import Decision, _path
from proclife.trace.timeline import timeline
from proclife.trace.timeline_svg import to_svg
from proclife.trace.view import Json
from proclife.trace.witness import witness


def coverage(decision: Decision) -> Coverage:
    """Each rule's count in one run of the model along the matched steps (the step's own rules and
    the model's progress it needed); for a rejected trace, the steps up to the refused one as a red
    path, its last entry the rules the model had there."""
    path = _path(decision.failure.link) if decision.failure is not None else decision.path
    steps = witness(decision.setting.engine, path)
    counts = dict(sorted(Counter(rule for rules in steps for rule in rules).items()))
    if decision.verdict != "rejected":
        return Coverage(counts=counts)
    rejected = decision.as_json()["rejected"] or {}
    return Coverage(counts=counts, trace=(*steps, tuple(r["id"] for r in rejected.get("rules", []))))


def timeline_files(doc: Json) -> dict[str, bytes]:
    """The timeline: SVG, and the JSON it is drawn from."""
    line = timeline(doc)
    return {"timeline.svg": to_svg(line).encode(),
            "timeline.json": (json.dumps(line.as_json(), indent=1) + "\n").encode()}


def painted(decision: Decision, profile: str | None = None) -> dict[str, Chart]:
    """Each life-cycle diagram (``MACHINES``: handle, process, thread) painted with the decision's
    rules, by the model the trace was decided by; the command line renders them (as conform does)."""
    chosen = resolve_profile(profile) if profile else default_profile(decision.setting.start_method)
    model = load(base=model_of(chosen))
    painting = coverage(decision)
    return {name: paint(chart(name, model), painting) for name in MACHINES}
