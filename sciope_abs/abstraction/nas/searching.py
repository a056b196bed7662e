"""``search``: from an abstraction dataset to a trained emulator with a searched body.

Stages (the seed paper's section 5.3):

1. **heat-up** — supernet weights only, gates sampled from the uniform ``softmax(alpha = 0)``;
2. **search** — blocks of ``turn`` epochs: weights on the train split (``alpha`` frozen), then
   ``alpha`` on the architecture-validation split (weights frozen);
3. **derive** — strongest non-zero operation per edge, top-2 incoming edges per node;
4. **fine-tune** — the derived network trained with :func:`~..training.fit_mdn` (early stopping
   on the validation split): by default from a fresh initialisation (``init="scratch"``, as
   ProxylessNAS retrains its final architecture), or from the supernet's weights for the kept
   operations and the head (``init="supernet"``), or both keeping the lower validation loss
   (``init="best"``).  On X16 (70 000 training pairs) the same
   derived network reached a validation NLL of 0.510 from scratch against 0.621 started from the
   supernet (the fixed 64-64 MLP: 0.575): weights shared by every path of the supernet are a
   poor starting point for one path.

The size of the space (``cells``, ``cell_size``, ``expansion``) defaults to :func:`default_size`
of the dataset; ``size="auto"`` runs the paper's grow/shrink loop within a time budget.

The test split is not read here: it is left for :func:`~..evaluation.evaluate`.
"""
from __future__ import annotations

import sys
import time
from typing import Mapping, Sequence

import keras
import numpy as np

from ...seeding import SeedLike, as_seed_sequence, int_seed
from ..card import search_card
from ..layers import MixtureHead
from ..mixture import mixture_nll
from ..network import build_mdn, find_head
from ..training import emulator_from, fit_mdn, mdn_nll
from .cells import build_cell_specs
from .operations import check_ops
from .strategy import ProxylessSearch
from .supernet import SuperNet

__all__ = ["search", "SEARCH_DEFAULTS", "resolve_epochs", "default_size"]

#: the documented defaults (paper: C_s = 2, C_n = 2, d = 20 at 70 000 training pairs; a ``None``
#: size comes from :func:`default_size` of the dataset)
SEARCH_DEFAULTS = dict(cells=None, cell_size=None, expansion=None, size="fixed", time_budget=None, max_rounds=4,
                       overfit_gap=0.1, epochs=(10, 40, 100), n_components=6, component="diag_normal",
                       discrete="auto", max_support=8, lags=(1,), lag_fraction=1.0, batch_size=256,
                       learning_rate=1e-3, arch_learning_rate=3e-2, turn=3, patience=10, clipnorm=5.0,
                       init="scratch", expand="dense", aggregate="mean", max_inputs=2, target="auto")

_STAGES = ("heat_up", "search", "finetune")


def resolve_epochs(epochs) -> dict:
    """``(heat_up, search, finetune)`` or a dict with those keys -> dict of non-negative ints."""
    if isinstance(epochs, Mapping):
        unknown = set(epochs) - set(_STAGES)
        if unknown:
            raise ValueError(f"unknown epoch stage(s) {sorted(unknown)}; use {list(_STAGES)}")
        out = dict(zip(_STAGES, SEARCH_DEFAULTS["epochs"]))
        out.update(epochs)
    else:
        try:
            values = list(epochs)
        except TypeError:
            raise ValueError(f"epochs must be (heat_up, search, finetune) or a dict, got {epochs!r}") from None
        if len(values) != 3:
            raise ValueError(f"epochs must have 3 entries (heat_up, search, finetune), got {len(values)}")
        out = dict(zip(_STAGES, values))
    for k, v in out.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{k} epochs must be a non-negative integer, got {v!r}")
        out[k] = int(v)
    return out


def _count(variables) -> int:
    return int(sum(int(np.prod(v.shape)) for v in variables))


#: the paper's X16 dataset (100 x 100 traces of 10 steps, 70 % train): the size at which the
#: documented ``d = 20`` applies; smaller datasets get a proportionally narrower search space.
REFERENCE_PAIRS = 70_000
SIZE_LIMITS = dict(cells=(1, 4), cell_size=(1, 4), expansion=(2, 40))


