"""``report.html``: one standalone page (Bokeh JS inlined, works offline) with what a run found.

Sections: the verdict (fidelity check) and a table of stage timings; training curves; the
searched genotype; emulator-vs-SSA histograms (held-out evaluation and on the posterior); the
posterior with the true rates marked (and the SSA-driven posterior when that stage ran).
"""
from __future__ import annotations

from typing import Any

import html
import os
from pathlib import Path

__all__ = ["write_report"]

_ORANGE, _BLUE = "#ff7f0e", "#1f77b4"


def _div(text: str, width: int = 1300):
    from ..viz.html import text_block

    return text_block(text, width)


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


def _fidelity_figure(fid):
    from ..abstraction.histograms import histogram_pair
    from ..viz.histograms import histogram_overlay, per_particle_distances, side_by_side

    figs = []
    if fid.samples:
        emu, ssa = fid.samples["emulator"], fid.samples["ssa"]          # (r, k, T-1) of particle 0
        T1 = emu.shape[-1]
        for t in sorted({0, T1 // 2, T1 - 1}):
            p, q, edges = histogram_pair(emu[:, 0, t], ssa[:, 0, t], 50)
            figs.append(histogram_overlay(p, q, edges, title=f"{fid.species[0]} at step {t + 1}, posterior particle 0",
                                          width=320))
    figs.append(per_particle_distances(fid.emulator_distance, fid.self_distance, kind=fid.meta.get("kind", "l1")))
    return side_by_side(figs)


def _compare_figure(post, ssa_post, truth):
    from ..viz.posterior import posterior_comparison

    return posterior_comparison(post.names, [(ssa_post.samples, ssa_post.weights, _BLUE, "SSA"),
                                             (post.samples, post.weights, _ORANGE, "emulator")],
                                truth, title="{name}: emulator- vs SSA-driven posterior")


def write_report(res: Any, path: str | os.PathLike) -> Path:
    """Write the run's report to ``path`` (HTML); returns the path."""
    import json

    from ..viz.html import save_html, stack
    from ..viz.training import training_curves

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
        items.append(training_curves(card))
        gpath = emu_dir / "genotype.json"
        if gpath.exists():
            from ..abstraction.nas.genotype import draw_genotype

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
    return save_html(stack(items), path, f"sciope_abs pipeline: {cfg.name}", inline=True)
