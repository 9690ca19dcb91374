"""A trace document read for questions: each process's events, exit steps, open calls and family."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]
SECOND = 1e9


def when(event: Json) -> int:
    """When the fact was known: its end, or its begin for a fact with no end (as the observer's Event.time)."""
    end = event["end"]
    return int(event["begin"] if end is None else end)


@dataclass(frozen=True)
class Step:
    """One exit step as run (not a repeated call): begin, end (None: it never returned)."""

    pid: int
    step: str
    begin: int
    end: int | None

    def holds(self, t: int) -> bool:
        return self.begin <= t and (self.end is None or t <= self.end)


@dataclass
class TraceView:
    doc: Json
    processes: dict[int, Json] = field(init=False)
    events: dict[int, list[Json]] = field(init=False)

    def __post_init__(self) -> None:
        self.processes = {p["pid"]: p for p in self.doc["processes"]}
        self.events = {}
        for event in self.doc["events"]:
            self.events.setdefault(event["pid"], []).append(event)

    @property
    def python(self) -> tuple[int, int]:
        """The main process's Python (major, minor); 3.11 when it was not observed."""
        version = self.doc.get("python") or "3.11"
        major, minor = version.split(".")[:2]
        return int(major), int(minor)

    def of(self, pid: int, kind: str, **match: Any) -> list[Json]:
        return [e for e in self.events.get(pid, []) if e["kind"] == kind
                and all(e["details"].get(k) == v for k, v in match.items())]

    def steps(self, pid: int) -> list[Step]:
        ends = {(e["details"].get("step"), e["begin"]): e["end"] for e in self.of(pid, "exit_step")}
        return [Step(pid, e["details"]["step"], e["begin"], ends.get((e["details"]["step"], e["begin"])))
                for e in self.of(pid, "exit_step_begin") if not e["details"].get("repeat")]

    def step(self, pid: int, name: str) -> Step | None:
        return next((s for s in self.steps(pid) if s.step == name), None)

    def exit_began(self, pid: int) -> int | None:
        steps = self.steps(pid)
        return min(s.begin for s in steps) if steps else None

    def in_exit(self, pid: int, t: int) -> bool:
        return any(s.holds(t) for s in self.steps(pid))

    def open_calls(self, pid: int, call: str, done: str) -> list[Json]:
        """Calls begun and never returned (``child_join`` without its ``child_joined``, ...)."""
        returned = {(e["tid"], e["begin"]) for e in self.of(pid, done)}
        return [e for e in self.of(pid, call) if (e["tid"], e["begin"]) not in returned]

    def threads(self, pid: int) -> list[Json]:
        return [t for t in self.doc["threads"] if t["pid"] == pid]

    def children(self, pid: int) -> list[Json]:
        return [p for p in self.doc["processes"] if p["started_by"] == pid and p["role"] == "child"]

    def depth(self, pid: int) -> int:
        depth, seen = 0, set()
        proc = self.processes.get(pid)
        while proc is not None and proc["role"] == "child" and proc["started_by"] not in seen:
            seen.add(proc["started_by"])
            depth += 1
            proc = self.processes.get(proc["started_by"])
        return depth

    def label(self, pid: int) -> str:
        """main, child, grandchild, or descendant-N: where the process stands below the main program."""
        depth = self.depth(pid)
        return {0: "main", 1: "child", 2: "grandchild"}.get(depth, f"descendant-{depth}")

    def describe(self, pid: int) -> str:
        proc = self.processes.get(pid, {})
        if proc.get("role") == "main":
            return f"the main program (pid {pid})"
        name = proc.get("name")
        return f"{self.label(pid)} {name!r} (pid {pid})" if name else f"process {pid}"
