"""Imports run one way: no bmefhir layer imports one that (directly or not) imports it back.

A layer is a top-level module or sub-package of ``bmefhir`` (``bmefhir.render``, ``bmefhir.pipeline``).
Every ``import`` counts, including those under ``TYPE_CHECKING`` and inside functions: a cycle
hidden from the interpreter is still a data flow that runs back up.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bmefhir"


def _layer(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _module(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        here = _layer(_module(path, package))
        deps = graph.setdefault(here, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            deps.update(_layer(n) for n in names if n.startswith("bmefhir.") and _layer(n) != here)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> set[frozenset[str]]:
    """Pairs of layers that reach each other."""

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reachable = {layer: reach(layer) for layer in graph}
    return {frozenset({a, b}) for a in graph for b in reachable[a] if a != b and a in reachable.get(b, set())}


def test_no_layer_imports_one_above_it() -> None:
    found = cycles(layer_graph())
    assert found == set(), sorted(sorted(c) for c in found)


def test_render_takes_the_analysis_model_not_the_pipeline() -> None:
    graph = layer_graph()
    assert "bmefhir.analysis" in graph["bmefhir.render"]
    assert "bmefhir.pipeline" not in graph["bmefhir.render"]
    assert "bmefhir.render" not in graph["bmefhir.analysis"]


def test_the_checker_sees_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "bmefhir"
    (pkg / "render").mkdir(parents=True)
    (pkg / "pipeline.py").write_text("from bmefhir.render.x import y\n", encoding="utf-8")
    (pkg / "render" / "x.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bmefhir.pipeline import A\n", encoding="utf-8"
    )
    assert cycles(layer_graph(pkg)) == {frozenset({"bmefhir.pipeline", "bmefhir.render"})}