def default_size(n_train_pairs: int) -> dict:
    """The search-space size for a dataset: ``C_n = 2``, ``C_s = 2`` and
    ``d = clip(round(20 sqrt(n / 70 000)), 4, 20)`` for ``n`` training pairs (20 at the paper's
    X16 size and above, 10 at 17 500 pairs, 4 below 2 800), so that a small dataset does not
    get a supernet far wider than it can train."""
    n = max(int(n_train_pairs), 1)
    d = int(np.clip(round(20 * np.sqrt(n / REFERENCE_PAIRS)), 4, 20))
    return {"cells": 2, "cell_size": 2, "expansion": d}


def _grow(size: dict) -> dict | None:
    """Next larger search space: ``d x 1.5`` up to 40, then one more cell."""
    lo, hi = SIZE_LIMITS["expansion"]
    if size["expansion"] < hi:
        return {**size, "expansion": int(min(hi, max(size["expansion"] + 1, round(size["expansion"] * 1.5))))}
    if size["cells"] < SIZE_LIMITS["cells"][1]:
        return {**size, "cells": size["cells"] + 1}
    return None


def _shrink(size: dict) -> dict | None:
    """Next smaller search space: ``d / 1.5`` down to 2, then one cell fewer."""
    lo, _ = SIZE_LIMITS["expansion"]
    if size["expansion"] > lo:
        return {**size, "expansion": int(max(lo, min(size["expansion"] - 1, round(size["expansion"] / 1.5))))}
    if size["cells"] > SIZE_LIMITS["cells"][0]:
        return {**size, "cells": size["cells"] - 1}
    return None


def _children(base: np.random.SeedSequence) -> list:
    """The same five child seeds on every call (a fresh copy of ``base`` spawns them)."""
    return np.random.SeedSequence(base.entropy, spawn_key=base.spawn_key).spawn(5)


def _check_size_args(size, time_budget, max_rounds, overfit_gap) -> None:
    if size not in ("fixed", "auto"):
        raise ValueError(f"size must be 'fixed' or 'auto', got {size!r}")
    if time_budget is not None and not (isinstance(time_budget, (int, float, np.integer, np.floating))
                                        and not isinstance(time_budget, bool) and time_budget > 0):
        raise ValueError(f"time_budget must be a positive number of seconds or None, got {time_budget!r}")
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, (int, np.integer)) or max_rounds < 1:
        raise ValueError(f"max_rounds must be a positive integer, got {max_rounds!r}")
    if not (isinstance(overfit_gap, (int, float, np.integer, np.floating)) and overfit_gap > 0):
        raise ValueError(f"overfit_gap must be a positive number, got {overfit_gap!r}")


