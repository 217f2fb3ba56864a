"""A workflow drawn as an SVG on the server: the same states and transitions as its Mermaid text
(engine.core.diagram), laid out for people who read it left to right, printable, no JavaScript.

Layout: the escalation ladder (states reached by timed transitions from the initial state) in
columns by depth, left to right; every other state (paid, disputed, promised...) on a row below.
Timed transitions are solid arrows labelled with their delay and guard; event transitions (payment,
dispute, promise...) are dashed curves; one from every state is written once under its destination
("depuis tout état") instead of a fan of arrows. Every text is escaped.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape

from engine.core.workflow import TransitionSpec, Workflow

NODE_W, NODE_H, COL_GAP, ROW_GAP, MARGIN = 160, 50, 130, 26, 20
UNITS = {"day": ("jour", "jours"), "business_day": ("jour ouvré", "jours ouvrés"), "week": ("semaine", "semaines"),
         "month": ("mois", "mois")}
TRIGGERS = {"payment": "paiement", "dispute": "contestation", "promise": "promesse", "escalate": "relance"}
# Colours per event trigger, as attributes: the page's CSP allows no inline style.
EVENT_COLOURS = {"payment": "#2f7d46", "dispute": "#a4462f", "promise": "#7656a8"}


def workflow_svg(workflow: Workflow) -> str:
    """The diagram of ``workflow`` as an inline ``<svg>`` element."""
    timed = [t for t in workflow.transitions if t.timed]
    events = [t for t in workflow.transitions if not t.timed]
    depth = _depths(workflow, timed)
    columns: dict[int, list[str]] = defaultdict(list)
    for state in workflow.states:  # file order within a column
        if state in depth:
            columns[depth[state]].append(state)
    others = [state for state in workflow.states if state not in depth]
    tallest = max((len(c) for c in columns.values()), default=1)
    ladder_h = tallest * NODE_H + (tallest - 1) * ROW_GAP
    place: dict[str, tuple[float, float]] = {}
    for col, states in columns.items():
        top = MARGIN + 30 + (ladder_h - (len(states) * NODE_H + (len(states) - 1) * ROW_GAP)) / 2
        for row, state in enumerate(states):
            place[state] = (MARGIN + col * (NODE_W + COL_GAP), top + row * (NODE_H + ROW_GAP))
    width = MARGIN * 2 + max(len(columns), 1) * (NODE_W + COL_GAP) - COL_GAP
    bottom_y = MARGIN + 30 + ladder_h + 120
    step = (width - 2 * MARGIN - NODE_W) / max(len(others) - 1, 1) if len(others) > 1 else 0
    for i, state in enumerate(others):
        x = MARGIN + i * step if len(others) > 1 else (width - NODE_W) / 2
        place[state] = (x, bottom_y)
    everywhere = _from_everywhere(workflow, events)
    height = bottom_y + NODE_H + 24 + 16 * max((len(v) for v in everywhere.values()), default=0) + MARGIN

    parts = [_defs()]
    parts += [_timed_edge(t, place) for t in timed if t.sources]
    parts += [_event_edge(t, source, place) for t in events if t not in everywhere.get(t.dest, [])
              for source in t.sources if source in place and t.dest in place]
    parts += [_node(workflow, name, *place[name]) for name in workflow.states]
    for dest, specs in everywhere.items():
        x, y = place[dest]
        for i, spec in enumerate(specs):
            parts.append(_text(x, y + NODE_H + 18 + 16 * i,
                               f"← {_trigger(spec)} depuis tout état{_guards(spec, ' si ')}", "event",
                               anchor="start", colour=EVENT_COLOURS.get(spec.trigger)))
    title = f"{workflow.name} v{workflow.version}"
    parts.insert(0, _text(MARGIN, MARGIN + 8, title, "title", anchor="start"))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="workflow" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'role="img" aria-label="{escape(title)}">' + "".join(parts) + "</svg>")


def _depths(workflow: Workflow, timed: list[TransitionSpec]) -> dict[str, int]:
    """Each state the timed transitions reach from the initial state, with its longest distance (no cycles)."""
    following: dict[str, list[str]] = defaultdict(list)
    for spec in timed:
        for source in spec.sources:
            following[source].append(spec.dest)
    depth = {workflow.initial: 0}
    frontier = [workflow.initial]
    for _ in range(len(workflow.states)):  # longest path, bounded: a cycle cannot loop forever
        nxt = []
        for state in frontier:
            for dest in following[state]:
                if depth.get(dest, -1) < depth[state] + 1 and dest != workflow.initial:
                    depth[dest] = depth[state] + 1
                    nxt.append(dest)
        if not nxt:
            break
        frontier = nxt
    return depth


def _from_everywhere(workflow: Workflow, events: list[TransitionSpec]) -> dict[str, list[TransitionSpec]]:
    """Event transitions whose sources are every state but their destination (``source: "*"``)."""
    found: dict[str, list[TransitionSpec]] = defaultdict(list)
    for spec in events:
        if set(spec.sources) >= set(workflow.states) - {spec.dest}:
            found[spec.dest].append(spec)
    return found


def _node(workflow: Workflow, name: str, x: float, y: float) -> str:
    spec = workflow.states[name]
    kind = "final" if spec.final else "pause" if spec.pause else "initial" if name == workflow.initial else "step"
    label = spec.label or name
    letter = f"✉ {spec.letter}" if spec.letter else ""
    return (f'<g class="node {kind}"><title>{escape(name)}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="8"/>'
            + _text(x + NODE_W / 2, y + 20, _fit(label, 24), "label")
            + _text(x + NODE_W / 2, y + 38, _fit(letter or name, 28), "sub") + "</g>")


def _timed_edge(spec: TransitionSpec, place: dict[str, tuple[float, float]]) -> str:
    out = []
    for source in spec.sources:
        if source not in place or spec.dest not in place:
            continue
        (sx, sy), (dx, dy) = place[source], place[spec.dest]
        x1, y1, x2, y2 = sx + NODE_W, sy + NODE_H / 2, dx, dy + NODE_H / 2
        mid = (x1 + x2) / 2
        label_x = x2 - COL_GAP / 2 + 8  # over the end of the arrow: two arrows leaving one state keep apart
        since = "après l'échéance" if spec.since == "due_date" else ""
        out.append(f'<g class="edge timed"><title>{escape(_describe(spec, source))}</title>'
                   f'<path d="M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2 - 2:.1f},{y2:.1f}" '
                   f'marker-end="url(#arrow)"/>'
                   + _text(label_x, y2 - (26 if since else 14), _delay(spec, with_since=False), "edge-label")
                   + (_text(label_x, y2 - 14, since, "edge-guard") if since else "")
                   + _text(label_x, y2 + 16, _fit(_guards(spec), 22), "edge-guard") + "</g>")
    return "".join(out)


def _event_edge(spec: TransitionSpec, source: str, place: dict[str, tuple[float, float]]) -> str:
    (sx, sy), (dx, dy) = place[source], place[spec.dest]
    x1, y1, x2, y2 = sx + NODE_W / 2, sy + NODE_H, dx + NODE_W / 2, dy
    colour = EVENT_COLOURS.get(spec.trigger, "#52606d")
    return (f'<g class="edge event"><title>{escape(_describe(spec, source))}</title>'
            f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 + 60:.1f} {x2:.1f},{y2 - 60:.1f} {x2:.1f},{y2 - 2:.1f}" '
            f'stroke="{colour}" fill="none" marker-end="url(#arrow-event)"/></g>')


def _describe(spec: TransitionSpec, source: str) -> str:
    return f"{source} → {spec.dest} : {_trigger(spec)} {_delay(spec)}{_guards(spec, ' si ')}".strip()


def _trigger(spec: TransitionSpec) -> str:
    return TRIGGERS.get(spec.trigger, spec.trigger)


def _delay(spec: TransitionSpec, *, with_since: bool = True) -> str:
    if spec.after is None:
        return ""
    one, many = UNITS.get(spec.after.unit, (spec.after.unit, spec.after.unit))
    since = " après l'échéance" if spec.since == "due_date" and with_since else ""
    return f"{spec.after.count} {one if spec.after.count == 1 else many}{since}"


def _guards(spec: TransitionSpec, prefix: str = "") -> str:
    texts = [spec.when.source] if spec.when is not None else []
    if spec.unless is not None:
        texts.append(f"non ({spec.unless.source})")
    return prefix + " et ".join(texts) if texts else ""


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(x: float, y: float, content: str, cls: str, *, anchor: str = "middle", colour: str | None = None) -> str:
    fill = f' fill="{colour}"' if colour else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}"{fill}>{escape(content)}</text>'


def _defs() -> str:
    return ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1f3a5f"/></marker>'
            '<marker id="arrow-event" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#52606d"/></marker></defs>')


__all__ = ["workflow_svg"]
