"""The layout keeps its layers (docs/architecture.md): no part imports a part above it, no
import cycle between modules, no module past 400 lines. Every import counts: at the top,
inside a function, under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "supamigrate"

# Lowest first. A part may import itself and the parts on lines above its own; parts on one
# line are independent of each other. A part is a subpackage or a module at the package's top.
LAYERS: list[list[str]] = [
    ["errors", "brief", "disk", "durations"],  # foundation: import nothing of ours
    ["process"],  # signals, child processes, the garbage collector
    ["sql", "connect"],  # the two readings of a file; reaching a database
    ["lint", "history"],  # rules over the reading; the history table
    ["project"],  # files on disk, the mirror, the caches, the plan
    ["executors"],  # the envelope and the methods that run it
    ["output"],  # everything the user reads
    ["github"],  # annotations, over output
    ["run"],  # config and the commands: one run, sequenced
    ["advise", "local"],  # features over the engine
    ["tenant"],  # the tenant content (uses advise's lints)
    ["edge", "usage", "flagcheck"],  # around the tasks
    ["direct"],  # the lint task's body; `supamigrate lint` without Invoke
    ["collection"],  # the Invoke tasks
    ["cli"],  # the `supamigrate` program
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def part_of(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else ""  # "" is the package's own __init__


def imports_of(module: str, path: Path) -> set[str]:
    """Every supamigrate module `module` imports, wherever the import statement stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:  # `from supamigrate import db`: the module db
                found.add(
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
                )
    return {m for m in found if m.split(".")[0] == "supamigrate" and m != module}


GRAPH = {module: imports_of(module, path) for module, path in MODULES.items()}


def test_every_part_has_a_layer() -> None:
    """A new subpackage or top-level module is placed in LAYERS (and in docs/architecture.md)."""
    unplaced = sorted({part_of(m) for m in MODULES} - set(RANK) - {""})
    assert not unplaced, f"put these parts in a layer (tests/test_layers.py, docs): {unplaced}"


def test_no_part_imports_a_part_above_it() -> None:
    """Lower layers never import higher ones, and parts on one line never import each other."""
    wrong = []
    for module, imported in GRAPH.items():
        mine = part_of(module)
        for other in imported:
            theirs = part_of(other)
            if not mine or not theirs or mine == theirs:
                continue
            if RANK.get(theirs, -1) >= RANK.get(mine, -1):
                wrong.append(f"{module} imports {other} ({mine} may not import {theirs})")
    assert not wrong, "\n".join(sorted(wrong))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    """No two modules import each other, directly or round a loop (function-local imports too)."""
    # a package's __init__ re-exporting its modules is not a loop through them
    graph = {m: {i for i in imported if not m.startswith(i + ".")} for m, imported in GRAPH.items()}
    assert cycles(graph) == []


def test_cycles_are_found() -> None:
    """The cycle check itself sees a loop (so the test above can fail)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module: str) -> None:
    """No module past 400 lines: split it along a seam that reads well."""
    lines = len(MODULES[module].read_text("utf-8").splitlines())
    assert lines <= 400, f"{MODULES[module].relative_to(SRC.parent)}: {lines} lines"