def search(dataset, cells: int | None = None, cell_size: int | None = None, expansion: int | None = None,
           ops: Sequence[str] | None = None, epochs=(10, 40, 100), *, size: str = "fixed",
           time_budget: float | None = None, max_rounds: int = 4, overfit_gap: float = 0.1,
           n_components: int = 6, component="diag_normal", batch_size: int = 256,
           learning_rate: float = 1e-3, arch_learning_rate: float = 3e-2, turn: int = 3,
           patience: int = 10, clipnorm: float | None = 5.0, init: str = "scratch",
           expand: str = "dense", aggregate: str = "mean",
           n_aggregate: int | None = None, max_inputs: int = 2, target: str = "auto",
           discrete="auto", max_support: int = 8, lags: Sequence[int] = (1,), lag_fraction: float = 1.0,
           seed: SeedLike = None, progress: bool = True, callbacks=()):
    """Search the MDN body on ``dataset`` and return a fine-tuned :class:`~..emulator.Emulator`.

    Parameters
    ----------
    dataset : AbstractionDataset
        Its ``"train"`` split trains the weights, its ``"val"`` split trains ``alpha`` and picks
        the fine-tuning checkpoint.  The ``"test"`` split is not used.
    cells, cell_size, expansion : int, optional
        ``C_n``, ``C_s`` and the expansion multiplier ``d``.  Each one not given comes from
        :func:`default_size` of the number of training pairs (``2, 2, 20`` at the paper's X16
        size of 70 000 pairs and above, a smaller ``d`` below).  With ``size="auto"`` they are
        the starting point of the loop.
    ops : sequence of str, optional
        Candidate operations (registry names); default all built-ins.
    epochs : (heat_up, search, finetune) or dict
        Epochs of each stage (default ``(10, 40, 100)``; fine-tuning stops early on the
        validation loss with ``patience``; 0 skips a stage).
    size : {"fixed", "auto"}
        ``"fixed"`` (default): one search at the given or default size.  ``"auto"``: the paper's
        hand loop made automatic — search, then compare the derived network's train and
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
    arch_learning_rate : Adam step of ``alpha`` (default 0.03: on X16 with 16 800 training pairs,
        3e-3 left ``softmax(alpha)`` nearly uniform after 40 search epochs — mean max 0.15 of 8
        operations — while 0.03 reached 0.40 and a better derived network; see BENCHMARKS.md).
    turn : int
        Epochs per block of the alternating stage.
    patience : int
        Early-stopping patience of the fine-tuning stage.
    init : {"scratch", "supernet", "best"}
        Start of the fine-tuning: fresh seeded weights (default), the supernet's weights of the
        kept operations and its mixture head, or both (twice the fine-tuning time) keeping the
        one with the lower validation loss.  Neither start wins everywhere: on X16 the same
        genotype reached a validation NLL of 0.510 from scratch and 0.621 from the supernet, on
        Gene (3 500 training pairs) 5.83 from scratch and 5.34 from the supernet.
    clipnorm : float, optional
        Bound on the global gradient norm of every weight step, in the search and the
        fine-tuning (default 5; ``None`` turns it off).  Without it the EGFR supernet (23
        species, width 460) diverged mid-search (train NLL 17 -> 10^8).
    expand : {"dense", "tile"}, aggregate : {"mean", "sum"}, n_aggregate : int, optional
        Cell variants (see :mod:`.cells`).
    max_inputs : int
        Incoming edges kept per node (2 in the paper).
    target : {"auto", "delta", "state", "positive"}
        Target parametrisation (:mod:`~..targets`), as in :func:`~..training.train`.
    discrete, max_support : categorical low-copy species, as in :func:`~..training.train`.
    lags, lag_fraction : multi-lag training pairs, as in :func:`~..training.train`.
    seed : int or SeedSequence
        Seeds the initialisers (through Keras' global seed), the gates, the shuffling and the
        dequantisation noise (every round of ``size="auto"`` uses the same seed).
    progress : bool
        One line per epoch and stage on stderr.
    callbacks : passed to :func:`~..training.fit_mdn` in the fine-tuning stage.

    Returns
    -------
    Emulator
        ``emulator.genotype`` is the derived genotype (dict; :class:`.Genotype.from_dict`);
        ``emulator.card["search"]`` holds the genotype, the settings, the ``softmax(alpha)``
        history, the loss of every stage, parameter counts, stage times and ``size_history``.
    """
    from ..training import check_clipnorm, prepare_training

    # ---------------------------------------------------------------- validate, cheaply first
    ops = check_ops(ops)
    stage_epochs = resolve_epochs(epochs)
    check_clipnorm(clipnorm)
    _check_size_args(size, time_budget, max_rounds, overfit_gap)
    if init not in ("scratch", "supernet", "best"):
        raise ValueError(f"init must be 'scratch', 'supernet' or 'best', got {init!r}")
    if not all(hasattr(dataset, a) for a in ("pairs", "scaler", "species", "model", "vary_params")):
        raise ValueError(f"dataset must be an AbstractionDataset, got {type(dataset).__name__}")
    if isinstance(max_inputs, bool) or not isinstance(max_inputs, (int, np.integer)) or max_inputs < 1:
        raise ValueError(f"max_inputs must be a positive integer, got {max_inputs!r}")
    S = len(dataset.species)
    given = {"cells": cells, "cell_size": cell_size, "expansion": expansion}
    # the backbone checks the values (a None stands for its default, filled in below)
    build_cell_specs(S + len(dataset.vary_params), 2 if cells is None else cells, 2 if cell_size is None else cell_size,
                     2 if expansion is None else expansion, expand=expand, aggregate=aggregate,
                     n_aggregate=n_aggregate)
    ss = as_seed_sequence(seed)
    base = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key)
    prep = prepare_training(dataset, component, n_components, target, discrete=discrete,
                            max_support=max_support, lags=lags, lag_fraction=lag_fraction,
                            seed=_children(base)[4])
    start = {k: (default_size(prep.n_train_pairs)[k] if v is None else int(v)) for k, v in given.items()}
    build_cell_specs(prep.n_inputs, start["cells"], start["cell_size"], start["expansion"], expand=expand,
                     aggregate=aggregate, n_aggregate=n_aggregate)
    opts = dict(ops=ops, stage_epochs=stage_epochs, n_components=n_components, batch_size=batch_size,
                learning_rate=learning_rate, arch_learning_rate=arch_learning_rate, turn=turn,
                patience=patience, clipnorm=clipnorm, init=init, expand=expand, aggregate=aggregate,
                n_aggregate=n_aggregate, max_inputs=max_inputs, progress=progress, callbacks=callbacks)
    extra = {"size": size, "time_budget": None if time_budget is None else float(time_budget),
             "max_rounds": int(max_rounds), "overfit_gap": float(overfit_gap), "size_given": given,
             "discrete": list(prep.discrete), "max_support": int(max_support), "lags": list(prep.lags),
             "lag_fraction": float(lag_fraction),
             "seed": int(seed) if isinstance(seed, (int, np.integer)) else None}
    if size == "fixed":
        emu, info = _search_once(dataset, prep, start, opts, base)
        history = [info]
    else:
        emu, history = _auto_size(dataset, prep, start, opts, base, time_budget, int(max_rounds),
                                  float(overfit_gap), progress)
    emu.card["search"]["settings"].update(extra)
    emu.card["training"].update(extra)
    emu.card["search"]["size_history"] = history
    return emu


