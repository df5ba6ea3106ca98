"""Views of a `Lineage` graph: a Mermaid graph of one flow run, and upstream/downstream trees.

Pure functions over a `Lineage` (no registry calls), so the Prefect markdown artifact
(`_prefect.publish_lineage`) and ``prefect-artifacts lineage`` render the same graph, in
a stable order: nodes sorted by depth then reference, ids derived from the artifact and
run ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prefect_artifacts._sizes import human_size
from prefect_artifacts.models import Artifact, Lineage, LineageEdge, RunCategory

#: Default bounds of the Mermaid graph of a flow run (the rest is counted, not drawn).
MAX_NODES = 40
MAX_EDGES = 80


def node_id(kind: str, key: str) -> str:
    """A Mermaid node id derived from an artifact or run id (the same id, the same node).

    Example:
        ```python
        node_id("a", art.id)  # "a3f1c2d4e5b6a"
        ```
    """
    return kind + hashlib.sha256(key.encode()).hexdigest()[:12]


def _escape(text: str) -> str:
    """Text for a quoted Mermaid label: no quotes, angle brackets or line breaks."""
    text = " ".join(text.split())
    return (text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


def _art_label(art: Artifact | None, artifact_id: str) -> str:
    if art is None:
        return f"artifact {artifact_id[:8]} (not readable)"
    return f"{art.ref} · {art.kind.value}, {human_size(art.size)}"


@dataclass
class _Walk:
    """What a run-centred walk reached: nodes in order, edges, and what the bounds left out."""

    runs: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    edges: list[LineageEdge] = field(default_factory=list)


def _walk_run(graph: Lineage, run_id: str) -> _Walk:
    """The run's artifacts, then breadth-first up: the runs that produced its inputs and theirs."""
    by_run: dict[str, list[LineageEdge]] = {}
    producers: dict[str, list[str]] = {}
    for e in graph.edges:
        by_run.setdefault(e.run_id, []).append(e)
        if e.category is RunCategory.OUTPUT:
            producers.setdefault(e.artifact_id, []).append(e.run_id)
    refs = {a.id: a.ref for a in graph.artifacts}

    def order(e: LineageEdge) -> tuple[str, str, str]:
        return (e.category.value, refs.get(e.artifact_id, "~" + e.artifact_id), e.artifact_id)

    walk = _Walk()
    seen_runs, seen_arts = {run_id}, set[str]()
    runs = [run_id]
    first = True
    while runs:
        next_runs: list[str] = []
        for run in runs:
            walk.runs.append(run)
            for e in sorted(by_run.get(run, []), key=order):
                if e.category is RunCategory.OUTPUT and not first:
                    continue  # a producer's other outputs are not on the path
                walk.edges.append(e)
                if e.artifact_id not in seen_arts:
                    seen_arts.add(e.artifact_id)
                    walk.artifacts.append(e.artifact_id)
                if e.category is RunCategory.OUTPUT:
                    continue
                for producer in sorted(producers.get(e.artifact_id, [])):
                    walk.edges.append(LineageEdge(artifact_id=e.artifact_id, run_id=producer,
                                                  category=RunCategory.OUTPUT))
                    if producer not in seen_runs:
                        seen_runs.add(producer)
                        next_runs.append(producer)
        runs, first = next_runs, False
    unique: dict[tuple[str, str, str], LineageEdge] = {}
    for e in walk.edges:
        unique.setdefault((e.artifact_id, e.run_id, e.category.value), e)
    walk.edges = list(unique.values())
    return walk


def walked_runs(graph: Lineage, run_id: str, limit: int = MAX_NODES) -> list[str]:
    """The runs `lineage_mermaid` may draw for ``run_id``: the run, then those upstream, nearest first.

    Example:
        ```python
        run_labels(walked_runs(graph, flow_run_id))
        ```
    """
    return _walk_run(graph, run_id).runs[:limit]


