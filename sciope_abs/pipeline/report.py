"""``report.html``: one standalone page (Bokeh JS inlined, works offline) with what a run found.

Sections: the verdict (fidelity check) and a table of stage timings; training curves; the
searched genotype; emulator-vs-SSA histograms (held-out evaluation and on the posterior); the
posterior with the true rates marked (and the SSA-driven posterior when that stage ran).
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np

__all__ = ["write_report"]

_ORANGE, _BLUE = "#ff7f0e", "#1f77b4"


def _div(text: str, width: int = 1300):
    from bokeh.models import Div

    return Div(text=text, width=width)


def _timings_table(res) -> str:
    rows = []
    for name, rec in res.stages.items():
        extra = []
        for key in ("inference_seconds", "simulation_seconds", "n_simulations", "epochs_run", "ratio", "simulator",
                    "cheaper", "cost_per_proposal_emulator", "cost_per_proposal_ssa", "message"):
            v = rec.get(key)
            if v is None:
                continue
            if isinstance(v, float):
                v = f"{v:.3g}"
            extra.append(f"{key.replace('_', ' ')}: {html.escape(str(v))}")
        rows.append(f"<tr><td>{name}</td><td>{rec['status']}</td><td style='text-align:right'>"
                    f"{float(rec.get('seconds', 0.0)):.1f}</td><td>{'; '.join(extra)}</td></tr>")
    return ("<h3>Stages and timings</h3><table border='1' cellpadding='4' style='border-collapse:collapse'>"
            "<tr><th>stage</th><th>this run</th><th>seconds</th><th>details</th></tr>" + "".join(rows) +
            f"</table><p>Wall time of this run: {res.wall_seconds:.1f} s (skipped stages cost nothing; "
            "their seconds are from the run that made them).</p>")


def _cost_sentence(rec: dict) -> str:
    """'Cost per proposal: emulator x ms, exact SSA y ms (the ... is cheaper). ' or ''."""
    emu, ssa = rec.get("cost_per_proposal_emulator"), rec.get("cost_per_proposal_ssa")
    if emu is None or ssa is None:
        return ""
    return (f"Cost per proposal: emulator {emu * 1e3:.3g} ms, exact SSA {ssa * 1e3:.3g} ms "
            f"(the {rec.get('cheaper')} is cheaper). ")


def _training_figure(card: dict):
    from bokeh.plotting import figure

    fig = figure(title="training curves (mean negative log-likelihood)", width=620, height=320,
                 x_axis_label="epoch", y_axis_label="loss")
    search = card.get("search", {}).get("stage_losses", {})
    offset = 0
    for stage, colour in (("heat_up", "#999999"), ("search", "#2ca02c")):
        vals = search.get(stage)
        if isinstance(vals, list) and vals and all(isinstance(v, (int, float)) for v in vals):
            x = np.arange(offset, offset + len(vals))
            fig.line(x, vals, color=colour, line_width=2, legend_label=f"{stage} (supernet, train)")
            offset += len(vals)
        elif isinstance(vals, list) and vals and isinstance(vals[0], dict):
            ys = [v.get("loss", v.get("train_loss", np.nan)) for v in vals]
            x = np.arange(offset, offset + len(ys))
            fig.line(x, ys, color=colour, line_width=2, legend_label=f"{stage} (supernet, train)")
            offset += len(ys)
    hist = card.get("history", {})
    loss, vloss = hist.get("loss") or [], hist.get("val_loss") or []
    label = "fine-tune" if card.get("search") else "train"
    if loss:
        x = np.arange(offset, offset + len(loss))
        fig.line(x, loss, color=_BLUE, line_width=2, legend_label=f"{label}: train")
        fig.line(x, vloss, color=_ORANGE, line_width=2, line_dash="dashed", legend_label=f"{label}: validation")
    fig.legend.location = "top_right"
    return fig


def _fidelity_figure(fid):
    from bokeh.layouts import row
    from bokeh.plotting import figure

    from ..abstraction.histograms import histogram_pair

    figs = []
    if fid.samples:
        emu, ssa = fid.samples["emulator"], fid.samples["ssa"]          # (r, k, T-1) of particle 0
        T1 = emu.shape[-1]
        for t in sorted({0, T1 // 2, T1 - 1}):
            x, y = emu[:, 0, t], ssa[:, 0, t]
            p, q, edges = histogram_pair(x, y, 50)
            f = figure(title=f"{fid.species[0]} at step {t + 1}, posterior particle 0", width=320, height=240,
                       x_axis_label="count", y_axis_label="probability")
            f.quad(left=edges[:-1], right=edges[1:], bottom=0, top=q, color=_BLUE, fill_alpha=0.4, line_alpha=0,
                   legend_label="SSA")
            f.quad(left=edges[:-1], right=edges[1:], bottom=0, top=p, color=_ORANGE, fill_alpha=0.4, line_alpha=0,
                   legend_label="emulator")
            f.legend.label_text_font_size = "8pt"
            figs.append(f)
    g = figure(title="per particle: emulator vs SSA and SSA self-distance", width=420, height=240,
               x_axis_label="particle", y_axis_label=f"mean {fid.meta.get('kind', 'l1').upper()} distance")
    idx = np.arange(len(fid.emulator_distance))
    g.scatter(idx, fid.emulator_distance, color=_ORANGE, size=7, legend_label="emulator vs SSA")
    g.scatter(idx, fid.self_distance, color=_BLUE, size=7, marker="square", legend_label="SSA vs SSA")
    g.legend.label_text_font_size = "8pt"
    figs.append(g)
    return row(*figs)


def _compare_figure(post, ssa_post, truth):
    from bokeh.layouts import row
    from bokeh.models import Span
    from bokeh.plotting import figure

    figs = []
    for j, name in enumerate(post.names):
        f = figure(title=f"{name}: emulator- vs SSA-driven posterior", width=360, height=260,
                   x_axis_label=name, y_axis_label="density")
        lo = min(post.samples[:, j].min(), ssa_post.samples[:, j].min())
        hi = max(post.samples[:, j].max(), ssa_post.samples[:, j].max())
        edges = np.linspace(lo, hi, 31)
        for p, colour, label in ((ssa_post, _BLUE, "SSA"), (post, _ORANGE, "emulator")):
            h, _ = np.histogram(p.samples[:, j], bins=edges, weights=p.weights, density=True)
            f.quad(left=edges[:-1], right=edges[1:], bottom=0, top=h, color=colour, fill_alpha=0.4, line_alpha=0,
                   legend_label=label)
        if truth is not None:
            f.add_layout(Span(location=truth[name], dimension="height", line_color="red", line_width=2))
        f.legend.label_text_font_size = "8pt"
        figs.append(f)
    return row(*figs)


def write_report(res, path) -> Path:
    """Write the run's report to ``path`` (HTML); returns the path."""
    import json

    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.resources import INLINE

    cfg = res.config
    done = {k for k, v in res.stages.items() if v["status"] in ("ran", "skipped")}
    items = []
    head = (f"<h1>sciope_abs pipeline: {html.escape(cfg.name)}</h1>"
            f"<p>Model <b>{html.escape(cfg.model)}</b>, inferred rates {cfg.vary_params}, true values "
            f"{cfg.observed['truth']}; emulator: {cfg.emulator['method']}; run folder {html.escape(str(res.run_dir))}.</p>")
    if "fidelity" in done:
        fid = res.output("fidelity")
        colour = "green" if fid.passed else "red"
        head += (f"<p style='color:{colour}'><b>Fidelity check {'passed' if fid.passed else 'FAILED'}</b>: "
                 f"{html.escape(fid.message)}</p>")
    items.append(_div(head + _timings_table(res)))

    if "emulator" in done:
        emu_dir = res.run_dir / "emulator" / "emulator"
        card = json.loads((emu_dir / "card.json").read_text()) if (emu_dir / "card.json").exists() else {}
        items.append(_div("<h2>Emulator training</h2>"))
        items.append(_training_figure(card))
        gpath = emu_dir / "genotype.json"
        if gpath.exists():
            from ..abstraction.nas.draw import draw_genotype

            items.append(_div("<h2>Searched architecture (genotype)</h2>"))
            items.append(draw_genotype(json.loads(gpath.read_text()), width=1200))
    if "evaluate" in done:
        rep = res.output("evaluate")
        tab = rep.table()
        rows = "".join(f"<tr><td>{r.species}</td><td>{r.lag}</td><td>{r.l1:.3f}</td><td>{r.self_l1:.3f}</td>"
                       f"<td>{r.ratio:.2f}</td></tr>" for r in tab.itertuples(index=False))
        items.append(_div("<h2>Emulator vs SSA on held-out settings</h2><table border='1' cellpadding='4' "
                          "style='border-collapse:collapse'><tr><th>species</th><th>lag</th><th>L1 emulator vs SSA"
                          "</th><th>L1 SSA self</th><th>ratio</th></tr>" + rows + "</table>"))
        items.append(rep.plot(setting=0, species=rep.species[0]))
    truth = None
    if "infer" in done:
        post = res.output("infer")
        truth = {k: float(v) for k, v in cfg.observed["truth"].items()}
        desc = post.describe()
        desc["truth"] = [truth[n] for n in post.names]
        rec = res.stages.get("infer", {})
        used = "exact SSA" if rec.get("simulator") == "ssa" else "emulator"
        items.append(_div(f"<h2>Posterior (SMC-ABC with the {used})</h2><p>{html.escape(post.message)}; "
                          f"{len(post)} particles, ESS {post.ess:.0f}, {post.n_simulations} {used} simulations. "
                          f"{html.escape(_cost_sentence(rec))}Red: the true rates.</p>"
                          + desc.to_html(float_format=lambda v: f"{v:.4g}")))
        items.append(post.plot(truth=truth, size=240))
    if "fidelity" in done:
        items.append(_div("<h2>Fidelity check on the posterior</h2><pre>" + html.escape(fid.summary()) + "</pre>"))
        items.append(_fidelity_figure(fid))
    if "ssa_infer" in done and "infer" in done:
        ssa_post = res.output("ssa_infer")
        items.append(_div(f"<h2>SSA-driven SMC-ABC (same settings)</h2><p>{html.escape(ssa_post.message)}; "
                          f"{ssa_post.n_simulations} SSA simulations.</p>"))
        items.append(_compare_figure(post, ssa_post, truth))
    path = Path(path)
    path.write_text(file_html(column(*items), INLINE, title=f"sciope_abs pipeline: {cfg.name}"))
    return path
