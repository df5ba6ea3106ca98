"""`Lineage.downstream`, and the lineage views: a flow run's Mermaid graph and the CLI's trees."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from prefect_artifacts._lineage_view import (
    lineage_markdown,
    lineage_mermaid,
    lineage_table,
    lineage_tree,
    node_id,
    render_tree,
)
from prefect_artifacts.models import Lineage
from prefect_artifacts.registry.local import LocalRegistry

PREP, TRAIN, REPORT = "run-prep", "run-train", "run-report"


@pytest.fixture
def pipeline(local_registry: LocalRegistry, tmp_path: Path) -> SimpleNamespace:
    """raw --prep(prep.py)--> clean --train(train.py)--> model, metrics; model + clean --report--> report."""
    reg = local_registry

    def up(name: str) -> Any:
        path = tmp_path / name
        path.write_text(f"content of {name}")
        return reg.upload_file(path, name=name, folder="/p")

    arts = SimpleNamespace(**{n.replace(".", "_"): up(n) for n in
                              ("raw", "prep.py", "clean", "train.py", "model", "metrics", "report", "other")})
    for art, run, cat in [
        (arts.raw, PREP, "input"), (arts.prep_py, PREP, "code"), (arts.clean, PREP, "output"),
        (arts.clean, TRAIN, "input"), (arts.train_py, TRAIN, "code"), (arts.model, TRAIN, "output"),
        (arts.metrics, TRAIN, "output"),
        (arts.model, REPORT, "input"), (arts.clean, REPORT, "input"), (arts.report, REPORT, "output"),
        (arts.other, "run-other", "output"),
    ]:
        reg.attach(art.id, run, cat)
    arts.graph = reg.lineage(arts.clean.id)
    return arts


def test_downstream_mirrors_upstream(pipeline: SimpleNamespace) -> None:
    p, graph = pipeline, pipeline.graph
    assert graph.downstream(p.raw.id) == [p.clean.id]
    assert graph.downstream(p.prep_py.id) == [p.clean.id]  # code counts as used
    assert graph.downstream(p.clean.id) == sorted([p.model.id, p.metrics.id, p.report.id])
    assert graph.downstream(p.model.id) == [p.report.id]
    assert graph.downstream(p.report.id) == [] and graph.downstream(p.metrics.id) == []
    assert graph.downstream("no-such-id") == []
    ids = [a.id for a in graph.artifacts]
    assert p.other.id not in ids
    for a in ids:
        for b in ids:
            assert (b in graph.downstream(a)) == (a in graph.upstream(b)), (a, b)


def _edges(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if "->" in line}


def _nodes(text: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^  ([ar][0-9a-f]{12})[\[(]", text, re.M)}


def test_mermaid_of_a_run_goes_back_to_raw_inputs(pipeline: SimpleNamespace) -> None:
    p = pipeline
    text = lineage_mermaid(p.graph, TRAIN, run_labels={TRAIN: "train", PREP: "prep"})
    a, r = (lambda art: node_id("a", art.id)), (lambda run: node_id("r", run))
    assert text.startswith("flowchart LR\n")
    assert _nodes(text) == {r(TRAIN), r(PREP), a(p.clean), a(p.train_py), a(p.model), a(p.metrics), a(p.raw),
                            a(p.prep_py)}  # not the report run, nor what it read or wrote
    assert _edges(text) == {
        f"{a(p.clean)} -->|input| {r(TRAIN)}", f"{a(p.train_py)} -.->|code| {r(TRAIN)}",
        f"{r(TRAIN)} -->|output| {a(p.model)}", f"{r(TRAIN)} -->|output| {a(p.metrics)}",
        f"{r(PREP)} -->|output| {a(p.clean)}", f"{a(p.raw)} -->|input| {r(PREP)}",
        f"{a(p.prep_py)} -.->|code| {r(PREP)}",
    }
    assert f'{r(TRAIN)}(["train"])' in text and f'{r(PREP)}(["prep"])' in text
    assert f'{a(p.raw)}["/p/raw:1 · file, 14 B"]' in text
    assert text.endswith(f"class {r(TRAIN)} thisrun") and "more[" not in text


def test_mermaid_is_stable_whatever_the_order_of_the_graph(pipeline: SimpleNamespace) -> None:
    graph = pipeline.graph
    shuffled = Lineage(root=graph.root, artifacts=list(reversed(graph.artifacts)), edges=list(reversed(graph.edges)))
    assert lineage_mermaid(shuffled, REPORT) == lineage_mermaid(graph, REPORT)
    lines = lineage_mermaid(graph, REPORT).splitlines()
    edge_lines = [line for line in lines if "->" in line]
    assert len(edge_lines) == len(set(edge_lines))  # no edge drawn twice
    assert f"{node_id('a', pipeline.report.id)}[" in lineage_mermaid(graph, REPORT)
    assert lines[1].startswith(f"  {node_id('r', REPORT)}(")  # the run itself first


def test_mermaid_is_bounded_and_says_what_it_left_out(pipeline: SimpleNamespace) -> None:
    full = lineage_mermaid(pipeline.graph, REPORT)
    nodes, edges = len(_nodes(full)), len(_edges(full))
    assert (nodes, edges) == (9, 9)  # report run + 3 artifacts, train + 3, prep + 2 (clean once)
    small = lineage_mermaid(pipeline.graph, REPORT, max_nodes=4, max_edges=2)
    assert len(_nodes(small)) == 4 and len(_edges(small)) == 2
    assert f'more["{nodes - 4} more node(s) and {edges - 2} more edge(s) not shown"]' in small
    assert node_id("r", REPORT) in _nodes(small)  # nearest first: the run and what it touched
    assert _nodes(small) == {node_id("r", REPORT), *(node_id("a", x.id) for x in
                                                      (pipeline.model, pipeline.clean, pipeline.report))}


def test_mermaid_labels_are_escaped(pipeline: SimpleNamespace) -> None:
    text = lineage_mermaid(pipeline.graph, TRAIN, run_labels={TRAIN: 'train "v2" <x> #1 |a|\nnext'})
    assert f'{node_id("r", TRAIN)}(["train #quot;v2#quot; #lt;x#gt; #35;1 #124;a#124; next"])' in text
    unknown = lineage_mermaid(pipeline.graph, "run-nobody")
    assert unknown.splitlines()[1] == f'  {node_id("r", "run-nobody")}(["flow run run-nobo"])'
    assert not _edges(unknown)
    markdown = lineage_markdown(pipeline.graph, TRAIN)
    assert markdown.startswith("# Lineage") and f"```mermaid\n{lineage_mermaid(pipeline.graph, TRAIN)}\n```" in markdown


def test_the_table_shows_the_same_walk_run_by_run(pipeline: SimpleNamespace) -> None:
    labels = {REPORT: "report <img src=x onerror=alert(1)> | `x`"}
    table = lineage_table(pipeline.graph, REPORT, labels)
    assert table.splitlines() == [
        "| Flow run | Read (input) | Ran (code) | Wrote (output) |",
        "|---|---|---|---|",
        "| `report <img src=x onerror=alert(1)> \\| 'x'` (this run) | `/p/clean:1`<br>`/p/model:1` |  "
        "| `/p/report:1` |",
        "| `flow run run-prep` | `/p/raw:1` | `/p/prep.py:1` | `/p/clean:1` |",
        "| `flow run run-trai` | `/p/clean:1` | `/p/train.py:1` | `/p/model:1` |",
    ]
    bounded = lineage_table(pipeline.graph, REPORT, max_rows=1, max_per_cell=1).splitlines()
    assert bounded[2] == "| `flow run run-repo` (this run) | `/p/clean:1`<br>… 1 more |  | `/p/report:1` |"
    assert bounded[-1] == "2 more upstream run(s) not shown."
    assert lineage_table(pipeline.graph, REPORT) in lineage_markdown(pipeline.graph, REPORT)


def test_upstream_tree_lists_a_shared_input_once_in_full(pipeline: SimpleNamespace) -> None:
    p = pipeline
    tree = lineage_tree(p.graph, p.report.id)
    assert render_tree(tree) == [
        "/p/report:1",
        "├── /p/clean:1  [input]",
        "│   ├── /p/prep.py:1  [code]",
        "│   └── /p/raw:1  [input]",
        "└── /p/model:1  [input]",
        "    ├── /p/clean:1  [input]  (see above)",
        "    └── /p/train.py:1  [code]",
    ]
    model = tree["children"][1]
    assert model["runs"] == [REPORT] and model["id"] == p.model.id and model["kind"] == "file"
    assert model["children"][0]["repeated"] is True and model["children"][0]["children"] == []
    assert "truncated" not in tree


def test_downstream_tree_and_its_bound(pipeline: SimpleNamespace) -> None:
    p = pipeline
    tree = lineage_tree(p.graph, p.raw.id, downstream=True)
    assert render_tree(tree) == [
        "/p/raw:1",
        "└── /p/clean:1  [output]",
        "    ├── /p/metrics:1  [output]",
        "    ├── /p/model:1  [output]",
        "    │   └── /p/report:1  [output]  (see above)",
        "    └── /p/report:1  [output]",
    ]
    assert tree["children"][0]["runs"] == [PREP]
    assert lineage_tree(p.graph, p.report.id, downstream=True)["children"] == []
    cut = lineage_tree(p.graph, p.raw.id, downstream=True, max_nodes=3)
    assert cut["truncated"] is True and render_tree(cut)[-1] == "… more not shown"
    assert len(render_tree(cut)) == 4  # root, clean, metrics, the note
