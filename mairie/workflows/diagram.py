"""A workflow definition drawn as SVG, in pure Python (no Graphviz).

A small layered drawing (after Sugiyama):

1. cycles are broken by a depth-first walk from the initial status: its back edges (« retour en
   rédaction ») are laid out reversed and drawn upwards, as curves;
2. each status goes one layer below the lowest of its predecessors (longest-path layering from the initial
   status; ``from: "*"`` transitions count from every non-final status, and leave from one dashed « depuis
   toute étape » box above the others);
3. an edge spanning several layers gets an invisible waypoint in each layer it crosses, so that it runs
   between the boxes, never through them;
4. each layer is ordered by the mean position of its neighbours (a few sweeps down and up), which removes
   most crossings.

Final statuses are green with round corners, the current status orange, automatic transitions dashed,
self-loops (relances) small loops on the right. Labels are shortened (the full label is in each arrow's
``<title>``) and moved down when they would overlap. The diagram is an image for sighted people: the page
lists the same statuses and transitions as text.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

BOX_W = 190
BOX_H = 50
WAYPOINT_W = 30
GAP_X = 50
GAP_Y = 100
MARGIN = 30
RIGHT_ROOM = 110  # for self-loop labels
CHARS_PER_LINE = 25
LABEL_CHARS = 28
ANY_NODE = "__any__"
SWEEPS = 4


@dataclass
class _Node:
    id: str
    label: str
    final: bool = False
    initial: bool = False
    waypoint: bool = False
    layer: int = 0
    order: float = 0.0
    x: float = 0.0
    y: float = 0.0

    @property
    def width(self) -> float:
        return WAYPOINT_W if self.waypoint else BOX_W

    @property
    def cx(self) -> float:
        return self.x + self.width / 2


@dataclass
class _Edge:
    id: str
    label: str
    source: str
    target: str
    automatic: bool
    back: bool = False
    chain: list[str] = field(default_factory=list)  # node ids from source to target, waypoints between


def _wrap(text: str, width: int = CHARS_PER_LINE, lines: int = 2) -> list[str]:
    result: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width or not current:
            current = candidate
        else:
            result.append(current)
            current = word
    if current:
        result.append(current)
    if len(result) > lines:
        result = result[:lines]
        result[-1] = result[-1][: width - 1].rstrip() + "…"
    return [line if len(line) <= width else line[: width - 1] + "…" for line in result] or [""]


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", text)[:60] or "circuit"


def _graph(data: Mapping[str, Any]) -> tuple[dict[str, _Node], list[_Edge], list[_Edge]]:
    """Statuses and transitions of a (possibly incomplete) definition; what cannot be drawn is left out."""
    nodes: dict[str, _Node] = {}
    for status in data.get("statuses") or []:
        if isinstance(status, dict) and isinstance(status.get("id"), str) and status["id"] not in nodes:
            label = status.get("label")
            nodes[status["id"]] = _Node(
                status["id"],
                label if isinstance(label, str) else status["id"],
                final=status.get("final") is True,
            )
    initial = data.get("initial")
    if isinstance(initial, str) and initial in nodes:
        nodes[initial].initial = True
    edges: list[_Edge] = []
    any_edges: list[_Edge] = []
    for transition in data.get("transitions") or []:
        if not isinstance(transition, dict):
            continue
        target = transition.get("to")
        if not isinstance(target, str) or target not in nodes:
            continue
        ident = str(transition.get("id", ""))
        raw_label = transition.get("label")
        label = raw_label if isinstance(raw_label, str) else ident
        automatic = transition.get("automatic") is True
        origin = transition.get("from")
        if origin == "*":
            any_edges.append(_Edge(ident, label, ANY_NODE, target, automatic))
        elif isinstance(origin, list):
            for source in dict.fromkeys(s for s in origin if isinstance(s, str) and s in nodes):
                edges.append(_Edge(ident, label, source, target, automatic))
    return nodes, edges, any_edges


def _back_edges(
    nodes: dict[str, _Node], pairs: list[tuple[str, str]], roots: list[str]
) -> set[tuple[str, str]]:
    """Edges that close a cycle in an (iterative) depth-first walk from the roots, in order."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in pairs:
        if source != target and target not in successors[source]:
            successors[source].append(target)
    back: set[tuple[str, str]] = set()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, index = stack[-1]
            if index < len(successors[node]):
                stack[-1] = (node, index + 1)
                nxt = successors[node][index]
                if state.get(nxt) == 1:
                    back.add((node, nxt))
                elif nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                stack.pop()
    return back


