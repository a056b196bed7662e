"""Training curves of an emulator from its model card (plain JSON data)."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["training_curves"]

_ORANGE, _BLUE = "#ff7f0e", "#1f77b4"


def _stage_losses(vals: Any) -> list | None:
    """A search stage's per-epoch losses: numbers, or dicts with ``loss`` / ``train_loss``."""
    if isinstance(vals, list) and vals and all(isinstance(v, (int, float)) for v in vals):
        return list(vals)
    if isinstance(vals, list) and vals and isinstance(vals[0], dict):
        return [v.get("loss", v.get("train_loss", np.nan)) for v in vals]
    return None


def training_curves(card: Mapping[str, Any]) -> Any:
    """Mean negative log-likelihood per epoch: the search's supernet stages, then training.

    Parameters
    ----------
    card : dict
        The emulator's model card (``card.json``): ``search.stage_losses`` (heat-up and search
        stages, when searched) and ``history.loss`` / ``history.val_loss``.
    """
    from bokeh.plotting import figure

    fig = figure(title="training curves (mean negative log-likelihood)", width=620, height=320,
                 x_axis_label="epoch", y_axis_label="loss")
    search = card.get("search", {}).get("stage_losses", {})
    offset = 0
    for stage, colour in (("heat_up", "#999999"), ("search", "#2ca02c")):
        ys = _stage_losses(search.get(stage))
        if ys is not None:
            fig.line(np.arange(offset, offset + len(ys)), ys, color=colour, line_width=2,
                     legend_label=f"{stage} (supernet, train)")
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
