"""The example notebooks in examples/ run top to bottom on small sizes (so none of them can rot).

Each notebook reads ``SCIOPE_ABS_NOTEBOOK_SIZE`` in its first code cell; the test sets it to
``small`` and executes the notebook with nbclient in a kernel that runs *this* interpreter (the
venv's python, with the venv's ``bin`` on ``PATH`` so GillesPy2 finds SCons). The last code cell
of every notebook asserts the shapes and values it must have produced and prints
``"<topic>: OK"``; the test checks that line too, so a notebook whose checks were deleted fails.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KERNEL = "sciope-abs-test"

# notebook -> (the line its check cell prints, marks). The emulator and inference notebooks
# train networks: too long for the fast suite on a 2-core machine.
NOTEBOOKS = {
    "01_quick_start.ipynb": ("quick start: OK", ()),
    "02_emulator.ipynb": ("emulator: OK", (pytest.mark.slow,)),
    "03_inference.ipynb": ("inference: OK", (pytest.mark.slow,)),
    "04_exploration.ipynb": ("exploration: OK", ()),
    "05_vilar.ipynb": ("vilar: OK", (pytest.mark.slow,)),
    "06_grid.ipynb": ("grid: OK", (pytest.mark.slow,)),
}


@pytest.fixture(scope="module")
def kernel_manager_factory(tmp_path_factory):
    """A kernel spec that starts this interpreter, with the small sizes and the venv on PATH."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    python = os.path.abspath(sys.executable)
    kernels = tmp_path_factory.mktemp("kernels")
    spec_dir = kernels / KERNEL
    spec_dir.mkdir()
    env = {"SCIOPE_ABS_NOTEBOOK_SIZE": "small",
           "PATH": os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")]),
           "PYTHONUNBUFFERED": "1"}
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sciope_abs (test)", "language": "python", "env": env}))

    def make():
        return KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))

    return make


def _stream_text(nb) -> str:
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
    return "".join(out)


def test_every_notebook_in_examples_is_executed_here():
    assert sorted(p.name for p in EXAMPLES.glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_committed_notebooks_are_clean_and_sized(name):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, name
    for c in code:
        assert c.outputs == [] and c.execution_count is None, f"{name}: committed with outputs"
    assert "SCIOPE_ABS_NOTEBOOK_SIZE" in code[0].source and "SMALL" in code[0].source
    assert NOTEBOOKS[name][0] in code[-1].source and "assert" in code[-1].source


@pytest.mark.parametrize("name", [pytest.param(n, marks=m) for n, (_, m) in sorted(NOTEBOOKS.items())])
def test_notebook_executes(name, kernel_manager_factory, tmp_path):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    client = nbclient.NotebookClient(nb, km=kernel_manager_factory(), timeout=900, startup_timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{name} failed:\n{str(exc)[-3000:]}", pytrace=False)
    text = _stream_text(nb)
    assert NOTEBOOKS[name][0] in text, text[-2000:]
    # every code cell ran, and nothing raised
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None
            assert not any(o.get("output_type") == "error" for o in cell.outputs)
