"""sciope_abs.exploration: parameter sweeps, label spreading and active learning (DESIGN §6).

- :class:`Sweep` -- a design simulated with summaries, grown by batches, saved as zarr.
- :func:`reduce` / :func:`scale_features` -- 2-D embeddings (PCA, t-SNE, UMAP if installed).
- :func:`spread_labels` -- label spreading with an automatic kernel width.
- :func:`suggest_points` -- active learning: new points where the classifier is least sure.
- :func:`bistability_labels` / :func:`oscillation_labels` -- automatic labels from traces.
"""
from .active import STRATEGIES, suggest_points, uncertainty
from .labelling import SpreadResult, entropy, margin, spread_labels
from .labels import LABELLERS, bistability_labels, get_labeller, oscillation_labels
from .reduction import available_reductions, reduce, scale_features
from .sweep import Sweep

__all__ = ["Sweep", "reduce", "scale_features", "available_reductions", "spread_labels", "SpreadResult",
           "entropy", "margin", "suggest_points", "uncertainty", "STRATEGIES", "bistability_labels",
           "oscillation_labels", "LABELLERS", "get_labeller"]
