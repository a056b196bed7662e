"""The figure builders of sciope_abs.viz (the package's only Bokeh code) draw what they are given."""
import numpy as np
import pytest

pytest.importorskip("bokeh")

from bokeh.models import GlyphRenderer, Quad, Scatter, Span  # noqa: E402

from sciope_abs.viz.histograms import distance_by_lag, histogram_overlay, per_particle_distances  # noqa: E402
from sciope_abs.viz.html import save_html, stack, text_block  # noqa: E402
from sciope_abs.viz.posterior import posterior_comparison, posterior_grid  # noqa: E402
from sciope_abs.viz.training import training_curves  # noqa: E402


def _glyphs(fig, kind):
    return [r for r in fig.renderers if isinstance(r, GlyphRenderer) and isinstance(r.glyph, kind)]


def test_posterior_grid_has_marginals_and_pair_scatters():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    grid = posterior_grid(x, np.full(200, 1 / 200), ["a", "b", "c"], truth=np.zeros(3), bins=10)
    figs = [c[0] for c in grid.children]
    assert len(figs) == 6  # lower triangle of 3 x 3
    quads = [f for f in figs if _glyphs(f, Quad)]
    assert len(quads) == 3
    for f in quads:  # weighted density histogram: integrates to one
        q = _glyphs(f, Quad)[0].data_source.data
        assert np.sum(np.asarray(q["top"]) * (np.asarray(q["right"]) - np.asarray(q["left"]))) == pytest.approx(1.0)
        assert any(isinstance(a, Span) for a in f.center)


def test_histogram_overlay_and_distance_figures():
    p, q, edges = np.array([0.5, 0.5]), np.array([0.25, 0.75]), np.array([0.0, 1.0, 2.0])
    f = histogram_overlay(p, q, edges, title="X, 1 step(s)")
    tops = [list(r.data_source.data["top"]) for r in _glyphs(f, Quad)]
    assert tops == [[0.25, 0.75], [0.5, 0.5]]  # SSA below, emulator on top
    assert _glyphs(histogram_overlay(None, None, None, title="empty"), Quad) == []
    g = distance_by_lag([1, 2, 4], [0.1, 0.2, 0.3], [0.05, 0.1, 0.2], species="X", kind="iou")
    assert g.title.text == "X: mean IOU histogram distance" and g.y_range.end == pytest.approx(1.15 * 0.3)
    assert len(_glyphs(per_particle_distances([0.1, 0.2], [0.1, 0.1]), Scatter)) == 2


def test_posterior_comparison_shares_bins():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (100, 1)), rng.normal(3, 1, (100, 1))
    lay = posterior_comparison(["k"], [(a, np.ones(100) / 100, "#000", "SSA"), (b, np.ones(100) / 100, "#111", "emu")],
                               {"k": 1.0}, bins=12, title="{name}: compare")
    (f,) = lay.children
    left = [np.asarray(r.data_source.data["left"]) for r in _glyphs(f, Quad)]
    assert len(left) == 2 and left[0].size == 12 and np.array_equal(left[0], left[1])
    assert f.title.text == "k: compare"


def test_training_curves_and_html_page(tmp_path):
    card = {"search": {"stage_losses": {"heat_up": [3.0, 2.0], "search": [{"loss": 1.5}]}},
            "history": {"loss": [1.4, 1.3], "val_loss": [1.5, 1.45]}}
    fig = training_curves(card)
    xs = [list(r.data_source.data["x"]) for r in fig.renderers]
    assert xs == [[0, 1], [2], [3, 4], [3, 4]]  # fine-tuning continues the supernet's epochs
    out = save_html(stack([text_block("<h1>hello</h1>"), fig]), tmp_path / "r.html", "a title", inline=False)
    text = out.read_text()
    assert "<title>a title</title>" in text and "hello" in text and "cdn.bokeh.org" in text
