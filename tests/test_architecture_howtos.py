"""docs/architecture.md cannot rot: every code block of its "How to extend" section is run here
exactly as printed (each block asserts what it shows), the six how-tos the page promises exist,
and the registries the blocks extend are restored afterwards."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

#: the how-tos issue 14 asks the map for (heading "### How to add a/an <name>")
REQUIRED = {"summary", "distance", "mixture component", "NAS operation", "epsilon schedule", "surrogate"}

#: registries a block may extend: (module, attribute, needs TensorFlow)
REGISTRIES = [
    ("sciope_abs.summaries", "SUMMARIES", False),
    ("sciope_abs.distances", "DISTANCES", False),
    ("sciope_abs.inference.epsilon", "EPSILONS", False),
    ("sciope_abs.surrogates.registry", "SURROGATES", False),
    ("sciope_abs.abstraction.components.registry", "COMPONENTS", True),
    ("sciope_abs.abstraction.nas.operations", "OPERATIONS", True),
]


def _howtos() -> dict[str, str]:
    """Heading name -> the python code of that how-to (its blocks joined)."""
    text = PAGE.read_text()
    section = text.split("## How to extend", 1)[1]
    section = re.split(r"^## ", section, flags=re.M)[0]
    out = {}
    for part in re.split(r"^### ", section, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        m = re.match(r"How to add an? (.+)", title.strip())
        if m:
            blocks = re.findall(r"^```python\n(.*?)^```", body, flags=re.S | re.M)
            out[m.group(1)] = "\n".join(blocks)
    return out


HOWTOS = _howtos()


def test_the_page_has_every_required_howto_with_code():
    assert REQUIRED <= set(HOWTOS), sorted(REQUIRED - set(HOWTOS))
    for name in REQUIRED:
        code = HOWTOS[name]
        assert "assert " in code, f"the {name} how-to asserts nothing"
        assert re.search(r"register_\w+|[A-Z]+\[\"\w+\"\] = ", code), f"the {name} how-to registers nothing"


@pytest.mark.parametrize("name", sorted(HOWTOS))
def test_howto_runs_as_printed(name, tmp_path):
    code = HOWTOS[name]
    needs_tf = bool(re.search(r"^(import|from) (tensorflow|keras)|sciope_abs\.abstraction", code, flags=re.M))
    if needs_tf:
        pytest.importorskip("tensorflow")
    saved = []
    for module, attr, tf_registry in REGISTRIES:
        if tf_registry and not needs_tf:
            continue
        registry = getattr(importlib.import_module(module), attr)
        saved.append((registry, dict(registry)))
    try:
        exec(compile(code, f"{PAGE.name}: How to add {name}", "exec"), {"tmp_path": tmp_path, "__name__": "howto"})
    finally:
        for registry, before in saved:
            registry.clear()
            registry.update(before)