def _auto_size(dataset, prep, start: dict, opts: dict, base, time_budget, max_rounds: int, overfit_gap: float,
               progress: bool):
    """The grow/shrink loop of ``search(size="auto")``: returns (best emulator, round records)."""
    t0 = time.perf_counter()
    current, direction, best, history = dict(start), None, None, []
    while True:
        emu, info = _search_once(dataset, prep, current, opts, base)
        improved = best is None or info["val_loss"] < best[1]["val_loss"]
        info["move"] = direction or "start"
        history.append(info)
        if improved:
            best = (emu, info)
        gap = info["val_loss"] - info["train_loss"]
        if direction is None:
            direction = "shrink" if gap > overfit_gap else "grow"
        elif not improved:
            reason = f"the {direction} move did not lower the validation loss"
            break
        nxt = (_grow if direction == "grow" else _shrink)(current)
        if nxt is None:
            reason = f"no {direction} move left inside {SIZE_LIMITS}"
            break
        if len(history) >= max_rounds:
            reason = f"max_rounds={max_rounds} searches"
            break
        predicted = info["seconds"] * (nxt["expansion"] * nxt["cells"]) / (current["expansion"] * current["cells"])
        elapsed = time.perf_counter() - t0
        if time_budget is not None and elapsed + predicted > time_budget:
            reason = f"the next search (~{predicted:.0f} s predicted) would overrun time_budget={time_budget:g} s"
            break
        if progress:
            print(f"[search] size: {current} train {info['train_loss']:.4f} val {info['val_loss']:.4f} "
                  f"(gap {gap:+.4f}) -> {direction} to {nxt}", file=sys.stderr, flush=True)
        current = nxt
    for rec in history:
        rec["chosen"] = rec is best[1]
    if progress:
        print(f"[search] size: kept {best[1]['size']} (val {best[1]['val_loss']:.4f}); stopped: {reason}",
              file=sys.stderr, flush=True)
    best[0].card["search"]["size_stop_reason"] = reason
    return best[0], history


def _finetune(genotype, supernet, head, prep, opts: dict, S: int, s_head, s_fit, log):
    """Train the derived network from each start of ``opts["init"]``; keep the lower validation loss.

    Returns ``(mdn, fit history, candidates {start: (net, history)}, chosen start)``.
    """
    K, n_in, component = opts["n_components"], prep.n_inputs, prep.component
    stage_epochs, half = opts["stage_epochs"], prep.scaling.half_width()
    candidates = {}
    init = opts["init"]
    for start in (("scratch", "supernet") if init == "best" else (init,)):
        body = genotype.build_body()
        net = build_mdn(body, K, S, component, seed=int_seed(s_head), input_dim=n_in)
        if start == "supernet":
            supernet.transfer_to(body, genotype)
            find_head(net).set_weights(head.get_weights())
        if stage_epochs["finetune"]:
            log(f"stage 3/3: fine-tune from {start} weights, up to {stage_epochs['finetune']} epochs "
                f"(patience {opts['patience']})")
            hist = fit_mdn(net, prep.train_xy, prep.val_xy, epochs=stage_epochs["finetune"],
                           batch_size=opts["batch_size"], learning_rate=opts["learning_rate"],
                           patience=opts["patience"], seed=s_fit, target_noise=half, clipnorm=opts["clipnorm"],
                           callbacks=opts["callbacks"], progress=opts["progress"], desc=f"fine-tune ({start})")
        else:
            hist = {"loss": [], "val_loss": [], "epochs_run": 0, "stop_reason": "skipped", "seconds": 0.0,
                    "best_val_loss": None}
        candidates[start] = (net, hist)
    # init="best": the lower best validation loss (the validation split, never the test split)
    chosen = min(candidates, key=lambda k: (candidates[k][1].get("best_val_loss") is None,
                                            candidates[k][1].get("best_val_loss") or 0.0))
    if len(candidates) > 1:
        log("fine-tune: kept the " + chosen + " start (best validation loss "
            + ", ".join(f"{k} {v[1].get('best_val_loss')}" for k, v in candidates.items()) + ")")
    mdn, history = candidates[chosen]
    return mdn, history, candidates, chosen


