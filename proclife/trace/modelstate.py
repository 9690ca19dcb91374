"""The model's state for each process of a run so far: where the model says a held process is.

The events so far are decided against the model as a whole trace is (``proclife.trace.decide``);
when some ordering of them is a run of the model, the states it ends in, and those each
process's own progress reaches from them with no further fact (``proclife.trace.progress``),
give the lives the model allows it now (``exiting.join_threads``...). A run so far the model
does not allow gives none.
"""

from __future__ import annotations

from proclife.trace.decide import search, setting
from proclife.trace.progress import Progress
from proclife.trace.steps import translate
from proclife.trace.view import Json


def lives(doc: Json, profile: str | None = None) -> dict[int, list[str]]:
    """Each traced pid's lives the model allows after the run so far (empty if none fits)."""
    chosen = setting(doc, profile)
    translation = translate(doc, chosen.engine)
    found = search(chosen.engine, translation)
    if found.verdict != "accepted":
        return {}
    progress = Progress(chosen.engine)
    allowed: dict[int, list[str]] = {}
    for pid, model in translation.model_pids.items():
        reached = {state for final in found.final if model < len(final.procs)
                   for state in progress.reach(final, (), frozenset({model}))}
        allowed[pid] = sorted({state.procs[model].life for state in reached})
    return allowed
