"""House rules of issue 14 step 5 that a grep would check, checked on the parsed package: library
code logs instead of printing, never reseeds the global generators (``keras.utils.set_random_seed``,
``np.random.seed``, ``random.seed`` outside :func:`sciope_abs.seeding.python_random_seeded`,
``tf.random.set_seed``), and Bokeh is imported only in ``viz/``."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sciope_abs"


def _modules():
    for f in sorted(PACKAGE.rglob("*.py")):
        yield f.relative_to(PACKAGE.parent).as_posix(), ast.parse(f.read_text(), filename=str(f))


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def test_library_code_never_prints():
    found = [f"{name}:{n.lineno}" for name, tree in _modules() for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert not found, f"print() in the package (log to logging.getLogger(__name__) instead): {found}"


def test_no_global_reseeding():
    banned = ("set_random_seed", "np.random.seed", "numpy.random.seed", "tf.random.set_seed")
    found = []
    for name, tree in _modules():
        for n in ast.walk(tree):
            if not isinstance(n, ast.Call):
                continue
            call = _dotted(n.func)
            if call.endswith(banned) or (call == "random.seed" and name != "sciope_abs/seeding.py"):
                found.append(f"{name}:{n.lineno} {call}")
    assert not found, f"global generators reseeded from library code: {found}"


def test_bokeh_only_in_viz():
    found = []
    for name, tree in _modules():
        if name.startswith("sciope_abs/viz/"):
            continue
        for n in ast.walk(tree):
            mods = [a.name for a in n.names] if isinstance(n, ast.Import) else \
                [n.module or ""] if isinstance(n, ast.ImportFrom) and not n.level else []
            found += [f"{name}:{n.lineno} {m}" for m in mods if m == "bokeh" or m.startswith("bokeh.")]
    assert not found, f"bokeh imported outside sciope_abs/viz/: {found}"


def test_the_checks_see_what_they_look_for():
    """The walkers find a print, a reseed and a bokeh import when there is one."""
    tree = ast.parse("import bokeh.plotting\nprint(1)\nkeras.utils.set_random_seed(3)\n")
    assert any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
               for n in ast.walk(tree))
    assert any(isinstance(n, ast.Call) and _dotted(n.func).endswith("set_random_seed") for n in ast.walk(tree))
    assert any(isinstance(n, ast.Import) and n.names[0].name.startswith("bokeh.") for n in ast.walk(tree))
