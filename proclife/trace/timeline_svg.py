"""A ``Timeline`` drawn as SVG, directly: lanes, time axis, shaded phases, labelled marks, a legend.

Written by hand rather than through graphviz because a timeline is a fixed geometry (x is time),
which a graph layout would fight. The output depends on the timeline alone (no date, no random
id): the same trace gives the same bytes. Labels of marks close in time are stacked in tiers so
none overlaps another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from xml.sax.saxutils import escape, quoteattr

from proclife.trace.timeline import JOIN, RUNNING, STEP, UNOBSERVED, Lane, Mark, Timeline

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
CHAR = 6.6  # px per character at 11 px, an upper estimate for the sans fonts above
PLOT = 960.0  # px for the time axis
TIER = 14.0
BAR = 14.0
PAD = 8.0
COLOURS = {RUNNING: "#9cc69b", JOIN: "url(#join)", UNOBSERVED: "#d9d9d9",
           STEP + "threading._shutdown": "#f4a261", STEP + "util._exit_function": "#e76f51"}
ENLARGE = 0.3  # the exits get a panel of their own when they take less than this share of the run
OTHER_STEPS = ("#b56576", "#6d597a", "#355070")
MARKS = {"event": "#1d3557", "end": "#000000", "signal": "#c1121f", "finding": "#c1121f"}
LEGEND = ((RUNNING, "running (target or main module)"),
          (STEP + "threading._shutdown", "exit: threading._shutdown (joins non-daemon threads)"),
          (STEP + "util._exit_function", "exit: util._exit_function (terminates daemonic children, joins children)"),
          (JOIN, "waiting in a join (child or thread)"),
          (UNOBSERVED, "ended without a fact of its own, until its status was learned"))


@dataclass(frozen=True)
class Window:
    """The stretch of time a panel shows (ns on the trace's clock), and its heading."""

    begin: int
    end: int
    heading: str
    css: str  # the class of its lanes: "lane" for the whole run, "lane-enlarged" for a closer look

    def clip(self, lane: Lane) -> Lane:
        spans = tuple(replace(s, begin=max(s.begin, self.begin), end=min(s.end, self.end)) for s in lane.spans
                      if s.end >= self.begin and s.begin <= self.end)
        return replace(lane, spans=spans, marks=tuple(m for m in lane.marks if self.begin <= m.at <= self.end))


def windows(tl: Timeline) -> list[Window]:
    """The whole run; and, when the exit sequences and joins are a small part of it, them enlarged."""
    whole = Window(tl.origin, tl.until, "the whole run", "lane")
    exits = [s for lane in tl.lanes for s in lane.spans if s.kind.startswith(STEP) or s.kind == JOIN]
    if not exits:
        return [whole]
    begin, end = min(s.begin for s in exits), max(s.end for s in exits)
    margin = max((end - begin) // 10, 1)
    if end - begin + 2 * margin >= ENLARGE * (tl.until - tl.origin):
        return [whole]
    return [whole, Window(max(tl.origin, begin - margin), min(tl.until, end + margin),
                          "enlarged: the exit sequences and the joins", "lane-enlarged")]


def _colour(kind: str) -> str:
    if kind in COLOURS:
        return COLOURS[kind]
    return OTHER_STEPS[sum(map(ord, kind)) % len(OTHER_STEPS)]


def _tick(span_ns: int) -> int:
    """A round tick step (1, 2 or 5 times a power of ten, in ns) giving about eight ticks."""
    raw = max(span_ns / 8, 1)
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def _time(ns: int, step: int) -> str:
    if step >= 1_000_000_000:
        return f"{ns / 1e9:g} s"
    if step >= 1_000_000:
        return f"{ns / 1e6:g} ms"
    return f"{ns / 1e3:g} µs"


def _tiers(marks: tuple[Mark, ...], x: dict[int, float]) -> list[int]:
    """A tier per mark such that labels in one tier do not overlap (greedy, in time order)."""
    ends: list[float] = []
    out = []
    for mark in marks:
        left, right = x[mark.at], x[mark.at] + CHAR * len(mark.label) + 6
        tier = next((i for i, end in enumerate(ends) if end <= left), len(ends))
        if tier == len(ends):
            ends.append(right)
        else:
            ends[tier] = right
        out.append(tier)
    return out


def _mark_shape(mark: Mark, x: float, y: float) -> str:
    colour = MARKS[mark.kind]
    if mark.kind == "end":
        return f'<path d="M{x - 4:.1f},{y - 4:.1f}l8,8m0,-8l-8,8" stroke="{colour}" stroke-width="2"/>'
    if mark.kind == "finding":
        return f'<path d="M{x:.1f},{y - 6:.1f}l6,6l-6,6l-6,-6z" fill="#ffd166" stroke="{colour}"/>'
    return f'<path d="M{x:.1f},{y - 5:.1f}l4,7h-8z" fill="{colour}"/>'


def _lane(lane: Lane, top: float, left: float, scale: float, window: Window, shade: bool) -> tuple[list[str], float]:
    """The lane's SVG elements and its height."""
    origin = window.begin
    x = {m.at: left + (m.at - origin) * scale for m in lane.marks}
    tiers = _tiers(lane.marks, x)
    labels_h = (max(tiers, default=-1) + 1) * TIER
    height = PAD + labels_h + BAR + PAD
    bar_y = top + PAD + labels_h
    out = [f'<g class="{window.css}" id={quoteattr(lane.key if window.css == "lane" else "enlarged:" + lane.key)}>']
    if shade:
        out.append(f'<rect x="0" y="{top:.1f}" width="{left + PLOT + 10:.1f}" height="{height:.1f}" fill="#f5f7fa"/>')
    weight = "bold" if lane.thread is None else "normal"
    out.append(f'<text x="8" y="{bar_y + BAR - 3:.1f}" font-weight="{weight}">{escape(lane.title)}</text>')
    for span in sorted(lane.spans, key=lambda s: (s.kind == JOIN, s.begin)):
        sx = left + (span.begin - origin) * scale
        width = max((span.end - span.begin) * scale, 2.0)
        inset = 3.0 if span.kind == JOIN else 0.0
        out.append(f'<rect class={quoteattr(span.kind)} x="{sx:.1f}" y="{bar_y + inset:.1f}" width="{width:.1f}" '
                   f'height="{BAR - 2 * inset:.1f}" fill="{_colour(span.kind)}" stroke="#555" stroke-width="0.4">'
                   f'<title>{escape(span.label)}: {(span.end - span.begin) / 1e6:.3f} ms</title></rect>')
    labels = []  # drawn after every line and shape, so that no line crosses a label
    for mark, tier in zip(lane.marks, tiers, strict=True):
        mx = x[mark.at]
        ly = bar_y - 4 - tier * TIER
        out.append(f'<line x1="{mx:.1f}" y1="{ly + 2:.1f}" x2="{mx:.1f}" y2="{bar_y + BAR:.1f}" '
                   f'stroke="{MARKS[mark.kind]}" stroke-width="0.6" stroke-dasharray="2,2"/>')
        out.append(_mark_shape(mark, mx, bar_y + BAR / 2))
        labels.append(f'<text class="mark" x="{mx + 3:.1f}" y="{ly:.1f}" fill="{MARKS[mark.kind]}" stroke="white" '
                   f'stroke-width="3" paint-order="stroke">{escape(mark.label)}</text>')  # a halo over other lines
    out += labels
    out.append("</g>")
    return out, height


def _legend(top: float, findings: tuple[str, ...]) -> tuple[list[str], float]:
    out = [f'<text x="8" y="{top + 12:.1f}" font-weight="bold">Legend</text>']
    y = top + 22
    for kind, text in LEGEND:
        out.append(f'<rect x="8" y="{y:.1f}" width="28" height="12" fill="{_colour(kind)}" stroke="#555" '
                   f'stroke-width="0.4"/><text x="44" y="{y + 10:.1f}">{escape(text)}</text>')
        y += 16
    for kind, text in (("event", "an event that decides the end (start, target end, os._exit, terminate, kill, "
                                  "join returned)"),
                       ("signal", "a signal received (sent by the process named)"),
                       ("end", "the process or thread ended (how, exit status)"),
                       ("finding", "a finding (listed below)")):
        out.append(_mark_shape(Mark(0, kind, ""), 22, y + 6) + f'<text x="44" y="{y + 10:.1f}">{escape(text)}</text>')
        y += 16
    if findings:
        y += 6
        out.append(f'<text x="8" y="{y + 10:.1f}" font-weight="bold">Findings</text>')
        y += 16
        for text in findings:
            out.append(f'<text x="8" y="{y + 10:.1f}">⚠ {escape(text)}</text>')
            y += 16
    return out, y - top


def _panel(tl: Timeline, window: Window, top: float, left: float) -> tuple[list[str], float]:
    """One panel: its heading, its time axis (from the run's first fact), its lanes; and its bottom."""
    span = max(window.end - window.begin, 1)
    scale = PLOT / span
    step = _tick(span)
    out = [f'<text x="8" y="{top + 12:.1f}" font-weight="bold" fill="#555">{escape(window.heading)}</text>']
    axis_y = top + 40
    lanes_top = top + 46
    body: list[str] = []
    y = lanes_top
    for lane in tl.lanes:
        group = int(lane.key.split("/")[0][1:])
        elements, height = _lane(window.clip(lane), y, left, scale, window, shade=group % 2 == 0)
        body += elements
        y += height
    out.append(f'<line x1="{left:.1f}" y1="{axis_y:.1f}" x2="{left + PLOT:.1f}" y2="{axis_y:.1f}" stroke="#333"/>')
    first = -(-(window.begin - tl.origin) // step) * step  # the first tick at or after the window's start
    for t in range(first, window.end - tl.origin + 1, step):
        tx = left + (t - (window.begin - tl.origin)) * scale
        out.append(f'<line x1="{tx:.1f}" y1="{axis_y - 4:.1f}" x2="{tx:.1f}" y2="{y:.1f}" stroke="#ccc" '
                   f'stroke-width="0.5"/><text x="{tx:.1f}" y="{axis_y - 8:.1f}" text-anchor="middle">'
                   f'{_time(t, step)}</text>')
    return out + body, y


def to_svg(tl: Timeline) -> str:
    """The whole picture, as SVG text."""
    left = max([CHAR * len(lane.title) for lane in tl.lanes] + [120.0]) + 24
    body: list[str] = []
    top = 24.0
    for window in windows(tl):
        elements, top = _panel(tl, window, top, left)
        body += elements
        top += 8
    legend, legend_h = _legend(top + 8, tl.findings)
    widest = max([len(f) + 4 for f in tl.findings] + [0]) * CHAR
    marks = max([len(m.label) for lane in tl.lanes for m in lane.marks] + [0]) * CHAR
    width = max(left + PLOT + marks + 24, widest + 16)
    height = top + 8 + legend_h + 8
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" font-size="11">',
        '<defs><pattern id="join" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#a8dadc"/><line x1="0" y1="0" x2="0" y2="6" stroke="#1d3557" '
        'stroke-width="2"/></pattern></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(tl.title)}</text>',
    ]
    return "\n".join([*head, *body, *legend, "</svg>"]) + "\n"