def lineage_mermaid(graph: Lineage, run_id: str, run_labels: Mapping[str, str] | None = None,
                    max_nodes: int = MAX_NODES, max_edges: int = MAX_EDGES) -> str:
    r"""A Mermaid flowchart of what a flow run read and wrote, back to the raw inputs.

    Artifacts are boxes, flow runs rounded (the run itself highlighted); an edge goes
    from an artifact to the run that used it (``input``, dotted for ``code``) and from a
    run to what it wrote (``output``). From the run, the walk goes up: the runs that
    wrote its inputs and code, their inputs, and so on. At most ``max_nodes`` nodes
    and ``max_edges`` edges are drawn, nearest first; a last node says how many were
    left out. The same graph gives the same text (sorted, ids from `node_id`).

    Args:
        graph: a lineage containing the run (e.g. ``reg.lineage`` of one of its artifacts).
        run_id: the flow run in the centre.
        run_labels: display names of runs (e.g. flow and flow run names); default the short id.
        max_nodes: the most nodes drawn (runs and artifacts).
        max_edges: the most edges drawn.

    Example:
        ```python
        text = lineage_mermaid(reg.lineage(art.id), flow_run_id)
        print(f"```mermaid\n{text}\n```")
        ```
    """
    labels = dict(run_labels or {})
    arts = {a.id: a for a in graph.artifacts}
    walk = _walk_run(graph, run_id)
    nodes = [("r", r) for r in walk.runs] + [("a", a) for a in walk.artifacts]
    # Nearest first: interleave in walk order (the run, its artifacts, then further up).
    depth = {("r", run_id): 0}
    for e in walk.edges:
        run_node, art_node = ("r", e.run_id), ("a", e.artifact_id)
        if run_node in depth and art_node not in depth:
            depth[art_node] = depth[run_node] + 1
        elif art_node in depth and run_node not in depth:
            depth[run_node] = depth[art_node] + 1
    rank = {n: i for i, n in enumerate(nodes)}
    nodes.sort(key=lambda n: (depth.get(n, len(nodes)), rank[n]))
    kept = set(nodes[:max(1, max_nodes)])
    drawn = [e for e in walk.edges if ("r", e.run_id) in kept and ("a", e.artifact_id) in kept]
    edges = drawn[:max(0, max_edges)]
    left_nodes, left_edges = len(nodes) - len(kept), len(walk.edges) - len(edges)
    lines = ["flowchart LR"]
    for kind, key in nodes:
        if (kind, key) not in kept:
            continue
        nid = node_id(kind, key)
        if kind == "r":
            label = labels.get(key) or f"flow run {key[:8]}"
            lines.append(f'  {nid}(["{_escape(label)}"])')
        else:
            lines.append(f'  {nid}["{_escape(_art_label(arts.get(key), key))}"]')
    for e in edges:
        a, r = node_id("a", e.artifact_id), node_id("r", e.run_id)
        if e.category is RunCategory.OUTPUT:
            lines.append(f"  {r} -->|output| {a}")
        elif e.category is RunCategory.CODE:
            lines.append(f"  {a} -.->|code| {r}")
        else:
            lines.append(f"  {a} -->|input| {r}")
    if left_nodes or left_edges:
        lines.append(f'  more["{left_nodes} more node(s) and {left_edges} more edge(s) not shown"]')
    lines.append("  classDef thisrun stroke-width:3px")
    lines.append(f"  class {node_id('r', run_id)} thisrun")
    return "\n".join(lines)


def lineage_markdown(graph: Lineage, run_id: str, run_labels: Mapping[str, str] | None = None,
                     max_nodes: int = MAX_NODES, max_edges: int = MAX_EDGES) -> str:
    """The Prefect markdown artifact of a flow run: a heading and its `lineage_mermaid` graph.

    Example:
        ```python
        markdown = lineage_markdown(reg.lineage(art.id), flow_run_id)
        ```
    """
    graph_text = lineage_mermaid(graph, run_id, run_labels, max_nodes, max_edges)
    return ("# Lineage of this flow run\n\n"
            "What the run read (`input`), ran (`code`) and wrote (`output`), back to the raw inputs.\n\n"
            f"```mermaid\n{graph_text}\n```\n\n"
            # Prefect's UI shows a Mermaid block as its text: the same walk as a table it renders.
            "## Run by run\n\n" + lineage_table(graph, run_id, run_labels, max_nodes) + "\n")


def _code_span(text: str) -> str:
    """Text as a Markdown code span inside a table cell: nothing in it is markup."""
    return "`" + " ".join(text.replace("`", "'").split()).replace("|", "\\|") + "`"


def lineage_table(graph: Lineage, run_id: str, run_labels: Mapping[str, str] | None = None,
                  max_rows: int = MAX_NODES, max_per_cell: int = 10) -> str:
    """The runs `lineage_mermaid` walks as a Markdown table: what each read, ran and wrote.

    One row per run, the run itself first, then those upstream (nearest first); at most
    ``max_rows`` rows and ``max_per_cell`` artifacts per cell, the rest counted. Labels
    and references are code spans, so no name is read as Markdown or HTML.

    Example:
        ```python
        print(lineage_table(reg.lineage(art.id), flow_run_id))
        ```
    """
    labels = dict(run_labels or {})
    refs = {a.id: a.ref for a in graph.artifacts}
    walk = _walk_run(graph, run_id)
    cells: dict[tuple[str, RunCategory], list[str]] = {}
    for e in walk.edges:
        ref = refs.get(e.artifact_id, f"{e.artifact_id[:8]} (not readable)")
        cells.setdefault((e.run_id, e.category), []).append(ref)

    def cell(run: str, category: RunCategory) -> str:
        found = cells.get((run, category), [])
        shown = "<br>".join(_code_span(ref) for ref in found[:max_per_cell])
        return shown + (f"<br>… {len(found) - max_per_cell} more" if len(found) > max_per_cell else "")

    rows = ["| Flow run | Read (input) | Ran (code) | Wrote (output) |", "|---|---|---|---|"]
    for run in walk.runs[:max(1, max_rows)]:
        label = _code_span(labels.get(run) or f"flow run {run[:8]}") + (" (this run)" if run == run_id else "")
        rows.append(f"| {label} | {cell(run, RunCategory.INPUT)} | {cell(run, RunCategory.CODE)} | "
                    f"{cell(run, RunCategory.OUTPUT)} |")
    if len(walk.runs) > max(1, max_rows):
        rows.append(f"\n{len(walk.runs) - max(1, max_rows)} more upstream run(s) not shown.")
    return "\n".join(rows)


