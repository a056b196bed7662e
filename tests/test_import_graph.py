"""The package's import graph (DESIGN.md section 2): no import cycle between modules, heavy
libraries only where they belong, and no import from a layer above.

Every module of ``sciope_abs`` is parsed (``ast``, nothing imported), and every import statement
counts, including the ones inside functions (they hide cycles from the interpreter but not from
the design). Imports under ``if TYPE_CHECKING:`` never run, so they do not make a cycle; they
still have to respect the layers.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sciope_abs"

# DESIGN.md section 2, top to bottom: a module may import its own layer or any layer below.
LAYERS: list[tuple[str, ...]] = [
    ("cli", "pipeline"),
    ("inference", "exploration"),
    ("abstraction", "surrogates"),
    ("viz",),
    ("engine", "store"),
    ("simulators",),
    ("crn",),
    ("priors", "designs", "summaries", "distances"),
    ("seeding", "protocols", "_checks", "_config", "_version"),
]

# Upward imports that are part of the public API, each with its reason (module -> imported part).
ALLOWED_UPWARD = {
    ("sciope_abs.priors", "crn"):
        "JointPrior.from_model('toggle_switch') loads a library model by name, inside the function",
}

# Third-party packages that only some parts of the package may import.
CONFINED = {
    "tensorflow": ("abstraction", "surrogates"),
    "keras": ("abstraction", "surrogates"),
    "tf_keras": ("abstraction", "surrogates"),
    "dask": ("engine",),
    "distributed": ("engine",),
}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    type_checking: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    inside.update(id(n) for n in ast.walk(stmt))
    return inside


def _imported_names(node: ast.AST, module: str, is_package: bool, modules: dict[str, Path]) -> list[str]:
    """Absolute names an import statement loads (``from a import b`` is ``a.b`` if that is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    return [f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names]


def _graph() -> tuple[dict[str, Path], list[Edge], dict[str, set[str]]]:
    """(modules, edges between package modules, third-party top-level name -> importing modules)."""
    modules = _modules()
    edges: list[Edge] = []
    external: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        type_checking = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            for name in _imported_names(node, module, path.name == "__init__.py", modules):
                if name.split(".")[0] != "sciope_abs":
                    external.setdefault(name.split(".")[0], set()).add(module)
                    continue
                while name not in modules:
                    name = name.rsplit(".", 1)[0]
                if name != module:
                    edges.append(Edge(module, name, node.lineno, id(node) in type_checking))
    return modules, edges, external


def _cycles(nodes: list[str], edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        succ[e.source].append(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ[child])))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _part(module: str) -> str:
    """The top-level part a module belongs to: ``sciope_abs.inference.smc`` -> ``inference``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _rank(module: str) -> int:
    part = _part(module)
    for rank, layer in enumerate(LAYERS):
        if part in layer:
            return rank
    raise AssertionError(f"{module}: part {part!r} is in no layer of LAYERS; place it there (DESIGN.md section 2)")


@pytest.fixture(scope="module")
def graph():
    return _graph()


def test_the_graph_sees_function_level_and_relative_imports(graph):
    modules, edges, external = graph
    assert len(modules) > 50
    pairs = {(e.source, e.target) for e in edges}
    # a module-level relative import, and a relative import inside a function
    assert ("sciope_abs.inference.rejection", "sciope_abs.inference._stream") in pairs
    assert ("sciope_abs.inference._stream", "sciope_abs.priors") in pairs
    assert "sciope_abs.engine.client" in external["distributed"]
    # the cycle finder finds a planted cycle and nothing in a chain
    planted = [Edge("a", "b", 1, False), Edge("b", "c", 1, False), Edge("c", "a", 1, False), Edge("c", "d", 1, False)]
    assert _cycles(["a", "b", "c", "d"], planted) == [["a", "b", "c"]]
    assert _cycles(["a", "b", "c", "d"], planted[:2] + planted[3:]) == []


def test_no_import_cycle(graph):
    modules, edges, _ = graph
    cycles = _cycles(sorted(modules), [e for e in edges if not e.type_checking])
    where = []
    for comp in cycles:
        inner = sorted({f"{e.source}:{e.line} -> {e.target}" for e in edges
                        if e.source in comp and e.target in comp and not e.type_checking})
        where.append(f"{comp}: {inner}")
    assert not cycles, "import cycles between modules:\n" + "\n".join(where)


def test_every_module_is_in_a_layer(graph):
    modules, _, _ = graph
    for module in modules:
        if module != "sciope_abs":
            _rank(module)


def test_no_upward_import(graph):
    _, edges, _ = graph
    upward = [f"{e.source}:{e.line} imports {e.target}" for e in edges
              if e.source != "sciope_abs" and _rank(e.target) < _rank(e.source)
              and (e.source, _part(e.target)) not in ALLOWED_UPWARD]
    assert not upward, "imports from a layer above (DESIGN.md section 2):\n" + "\n".join(upward)


def test_allowed_upward_imports_still_exist(graph):
    # an exception that is no longer needed is removed from ALLOWED_UPWARD
    _, edges, _ = graph
    pairs = {(e.source, _part(e.target)) for e in edges}
    assert set(ALLOWED_UPWARD) <= pairs


@pytest.mark.parametrize("library", sorted(CONFINED))
def test_heavy_libraries_stay_in_their_parts(graph, library):
    _, _, external = graph
    outside = sorted(m for m in external.get(library, ()) if _part(m) not in CONFINED[library])
    assert not outside, f"{library} imported outside {CONFINED[library]}: {outside}"
