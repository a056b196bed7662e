"""Sphinx configuration for the sciope_abs documentation (``make docs``: ``sphinx -W``)."""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# autodoc imports every module; GillesPy2/numba need the environment's bin on PATH
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

project = "sciope_abs"
author = "the sciope_abs developers"
release = re.search(r'__version__ = "([^"]+)"', (ROOT / "sciope_abs" / "_version.py").read_text()).group(1)
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.intersphinx",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_inherit_docstrings = True
autodoc_mock_imports: list[str] = []

napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True

intersphinx_mapping = {}
nitpicky = False
# A name re-exported by a package (``sciope_abs.crn.CRN`` and ``sciope_abs.crn.model.CRN``) makes
# short cross-references in type fields ambiguous; Sphinx then picks one, which is what we want.
suppress_warnings = ["myst.header", "ref.python"]

html_theme = "alabaster"
html_title = f"sciope_abs {release}"
html_static_path: list[str] = []