def _layers(nodes: dict[str, _Node], pairs: list[tuple[str, str]], roots: list[str]) -> set[tuple[str, str]]:
    """Longest-path layering of the graph without its back edges; returns the back edges."""
    back = _back_edges(nodes, pairs, roots)
    forward: dict[str, set[str]] = {n: set() for n in nodes}
    for source, target in pairs:
        if source != target and (source, target) not in back:
            forward[source].add(target)
    indegree = dict.fromkeys(nodes, 0)
    for targets in forward.values():
        for target in targets:
            indegree[target] += 1
    queue = [n for n in roots if indegree[n] == 0]
    layer = dict.fromkeys(nodes, 0)
    while queue:
        node = queue.pop(0)
        for target in sorted(forward[node], key=list(nodes).index):
            layer[target] = max(layer[target], layer[node] + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                queue.append(target)
    for node_id, status in nodes.items():
        status.layer = layer[node_id]
    return back


def _order(all_nodes: dict[str, _Node], edges: list[_Edge]) -> dict[int, list[str]]:
    """Order each layer by the barycentre of its neighbours, sweeping down then up a few times."""
    layers: dict[int, list[str]] = {}
    for node_id, node in all_nodes.items():
        layers.setdefault(node.layer, []).append(node_id)
    up: dict[str, list[str]] = {n: [] for n in all_nodes}
    down: dict[str, list[str]] = {n: [] for n in all_nodes}
    for edge in edges:
        chain = edge.chain if not edge.back else list(reversed(edge.chain))  # top to bottom
        for upper, lower in itertools.pairwise(chain):
            if all_nodes[upper].layer < all_nodes[lower].layer:
                down[upper].append(lower)
                up[lower].append(upper)
    for members in layers.values():
        for position, node_id in enumerate(members):
            all_nodes[node_id].order = float(position)

    def sweep(depths: list[int], neighbours: dict[str, list[str]]) -> None:
        for depth in depths:
            members = layers[depth]
            keys: dict[str, float] = {}
            for node_id in members:
                around = [all_nodes[n].order for n in neighbours[node_id]]
                keys[node_id] = sum(around) / len(around) if around else all_nodes[node_id].order
            members.sort(key=lambda n: (keys[n], all_nodes[n].order))
            for position, node_id in enumerate(members):
                all_nodes[node_id].order = float(position)

    depths = sorted(layers)
    for _ in range(SWEEPS):
        sweep(depths[1:], up)
        sweep(list(reversed(depths[:-1])), down)
    sweep(depths[1:], up)
    return layers


def _curve(points: list[tuple[float, float]]) -> str:
    """A smooth path through the points, vertical at each of them."""
    (x0, y0), rest = points[0], points[1:]
    d = f"M{x0:.1f},{y0:.1f}"
    for x1, y1 in rest:
        mid = (y0 + y1) / 2
        d += f" C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}"
        x0, y0 = x1, y1
    return d


def _text_lines(lines: list[str], cx: float, cy: float, css: str) -> str:
    height = 16
    first = cy - (len(lines) - 1) * height / 2
    spans = "".join(
        f'<tspan x="{cx:.1f}" y="{first + i * height:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    return f'<text class="{css}" text-anchor="middle" dominant-baseline="middle">{spans}</text>'


class _Labels:
    """Edge labels placed without overlapping each other or the boxes (moved down, then up)."""

    def __init__(self, boxes: list[tuple[float, float, float, float]], width: float) -> None:
        self.taken = list(boxes)
        self.width = width

    def place(self, text: str, x: float, y: float) -> str:
        short = _short(text)
        w, h = len(short) * 6.2 + 10, 18.0
        x = min(max(x, w / 2 + 2), self.width - w / 2 - 2)
        for shift in (0, 19, -19, 38, -38, 57):
            box = (x - w / 2, y + shift - h / 2, w, h)
            if not any(_overlap(box, other) for other in self.taken):
                y += shift
                break
        self.taken.append((x - w / 2, y - h / 2, w, h))
        return (
            f'<rect class="edge-label-bg" x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h:.0f}" '
            f'rx="4"/><text class="edge-label" x="{x:.1f}" y="{y:.1f}" text-anchor="middle" '
            f'dominant-baseline="middle">{escape(short)}</text>'
        )


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


STYLE = """
.status rect{fill:#fff;stroke:#1f4e79;stroke-width:1.5}
.status.final rect{fill:#eef5ee;stroke:#2e6b2e;stroke-width:3}
.status.initial rect{stroke-width:2.5}
.status.current rect{fill:#fff4cc;stroke:#b35c00;stroke-width:4}
.status text{font:14px system-ui,sans-serif;fill:#111}
.status .tag{font-size:11px;fill:#444}
.any rect{fill:#f6f6f6;stroke:#666;stroke-dasharray:5 4}
.any text{font:13px system-ui,sans-serif;fill:#333}
.edge path{fill:none;stroke:#444;stroke-width:1.4}
.edge.automatic path{stroke-dasharray:6 4}
.edge-label{font:12px system-ui,sans-serif;fill:#222}
.edge-label-bg{fill:#fff;fill-opacity:.92}
"""


def to_svg(definition: Mapping[str, Any], *, current: str | None = None) -> str:
    """The definition (a dict, as validated) as an SVG document (a string to put inline in a page)."""
    nodes, edges, any_edges = _graph(definition)
    name = str(definition.get("name") or "circuit")
    title = str(definition.get("title") or name)
    prefix = f"wf-{_safe_id(name)}"
    initial = definition.get("initial")
    roots = ([initial] if isinstance(initial, str) and initial in nodes else []) + [
        n for n in nodes if n != initial
    ]

    # Layers: « from: * » counts as leaving from every non-final status.
    pairs = [(e.source, e.target) for e in edges]
    pairs += [(n.id, e.target) for e in any_edges for n in nodes.values() if not n.final and n.id != e.target]
    back = _layers(nodes, pairs, roots)
    all_nodes: dict[str, _Node] = dict(nodes)
    if any_edges:
        for node in nodes.values():
            node.layer += 1
        all_nodes[ANY_NODE] = _Node(ANY_NODE, "Depuis toute étape non finale", layer=0)

    # Chains with a waypoint in every layer an edge crosses.
    drawn = [e for e in [*edges, *any_edges] if e.source != e.target]
    for index, edge in enumerate(drawn):
        edge.back = (edge.source, edge.target) in back
        top, bottom = (edge.target, edge.source) if edge.back else (edge.source, edge.target)
        chain = [top]
        for depth in range(all_nodes[top].layer + 1, all_nodes[bottom].layer):
            waypoint = f"__w{index}_{depth}"
            all_nodes[waypoint] = _Node(waypoint, "", waypoint=True, layer=depth)
            chain.append(waypoint)
        chain.append(bottom)
        edge.chain = list(reversed(chain)) if edge.back else chain
    layers = _order(all_nodes, drawn)

    # Positions.
    row_width = {
        depth: sum(all_nodes[n].width for n in members) + GAP_X * (len(members) - 1)
        for depth, members in layers.items()
    }
    inner = max(row_width.values(), default=BOX_W)
    for depth, members in layers.items():
        x = MARGIN + (inner - row_width[depth]) / 2
        for node_id in members:
            all_nodes[node_id].x = x
            all_nodes[node_id].y = MARGIN + depth * (BOX_H + GAP_Y)
            x += all_nodes[node_id].width + GAP_X
    depth_count = max(layers, default=0) + 1
    width = MARGIN * 2 + inner + RIGHT_ROOM
    height = MARGIN * 2 + depth_count * BOX_H + (depth_count - 1) * GAP_Y + 10

    current_label = nodes[current].label if current in nodes else None
    summary = (
        f"Diagramme du circuit « {title} » : {len(nodes)} étapes, {len(edges) + len(any_edges)} transitions"
    )
    if current_label:
        summary += f" ; étape actuelle : {current_label}"
    summary += ". La liste des étapes et des transitions suit le diagramme."
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="workflow-diagram" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'style="width:100%;max-width:{width:.0f}px;min-width:{min(width, 560):.0f}px;height:auto" '
        f'aria-labelledby="{prefix}-title {prefix}-desc" aria-label={quoteattr(summary)}>',
        f'<title id="{prefix}-title">{escape(summary)}</title>',
        f'<desc id="{prefix}-desc">{escape(str(definition.get("description") or title))}</desc>',
        f"<style>{STYLE}</style>",
        "<defs>"
        f'<marker id="{prefix}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>',
    ]
    marker = f'marker-end="url(#{prefix}-arrow)"'
    boxes = [(n.x, n.y, n.width, float(BOX_H)) for n in all_nodes.values() if not n.waypoint]
    labels = _Labels(boxes, width)

    # Edges first (boxes are drawn over them).
    pair_rank: dict[tuple[str, str], int] = {}
    pair_total: dict[tuple[str, str], int] = {}
    for edge in drawn:
        pair_total[(edge.source, edge.target)] = pair_total.get((edge.source, edge.target), 0) + 1
    for edge in [*edges, *any_edges]:
        css = "edge automatic" if edge.automatic else "edge"
        tip = f"{edge.label} ({edge.id})" + (" — automatique" if edge.automatic else "")
        if edge.source == edge.target:
            node = nodes[edge.source]
            rank = pair_rank.get((edge.source, edge.source), 0)
            pair_rank[(edge.source, edge.source)] = rank + 1
            x0, y0 = node.x + BOX_W, node.y + BOX_H * 0.3
            y1 = node.y + BOX_H * 0.7
            reach = 38 + rank * 16
            d = f"M{x0:.1f},{y0:.1f} C{x0 + reach:.1f},{y0 - 24:.1f} {x0 + reach:.1f},{y1 + 24:.1f} {x0:.1f},{y1:.1f}"
            text = labels.place(
                edge.label, x0 + reach + 6 + len(_short(edge.label)) * 3.1, node.y + BOX_H / 2
            )
        else:
            key = (edge.source, edge.target)
            rank = pair_rank.get(key, 0)
            pair_rank[key] = rank + 1
            spread = (rank - (pair_total[key] - 1) / 2) * 18 + (22 if edge.back else 0)
            hops = [all_nodes[n] for n in edge.chain]
            points: list[tuple[float, float]] = []
            for position, hop in enumerate(hops):
                if hop.waypoint:
                    points.append((hop.cx, hop.y + BOX_H / 2))
                    continue
                first = position == 0
                # Downwards: leave by the bottom, arrive at the top; back edges go up: the reverse.
                at_bottom = first != edge.back
                points.append((hop.cx + spread, hop.y + BOX_H if at_bottom else hop.y))
            d = _curve(points)
            (ax, ay), (bx, by) = points[0], points[1]
            text = labels.place(edge.label, (ax + bx) / 2, (ay + by) / 2)
        parts.append(
            f'<g class="{css}" data-transition={quoteattr(edge.id)}><title>{escape(tip)}</title>'
            f'<path d="{d}" {marker}/>{text}</g>'
        )

    if any_edges:
        star = all_nodes[ANY_NODE]
        parts.append(
            f'<g class="any"><rect x="{star.x:.1f}" y="{star.y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="10"/>'
            + _text_lines(["Depuis toute étape", "non finale"], star.cx, star.y + BOX_H / 2, "any-label")
            + "</g>"
        )
    for node in nodes.values():
        classes = ["status"]
        tags = []
        if node.initial:
            classes.append("initial")
            tags.append("départ")
        if node.final:
            classes.append("final")
            tags.append("finale")
        if node.id == current:
            classes.append("current")
            tags.append("étape actuelle")
        tip = node.label + (f" ({', '.join(tags)})" if tags else "")
        if tags:  # one line of label and a line of tags
            text = _text_lines(_wrap(node.label, lines=1), node.cx, node.y + BOX_H / 2 - 7, "label")
            text += (
                f'<text class="tag" x="{node.cx:.1f}" y="{node.y + BOX_H - 8:.1f}" text-anchor="middle">'
                f"{escape(' · '.join(tags))}</text>"
            )
        else:
            text = _text_lines(_wrap(node.label), node.cx, node.y + BOX_H / 2, "label")
        parts.append(
            f'<g class="{" ".join(classes)}" data-status={quoteattr(node.id)}>'
            f"<title>{escape(tip)}</title>"
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="{22 if node.final else 10}"/>'
            f"{text}</g>"
        )
    parts.append("</svg>")
    return "".join(parts)