def _search_once(dataset, prep, size: dict, opts: dict, base):
    """One search + derive + fine-tune at one size: (emulator, round record)."""
    S, n_in, component = len(dataset.species), prep.n_inputs, prep.component
    cells, cell_size, expansion = size["cells"], size["cell_size"], size["expansion"]
    ops, stage_epochs, K = opts["ops"], opts["stage_epochs"], opts["n_components"]
    progress = opts["progress"]
    specs = build_cell_specs(n_in, cells, cell_size, expansion, expand=opts["expand"],
                             aggregate=opts["aggregate"], n_aggregate=opts["n_aggregate"])
    train_xy, val_xy, half = prep.train_xy, prep.val_xy, prep.scaling.half_width()

    def log(msg: str) -> None:
        if progress:
            print(f"[search] {msg}", file=sys.stderr, flush=True)

    s_init, s_head, s_loop, s_fit = _children(base)[:4]
    keras.utils.set_random_seed(int_seed(s_init))
    supernet = SuperNet(n_in, cells, cell_size, expansion, ops, expand=opts["expand"], aggregate=opts["aggregate"],
                        n_aggregate=opts["n_aggregate"], name="supernet")
    head = MixtureHead(K, S, component, seed=int_seed(s_head), name="mixture_head")

    def loss_fn(y, out):
        return mixture_nll(y, out, K, S, component)

    loop = ProxylessSearch(supernet, head, loss_fn, learning_rate=opts["learning_rate"],
                           arch_learning_rate=opts["arch_learning_rate"], batch_size=opts["batch_size"],
                           turn=opts["turn"], seed=s_loop, target_noise=half, clipnorm=opts["clipnorm"],
                           progress=progress)
    t_start = time.perf_counter()
    log(f"{len(specs)} cells x {cell_size} nodes, width {specs[-1].width}, {supernet.n_edges} edges x "
        f"{len(ops)} ops {list(ops)}; {len(train_xy[0])} train / {len(val_xy[0])} val pairs")
    if stage_epochs["heat_up"]:
        log(f"stage 1/3: heat-up, {stage_epochs['heat_up']} epochs (weights only)")
        loop.heat_up(train_xy, stage_epochs["heat_up"])
    if stage_epochs["search"]:
        log(f"stage 2/3: search, {stage_epochs['search']} epochs (alternating every {opts['turn']})")
        loop.search(train_xy, val_xy, stage_epochs["search"])
    loop.build(n_in)
    n_super = _count(supernet.weight_variables) + _count(head.trainable_variables)
    supernet_val = loop.evaluate(val_xy)
    t_search = time.perf_counter() - t_start

    # ---------------------------------------------------------------- derive and fine-tune
    genotype = supernet.derive(max_inputs=opts["max_inputs"])
    log(f"derived genotype:\n{genotype}")
    t1 = time.perf_counter()
    mdn, history, candidates, chosen = _finetune(genotype, supernet, head, prep, opts, S, s_head, s_fit, log)
    t_finetune = time.perf_counter() - t1
    n_final = int(mdn.count_params())
    log(f"done: search {t_search:.1f} s, fine-tune {t_finetune:.1f} s; parameters {n_super} "
        f"(supernet) -> {n_final} (final)")
    record = {"size": dict(size), "train_loss": mdn_nll(mdn, train_xy, half, seed=1),
              "val_loss": mdn_nll(mdn, val_xy, half, seed=1, max_rows=None),
              "seconds": t_search + t_finetune, "param_counts": {"supernet": n_super, "final": n_final}}

    card = search_card(dataset, prep, size, opts, loop, supernet, genotype, candidates, chosen, history,
                       {"supernet": n_super, "final": n_final}, supernet_val, t_search, t_finetune)
    emu = emulator_from(dataset, prep, mdn, K, card, genotype=genotype.to_dict())
    return emu, record
