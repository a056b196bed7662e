"""The package ships ``py.typed``: every public function and method carries type annotations
(parameters and return), so a type checker sees the package's API and ``mypy`` checks its bodies.

Public: not starting with ``_`` (dunder methods count, ``__init__`` needs no return annotation),
in a module and class that are not private themselves. The body of a function is mypy's business
(``make test`` runs it); this test only asks that nothing public is left unannotated.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sciope_abs"

# Parts whose public functions are not all annotated yet (issue 14 step 6); empty when done.
NOT_YET: set[str] = set()


def _is_public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _unannotated(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """``"file:line name (what is missing)"`` for each public function lacking an annotation."""
    found: list[str] = []

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and _is_public(node.name):
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_public(node.name):
                a = node.args
                params = a.posonlyargs + a.args + a.kwonlyargs + [p for p in (a.vararg, a.kwarg) if p is not None]
                missing = [p.arg for p in params if p.annotation is None and p.arg not in ("self", "cls")]
                if node.returns is None and node.name != "__init__":
                    missing.append("return")
                if missing:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {prefix}{node.name} {missing}")

    visit(ast.parse(path.read_text(), filename=str(path)).body, "")
    return found


def _public_modules() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if any(p.startswith("_") and p != "__init__.py" for p in parts):
            continue  # a private module (_stream.py, _ssa_loops.py, ...)
        if parts[0].removesuffix(".py") in NOT_YET:
            continue
        out.append(path)
    return out


def test_the_check_finds_a_missing_annotation(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def ok(x: int) -> int:\n    return x\n\n"
                 "def bad(x, y: int):\n    return x\n\n"
                 "def _private(x):\n    return x\n\n"
                 "class C:\n    def __init__(self, a: int):\n        self.a = a\n\n"
                 "    def m(self, b) -> None:\n        return None\n")
    found = _unannotated(f, root=tmp_path)
    assert found == ["m.py:4 bad ['x', 'return']", "m.py:14 C.m ['b']"]


def test_public_functions_are_annotated():
    modules = _public_modules()
    assert len(modules) > 50
    missing = [m for path in modules for m in _unannotated(path)]
    assert not missing, f"{len(missing)} public functions without annotations:\n" + "\n".join(missing)
