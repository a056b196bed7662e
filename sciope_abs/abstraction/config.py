"""The hyper-parameters of the emulator's stages, one frozen dataclass each.

:class:`DatasetConfig` (``build_dataset``), :class:`TrainConfig` (``train``, the fixed MLP body),
:class:`SearchConfig` (``nas.search``) and :class:`EvaluationConfig` (``evaluate``) are the
**one** definition of those settings and of their defaults: the API reads them
(``train(dataset, TrainConfig(epochs=50))`` or ``train(dataset, epochs=50)``),
``sciope-abs train/search/dataset/evaluate`` take their argparse defaults
and help from them, the pipeline's ``dataset:`` / ``emulator.train:`` / ``emulator.search:``
sections are checked against their fields (:meth:`~sciope_abs._config.Config.from_mapping`) and
the model card records ``config.to_dict()`` under ``card["config"]``.

Plain dataclasses: importing this module imports neither numpy nor TensorFlow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._config import Config, option

__all__ = ["DatasetConfig", "TrainConfig", "SearchConfig", "EvaluationConfig", "MAX_SUPPORT"]

#: default of ``max_support`` (:mod:`.components.categorical` holds the same value and checks it)
MAX_SUPPORT = 8

_TARGETS = ("auto", "delta", "state", "positive")


@dataclass(frozen=True)
class DatasetConfig(Config):
    """Settings of :func:`~sciope_abs.abstraction.dataset.build_dataset` (its simulation design)."""

    n_settings: int = option(80, "randomised initial settings", cli="--settings")
    n_traj: int = option(20, "SSA trajectories per setting", cli="--traj")
    dt: float | None = option(None, "time step (default: the model's)", "float")
    n_steps: int | None = option(None, "number of steps (default: the model's)", "int", cli="--steps")
    solver: str = option("auto", "simulator (auto: exact SSA, the fastest available)")
    split: tuple = option((0.7, 0.15, 0.15), "fractions of settings for train, architecture-validation, test",
                          "list")


@dataclass(frozen=True)
class _MixtureFields(Config):
    """The fields :class:`TrainConfig` and :class:`SearchConfig` share (same names, same defaults)."""

    n_components: int = option(6, "mixture components", cli="--components")
    component: Any = option("diag_normal", "mixture component family: diag_normal, full_normal, lognormal "
                            "(or a component config)", "any")
    batch_size: int = option(256, "minibatch size")
    learning_rate: float = option(1e-3, "Adam learning rate of the weights", cli="--lr")
    patience: int = option(10, "early-stopping patience in epochs")
    target: str = option("auto", "target parametrisation: auto, delta, state or positive", choices=_TARGETS)
    discrete: Any = option("auto", "low-copy species modelled by a categorical: auto, null or a list", "any")
    max_support: int = option(MAX_SUPPORT, "most distinct counts of a species for discrete=auto")
    lags: tuple = option((1,), "training lags in steps (must include 1)", "list")
    lag_fraction: float = option(1.0, "longer-lag pairs as a fraction of the lag-1 pairs")


@dataclass(frozen=True)
class TrainConfig(_MixtureFields):
    """Settings of :func:`~sciope_abs.abstraction.training.train` (a fixed MLP body).

    Parameters
    ----------
    hidden, activation : MLP body widths and activation (ignored when ``train`` gets a ``body``).
    n_components, component : the mixture (default 6 diagonal Normals).
    epochs, batch_size, learning_rate, patience : Adam on shuffled minibatches; stop after
        ``patience`` epochs without a new best validation loss (see
        :func:`~sciope_abs.abstraction.training.fit_mdn`).
    target : {"auto", "delta", "state", "positive"}
        Target parametrisation (:mod:`~sciope_abs.abstraction.targets`); ``"auto"`` =
        ``"delta"`` for real-support components, ``"positive"`` for the log-normal.
    discrete : "auto", None or sequence of str
        Low-copy species modelled by a categorical over their values in the data instead of the
        continuous component (:mod:`~sciope_abs.abstraction.components.categorical`): ``"auto"``
        (default) picks the species whose counts take at most ``max_support`` values in the
        training pairs.
    max_support : int
        Threshold of ``discrete="auto"`` (default 8).
    lags : sequence of int
        Training lags in steps (default ``(1,)``).  With longer lags, e.g. ``(1, 2, 5, 10)``, the
        network also learns ``x_t -> x_{t+k}`` with the lag as an extra input
        (:func:`~sciope_abs.abstraction.training.prepare_training`); the emulator rolls out with
        the lag held at 1.
    lag_fraction : float
        Longer-lag pairs, together, as a fraction of the lag-1 pairs (default 1: twice the data).
    """

    hidden: tuple = option((64, 64), "hidden widths of the MLP body", "list")
    activation: str = option("swish", "activation of the MLP body")
    epochs: int = option(100, "maximum epochs")


@dataclass(frozen=True)
class SearchConfig(_MixtureFields):
    """Settings of :func:`~sciope_abs.abstraction.nas.search` (architecture search + fine-tuning).

    Parameters
    ----------
    cells, cell_size, expansion : int, optional
        ``C_n``, ``C_s`` and the expansion multiplier ``d``.  Each one not given comes from
        :func:`~sciope_abs.abstraction.nas.searching.default_size` of the number of training
        pairs (``2, 2, 20`` at the paper's X16 size of 70 000 pairs and above, a smaller ``d``
        below).  With ``size="auto"`` they are the starting point of the loop.
    ops : sequence of str, optional
        Candidate operations (registry names); default all built-ins.
    epochs : (heat_up, search, finetune) or dict
        Epochs of each stage (default ``(10, 40, 100)``; fine-tuning stops early on the
        validation loss with ``patience``; 0 skips a stage).
    size : {"fixed", "auto"}
        ``"fixed"`` (default): one search at the given or default size.  ``"auto"``: the paper's
        hand loop made automatic -- search, then compare the derived network's train and
        validation NLL (same fixed dequantisation draw): when validation is worse than train by
        more than ``overfit_gap`` the space shrinks (``d / 1.5``, then one cell fewer), else it
        grows (``d x 1.5`` up to 40, then one more cell); the loop keeps moving in that direction
        while the validation loss improves, and stops at the first move that does not, after
        ``max_rounds`` searches, or when the next search (its time predicted from the last one,
        scaled by the width) would overrun ``time_budget`` seconds.  The network with the lowest
        validation loss is returned; ``card["search"]["size_history"]`` lists every round.
    time_budget : float, optional
        Seconds for the whole ``size="auto"`` loop (default: no limit but ``max_rounds``).
    max_rounds : int
        Searches at most in the ``size="auto"`` loop (default 4).
    overfit_gap : float
        Validation minus train NLL (nats per pair) above which the loop shrinks (default 0.1).
    n_components, component : the mixture head (default 6 diagonal Normals).
    batch_size, learning_rate : minibatch size and Adam step of the weights.
    arch_learning_rate : float
        Adam step of ``alpha`` (default 0.03: on X16 with 16 800 training pairs, 3e-3 left
        ``softmax(alpha)`` nearly uniform after 40 search epochs -- mean max 0.15 of 8
        operations -- while 0.03 reached 0.40 and a better derived network; see BENCHMARKS.md).
    turn : int
        Epochs per block of the alternating stage.
    patience : int
        Early-stopping patience of the fine-tuning stage.
    clipnorm : float, optional
        Bound on the global gradient norm of every weight step, in the search and the
        fine-tuning (default 5; ``None`` turns it off).  Without it the EGFR supernet (23
        species, width 460) diverged mid-search (train NLL 17 -> 10^8).
    init : {"scratch", "supernet", "best"}
        Start of the fine-tuning: fresh seeded weights (default), the supernet's weights of the
        kept operations and its mixture head, or both (twice the fine-tuning time) keeping the
        one with the lower validation loss.  Neither start wins everywhere: on X16 the same
        genotype reached a validation NLL of 0.510 from scratch and 0.621 from the supernet, on
        Gene (3 500 training pairs) 5.83 from scratch and 5.34 from the supernet.
    expand : {"dense", "tile"}, aggregate : {"mean", "sum"}, n_aggregate : int, optional
        Cell variants (see :mod:`sciope_abs.abstraction.nas.cells`).
    max_inputs : int
        Incoming edges kept per node (2 in the paper).
    target : {"auto", "delta", "state", "positive"}
        Target parametrisation, as in :class:`TrainConfig`.
    discrete, max_support : categorical low-copy species, as in :class:`TrainConfig`.
    lags, lag_fraction : multi-lag training pairs, as in :class:`TrainConfig`.
    """

    cells: int | None = option(None, "number of cells C_n (default: from the dataset's size)", "int")
    cell_size: int | None = option(None, "intermediate nodes per cell C_s (default: from the dataset's size)", "int")
    expansion: int | None = option(None, "width multiplier d of the first cell (default: from the dataset's size)",
                                   "int")
    ops: tuple | None = option(None, "candidate operations (default: all registered)", "list")
    epochs: Any = option((10, 40, 100), "epochs of heat-up, search and fine-tuning (fine-tuning stops early)",
                         "any")
    size: str = option("fixed", "fixed: one search; auto: the grow/shrink loop", choices=("fixed", "auto"))
    time_budget: float | None = option(None, "seconds for the whole size=auto loop (default: no limit)", "float")
    max_rounds: int = option(4, "searches at most in the size=auto loop")
    overfit_gap: float = option(0.1, "validation minus train NLL above which size=auto shrinks")
    arch_learning_rate: float = option(3e-2, "Adam step of alpha", cli="--arch-lr")
    turn: int = option(3, "epochs per weight/architecture block")
    clipnorm: float | None = option(5.0, "bound on the global gradient norm (null: off)", none=True)
    init: str = option("scratch", "start of the fine-tuning: scratch, supernet or best",
                       choices=("scratch", "supernet", "best"))
    expand: str = option("dense", "cell input widening: dense or tile", choices=("dense", "tile"))
    aggregate: str = option("mean", "cell output: mean or sum of the last nodes", choices=("mean", "sum"))
    n_aggregate: int | None = option(None, "last nodes of a cell forming its output (default: the cell's)",
                                     "int")
    max_inputs: int = option(2, "incoming edges kept per node")

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.epochs, list):
            object.__setattr__(self, "epochs", tuple(self.epochs))


@dataclass(frozen=True)
class EvaluationConfig(Config):
    """Settings of :func:`~sciope_abs.abstraction.evaluation.evaluate` (emulator vs SSA histograms).

    ``evaluate()`` and ``evaluate_many()`` take their signature defaults from it,
    ``sciope-abs evaluate`` its ``--settings/--traj/--lags/--bins`` defaults and the pipeline's
    ``evaluate:`` section its keys and defaults.

    Parameters
    ----------
    n_settings : int
        Held-out initial settings (default 25).
    n_traj : int
        Trajectories per setting in each of the three ensembles (default 1000).
    lags : sequence of int
        Time lags in steps of the emulator's ``dt`` (default ``(1, 3, 5, 10)``).
    bins : "auto", None, int or array
        Histogram binning (default ``"auto"``, see
        :func:`~sciope_abs.abstraction.histograms.auto_bins`).
    """

    n_settings: int = option(25, "held-out initial settings", cli="--settings")
    n_traj: int = option(1000, "trajectories per setting and ensemble", cli="--traj")
    lags: tuple = option((1, 3, 5, 10), "time lags in steps", "list")
    bins: Any = option("auto", "histogram bins: auto (sqrt of n_traj, within 10..100), at most this many, "
                       "or null: one per count", "any")
