"""Pictures drawn on the server as SVG: a graph's topology and the entity graph around a memory.

No JavaScript and nothing fetched: the page gets a finished ``<svg>``. A
topology is drawn in layers (distance from START, END last); an edge that goes
back up is a curve on the right; a conditional edge is dashed. The entity
picture is radial: the memory in the middle, its entities around it, the
memories they lead to outside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import networkx as nx
from langgraph.graph import END, START

__all__ = ["SvgEdge", "SvgNode", "entity_svg", "render_svg", "topology_svg"]

_CHAR_W = 7.4
_NODE_H = 34
_LAYER_GAP = 86
_COL_GAP = 36


@dataclass
class SvgNode:
    """A box (or an oval) to draw."""

    id: str
    label: str
    x: float = 0.0
    y: float = 0.0
    css: str = "node"
    href: str | None = None
    title: str | None = None

    @property
    def width(self) -> float:
        return max(64.0, len(self.label) * _CHAR_W + 26)


@dataclass
class SvgEdge:
    """An arrow between two nodes."""

    source: str
    target: str
    dashed: bool = False
    label: str | None = None
    undirected: bool = False
    """Drawn centre to centre, under the boxes, without an arrowhead."""


def _short(text: str, limit: int = 34) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_svg(nodes: Sequence[SvgNode], edges: Sequence[SvgEdge], *, title: str) -> str:
    """An ``<svg>`` with the nodes at their positions and arrows between them."""
    if not nodes:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    by_id = {n.id: n for n in nodes}
    min_x = min(n.x - n.width / 2 for n in nodes) - 20
    max_x = max(n.x + n.width / 2 for n in nodes) + 80
    min_y = min(n.y for n in nodes) - _NODE_H
    max_y = max(n.y for n in nodes) + _NODE_H
    width, height = max_x - min_x, max_y - min_y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" '
        f'viewBox="{min_x:.0f} {min_y:.0f} {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'height="{height:.0f}"><title>{escape(title)}</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'class="arrowhead"/></marker></defs>',
    ]
    for edge in edges:
        a, b = by_id.get(edge.source), by_id.get(edge.target)
        if a is None or b is None:
            continue
        parts.append(_edge(a, b, edge))
    for node in nodes:
        parts.append(_node(node))
    parts.append("</svg>")
    return "".join(parts)


def _edge(a: SvgNode, b: SvgNode, edge: SvgEdge) -> str:
    css = "edge dashed" if edge.dashed else "edge"
    half = _NODE_H / 2
    if edge.undirected:
        return f'<path class="{css}" d="M{a.x:.1f},{a.y:.1f} L{b.x:.1f},{b.y:.1f}"/>'
    if a is b:
        x, y = a.x + a.width / 2, a.y
        path = f"M{x:.1f},{y - 6:.1f} C{x + 40:.1f},{y - 30:.1f} {x + 40:.1f},{y + 30:.1f} {x:.1f},{y + 6:.1f}"
    elif b.y > a.y + 1:  # downwards: a straight line between the boxes
        path = f"M{a.x:.1f},{a.y + half:.1f} L{b.x:.1f},{b.y - half:.1f}"
    elif abs(b.y - a.y) <= 1:  # same layer: an arc below the row, clear of the boxes between
        dip = a.y + half + 26 + abs(b.x - a.x) * 0.08
        path = (f"M{a.x:.1f},{a.y + half:.1f} C{a.x:.1f},{dip:.1f} {b.x:.1f},{dip:.1f} "
                f"{b.x:.1f},{b.y + half:.1f}")
    else:  # back up: from the top of the source to the bottom of the target, offset from the way down
        x1, x2 = a.x + 14, b.x + (a.x - b.x) * 0.25 + 10
        y1, y2 = a.y - half, b.y + half
        rise = (y1 - y2) * 0.45
        path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{y1 - rise:.1f} {x2:.1f},{y2 + rise:.1f} {x2:.1f},{y2:.1f}"
    label = ""
    if edge.label:
        mx, my = (a.x + b.x) / 2, (a.y + b.y) / 2
        label = f'<text class="edge-label" x="{mx:.1f}" y="{my - 4:.1f}">{escape(_short(edge.label, 24))}</text>'
    return f'<path class="{css}" d="{path}" marker-end="url(#arrow)"/>{label}'


def _node(node: SvgNode) -> str:
    w, h = node.width, _NODE_H
    shape = (
        f'<ellipse cx="{node.x:.1f}" cy="{node.y:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}"/>'
        if "terminal" in node.css
        else f'<rect x="{node.x - w / 2:.1f}" y="{node.y - h / 2:.1f}" width="{w:.1f}" height="{h}" rx="8"/>'
    )
    text = f'<text x="{node.x:.1f}" y="{node.y + 4.5:.1f}">{escape(node.label)}</text>'
    title = f"<title>{escape(node.title or node.label)}</title>"
    group = f'<g class="{escape(node.css)}" data-node="{escape(node.id)}">{title}{shape}{text}</g>'
    if node.href:
        return f'<a href="{escape(node.href)}">{group}</a>'
    return group


def topology_svg(g: nx.DiGraph, *, title: str) -> str:
    """A layered drawing of a graph shape from :func:`mnemos.graphs.topology.to_networkx`."""
    order = [n for n in g.nodes if n not in (START, END)]
    depth: dict[str, int] = dict(nx.single_source_shortest_path_length(g, START)) if START in g else {}
    depth.pop(END, None)
    deepest = max(depth.values(), default=0)
    for n in order:  # unreachable nodes go below the reachable ones
        depth.setdefault(n, deepest + 1)
    depth[END] = max(depth.values(), default=0) + 1
    layers: dict[int, list[str]] = {}
    for n in [START, *order, END]:
        if n in depth:
            layers.setdefault(depth[n], []).append(n)
    nodes: list[SvgNode] = []
    for level, names in sorted(layers.items()):
        row = [SvgNode(id=n, label={START: "START", END: "END"}.get(n, n),
                       css="node terminal" if n in (START, END) else "node") for n in names]
        total = sum(r.width for r in row) + _COL_GAP * (len(row) - 1)
        x = -total / 2
        for r in row:
            r.x, r.y = x + r.width / 2, level * _LAYER_GAP
            x += r.width + _COL_GAP
        nodes.extend(row)
    edges = [SvgEdge(s, t, dashed=bool(d.get("conditional"))) for s, t, d in g.edges(data=True)
             if not d.get("assumed")]
    return render_svg(nodes, edges, title=title)


def entity_svg(
    center: Any,
    entities: Sequence[str],
    related: Sequence[tuple[Any, Sequence[str]]],
    *,
    href: Any,
) -> str:
    """The memory ``center``, its ``entities``, and ``related`` memories with the entities they share.

    A related memory sits beyond the first entity it shares with the centre, so
    its line does not cross the picture; one reached otherwise (through a
    relation) sits in the gaps between the entities.
    """
    nodes = [SvgNode(id="m:" + center.id, label=_short(center.content, 30), css="node center",
                     title=center.content)]
    edges: list[SvgEdge] = []
    ring1, ring2 = 120.0, 250.0
    angle_of: dict[str, float] = {}
    for i, name in enumerate(entities):
        angle = 2 * math.pi * i / max(1, len(entities)) - math.pi / 2
        angle_of[name] = angle
        nodes.append(SvgNode(id="e:" + name, label=_short(name, 24), css="node entity",
                             x=ring1 * 1.5 * math.cos(angle), y=ring1 * 0.85 * math.sin(angle)))
        edges.append(SvgEdge("m:" + center.id, "e:" + name, undirected=True))
    groups: dict[str | None, list[tuple[Any, list[str]]]] = {}
    for record, shared in related:
        links = [name for name in shared if name in angle_of]
        groups.setdefault(links[0] if links else None, []).append((record, links))
    free = groups.pop(None, [])
    placed: list[tuple[Any, list[str], float]] = []
    for key, members in groups.items():
        assert key is not None
        spread = min(0.5, 2.2 / max(1, len(entities)) / max(1, len(members)))
        for j, (record, links) in enumerate(members):
            placed.append((record, links, angle_of[key] + (j - (len(members) - 1) / 2) * spread))
    offset = math.pi / max(1, len(entities)) if entities else 0.0
    for j, (record, links) in enumerate(free):
        placed.append((record, links, 2 * math.pi * j / max(1, len(free)) - math.pi / 2 + offset))
    for record, links, angle in placed:
        node_id = "m:" + record.id
        nodes.append(SvgNode(id=node_id, label=_short(record.content, 28), css="node memory",
                             x=ring2 * 1.5 * math.cos(angle), y=ring2 * 0.8 * math.sin(angle),
                             href=href(record.id), title=record.content))
        for name in links:
            edges.append(SvgEdge("e:" + name, node_id, dashed=True, undirected=True))
        if not links:  # reached through a relation, not a shared entity
            edges.append(SvgEdge("m:" + center.id, node_id, dashed=True, undirected=True))
    return render_svg(nodes, edges, title=f"entities around {center.id}")
