"""The exploration app's page, built in-process on a Bokeh Document and driven through its
callbacks (the browser test, tests/test_explore_app.py, drives the same page in Chromium)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("bokeh")

from bokeh.document import Document  # noqa: E402
from bokeh.models import Button, Div, Select, Spinner, TextInput  # noqa: E402

from sciope_abs.store import read_group  # noqa: E402
from sciope_abs.viz.app import make_document_factory  # noqa: E402

from test_explore_app import _small_sweep  # noqa: E402


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("app") / "sweep"
    _small_sweep(path)
    return path


def _page(sweep_dir, **kw):
    doc = Document()
    make_document_factory(sweep_dir, **kw)(doc)
    by_name = {m.name: m for m in doc.models if getattr(m, "name", None)}
    return doc, by_name


def test_the_page_holds_the_scatter_traces_and_controls(sweep_dir):
    doc, named = _page(sweep_dir)
    assert doc.title == f"sciope-abs explore: {sweep_dir.name}"
    assert len(doc.roots) == 1
    for name in ("status", "select_input", "select_button", "label_input", "label_button", "spread_button",
                 "suggest_button"):
        assert name in named, name
    assert named["status"].text == "40 points, 0 labelled"
    assert named["spread_button"].disabled and named["suggest_button"].disabled  # no callbacks given
    assert any(isinstance(m, Select) and m.title == "colour by" for m in doc.models)
    assert any(isinstance(m, Spinner) and m.value == 10 for m in doc.models)
    assert isinstance(named["label_input"], TextInput) and isinstance(named["label_button"], Button)
    assert isinstance(named["status"], Div)


def test_select_label_and_spread_through_the_callbacks(sweep_dir):
    calls = []

    def on_spread(path):
        calls.append(path)
        return "spread done"

    doc, named = _page(sweep_dir, on_spread=on_spread)
    scatter_src = next(m for m in doc.models if hasattr(m, "data") and "confidence" in getattr(m, "data", {}))
    named["select_input"].value = "0, 2-4"
    named["select_button"]._trigger_event(_ButtonClick(named["select_button"]))
    assert list(scatter_src.selected.indices) == [0, 2, 3, 4]
    assert named["status"].text == "selected 4 points: [0, 2, 3, 4]"
    traj = [m for m in doc.models if hasattr(m, "data") and "point" in getattr(m, "data", {})]
    assert traj and all(sorted(set(t.data["point"])) == [0, 2, 3, 4] for t in traj)  # the selection's traces
    named["label_input"].value = "2"
    named["label_button"]._trigger_event(_ButtonClick(named["label_button"]))
    assert named["status"].text == "labelled 4 points as 2; saved (4 labelled)"
    lab, _ = read_group(sweep_dir / "labels.zarr")
    assert np.flatnonzero(np.asarray(lab["labels"]) == 2).tolist() == [0, 2, 3, 4]
    assert scatter_src.data["label"][2] == 2
    named["label_input"].value = "-5"
    named["label_button"]._trigger_event(_ButtonClick(named["label_button"]))
    assert named["status"].text == "error: label must be an integer >= -1, got '-5'"
    named["select_input"].value = "99"
    named["select_button"]._trigger_event(_ButtonClick(named["select_button"]))
    assert named["status"].text.startswith("error: indices out of range [0, 40)")
    named["spread_button"]._trigger_event(_ButtonClick(named["spread_button"]))
    assert calls == [sweep_dir] and named["status"].text == "spread done"


def _ButtonClick(model):
    from bokeh.events import ButtonClick

    return ButtonClick(model)
