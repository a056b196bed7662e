"""The documentation: every public module is in the API reference, every page is in the table of
contents, and (slow) ``sphinx -W`` builds it without a warning."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _public_modules() -> list[str]:
    """Every module file under the package (found on disk, nothing imported), private ones left out."""
    pkg = ROOT / "sciope_abs"
    names = []
    for f in pkg.rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1 and not any(p.startswith("_") for p in parts[1:]) and "__pycache__" not in parts:
            names.append(".".join(parts))
    return sorted(names)


def _api_roots() -> list[str]:
    text = (DOCS / "api.rst").read_text()
    return re.findall(r"^\s+(sciope_abs(?:\.\w+)*)\s*$", text, flags=re.M)


def test_every_public_module_is_under_an_api_reference_root():
    roots = _api_roots()
    assert roots, "docs/api.rst lists no modules"
    assert ":recursive:" in (DOCS / "api.rst").read_text()
    missing = [m for m in _public_modules()
               if not any(m == r or m.startswith(r + ".") for r in roots)]
    assert not missing, f"modules missing from docs/api.rst: {missing}"


def test_every_page_is_in_the_table_of_contents():
    index = (DOCS / "index.md").read_text()
    toc = re.search(r"```\{toctree\}(.*?)```", index, flags=re.S).group(1)
    entries = {line.strip() for line in toc.splitlines() if line.strip() and not line.strip().startswith(":")}
    pages = {str(p.relative_to(DOCS).with_suffix("")) for p in DOCS.rglob("*.md")
             if "_build" not in p.parts and p.name != "index.md"}
    pages |= {"api"}
    assert pages == entries, (sorted(pages - entries), sorted(entries - pages))


def test_required_pages_exist():
    for page in ("installation", "concepts", "cluster", "guide/simulate", "guide/emulator", "guide/inference",
                 "guide/exploration", "guide/pipeline"):
        text = (DOCS / f"{page}.md").read_text()
        assert len(text) > 800, page
    cluster = (DOCS / "cluster.md").read_text()
    for needle in ("dask scheduler", "dask worker", "SCIOPE_ABS_SCHEDULER", "PATH"):
        assert needle in cluster


@pytest.mark.slow
def test_sphinx_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
                           "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]
    for page in ("index", "installation", "concepts", "cluster", "api", "guide/emulator"):
        assert (out / f"{page}.html").exists(), page
    # one generated API page per public module
    missing = [m for m in _public_modules() if not (out / "api" / f"{m}.html").exists()]
    assert not missing, missing