# -- trees (the CLI) --------------------------------------------------------------------------


def lineage_tree(graph: Lineage, artifact_id: str, downstream: bool = False,
                 max_nodes: int = 500) -> dict[str, Any]:
    """The lineage of an artifact as a nested tree: upstream (what it was made from) or downstream.

    Each node is ``{"id", "ref", "kind", "children"}``; a child also says how it is
    linked (``category``: ``input``/``code`` upstream, ``output`` downstream, and the
    ``runs`` that link it). Children are sorted by reference. An artifact already
    expanded elsewhere in the tree appears again with ``"repeated": true`` and no
    children, so a shared input is listed once in full; past ``max_nodes`` nodes the
    rest is cut (``"truncated": true``).

    Example:
        ```python
        tree = lineage_tree(reg.lineage("report"), reg.get("report").id)
        [child["ref"] for child in tree["children"]]
        ```
    """
    arts = {a.id: a for a in graph.artifacts}
    by_artifact: dict[str, list[LineageEdge]] = {}
    by_run: dict[str, list[LineageEdge]] = {}
    for e in graph.edges:
        by_artifact.setdefault(e.artifact_id, []).append(e)
        by_run.setdefault(e.run_id, []).append(e)

    def links(art_id: str) -> dict[str, tuple[set[str], set[str]]]:
        """Neighbour artifact id -> (categories, run ids) one step up or down."""
        found: dict[str, tuple[set[str], set[str]]] = {}
        for e in by_artifact.get(art_id, []):
            mine_output = e.category is RunCategory.OUTPUT
            if mine_output != (not downstream):
                continue  # upstream: runs that wrote it; downstream: runs that used it
            for peer in by_run.get(e.run_id, []):
                peer_output = peer.category is RunCategory.OUTPUT
                if peer.artifact_id == art_id or peer_output != downstream:
                    continue
                cats, runs = found.setdefault(peer.artifact_id, (set(), set()))
                cats.add(peer.category.value)
                runs.add(peer.run_id)
        return found

    def describe(art_id: str) -> dict[str, Any]:
        art = arts.get(art_id)
        return {"id": art_id, "ref": art.ref if art else None, "kind": art.kind.value if art else None}

    def sort_key(art_id: str) -> tuple[str, str]:
        art = arts.get(art_id)
        return (art.ref if art else "~", art_id)

    count = 1
    expanded = {artifact_id}
    root = {**describe(artifact_id), "children": []}
    queue = [(root, artifact_id)]
    truncated = False
    while queue:  # breadth-first: a node is expanded at its shallowest place
        node, art_id = queue.pop(0)
        neighbours = links(art_id)
        for peer in sorted(neighbours, key=sort_key):
            if count >= max_nodes:
                truncated = True
                break
            cats, runs = neighbours[peer]
            child = {**describe(peer), "category": ",".join(sorted(cats)), "runs": sorted(runs), "children": []}
            count += 1
            if peer in expanded:
                child["repeated"] = True
            else:
                expanded.add(peer)
                queue.append((child, peer))
            node["children"].append(child)
    if truncated:
        root["truncated"] = True
    return root


def render_tree(tree: dict[str, Any]) -> list[str]:
    r"""Text lines of a `lineage_tree`, with box-drawing branches.

    Example:
        ```python
        print("\n".join(render_tree(lineage_tree(graph, art.id))))
        ```
    """

    def label(node: dict[str, Any]) -> str:
        text = node["ref"] or f"{node['id']} (not readable)"
        if node.get("category"):
            text += f"  [{node['category']}]"
        if node.get("repeated"):
            text += "  (see above)"
        return text

    lines = [label(tree)]

    def walk(node: dict[str, Any], prefix: str) -> None:
        children = node["children"]
        for i, child in enumerate(children):
            last = i == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{label(child)}")
            walk(child, prefix + ("    " if last else "│   "))

    walk(tree, "")
    if tree.get("truncated"):
        lines.append("… more not shown")
    return lines
