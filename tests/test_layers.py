"""The package's layers point one way and no modules import each other in a cycle.

Imports are read from the code (module level and inside functions alike), so a
lazy import counts as much as an eager one. Each top-level part of
``fedarena`` sits in a layer; a module may import only its own layer and the
ones below. The engine sees the components only through their contracts
(``fedarena.<kind>.base``), so adding a component never touches it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fedarena

ROOT = Path(fedarena.__file__).parent
LAYERS = [
    {
        "allocator",
        "errors",
        "io",
        "seeds",
        "options",
        "registry",
        "oracles",
        "sandbox",
        "monitoring",
    },
    {"data", "factorisation", "ncf", "stacked", "updates", "model", "metrics"},
    {"training"},
    {"attacks", "defenses", "strategies", "compression"},
    {"components", "engine"},
    {"scenario"},
    {"flower", "matrix"},
    {"leaderboard"},
    {"gate", "submission"},
    {"cli", "api"},
]
LAYER = {part: i for i, parts in enumerate(LAYERS) for part in parts}
COMPONENT_KINDS = ("attacks", "defenses", "strategies", "compression")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """The fedarena modules ``path`` imports (``from a import b`` counts ``a.b`` where that is a
    module, else ``a``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            found |= submodules or {base}
    return {m for m in found if m in MODULES and m != name}


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}
GRAPH = {name: _imports(path, name) for name, path in MODULES.items()}


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(m) for m in MODULES} - {"__init__"}
    assert parts <= set(LAYER), f"give these a layer: {sorted(parts - set(LAYER))}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _part(m) != "__init__"))
def test_imports_point_down_the_layers(module):
    upward = sorted(
        target
        for target in GRAPH[module]
        if _part(target) != "__init__" and LAYER[_part(target)] > LAYER[_part(module)]
    )
    assert not upward, f"{module} imports a higher layer: {upward}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _part(m) == "engine"))
def test_the_engine_sees_components_only_through_their_contracts(module):
    reached = {
        target
        for target in GRAPH[module]
        if _part(target) in COMPONENT_KINDS and target.count(".") > 1
    }
    assert all(t.endswith(".base") for t in reached), f"{module} imports {sorted(reached)}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_import_cycle():
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_folder_import_cycle():
    folders: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        folders.setdefault(_part(module), set()).update(
            _part(t) for t in targets if _part(t) != _part(module)
        )
    folders = {k: {t for t in v if t in folders} for k, v in folders.items()}
    assert _cycles(folders) == []
