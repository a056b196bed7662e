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

import dataclasses
import logging
import time
from typing import Any, Mapping

import numpy as np

from ..._checks import check_nonneg_int, check_positive_int
from ...seeding import SeedLike, as_seed_sequence, int_seed, python_random_seeded
from ..card import search_card
from ..config import SearchConfig
from ..layers import MixtureHead
from ..mixture import mixture_nll
from ..network import build_mdn, find_head
from ..training import emulator_from, fit_mdn, mdn_nll
from .cells import build_cell_specs
from .operations import check_ops
from .strategy import ProxylessSearch
from .supernet import SuperNet

log = logging.getLogger(__name__)

__all__ = ["search", "SEARCH_DEFAULTS", "resolve_epochs", "default_size"]

#: the documented defaults (paper: C_s = 2, C_n = 2, d = 20 at 70 000 training pairs; a ``None``
#: size comes from :func:`default_size` of the dataset); read from :class:`~..config.SearchConfig`
SEARCH_DEFAULTS = dataclasses.asdict(SearchConfig())

_STAGES = ("heat_up", "search", "finetune")


def resolve_epochs(epochs: Any) -> dict:
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
        check_nonneg_int(v, f"{k} epochs")
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
    check_positive_int(max_rounds, "max_rounds")
    if not (isinstance(overfit_gap, (int, float, np.integer, np.floating)) and overfit_gap > 0):
        raise ValueError(f"overfit_gap must be a positive number, got {overfit_gap!r}")


def search(dataset: Any, config: SearchConfig | None = None, *, seed: SeedLike = None, progress: bool = True,
           callbacks: Any = (), **overrides: Any) -> Any:
    """Search the MDN body on ``dataset`` and return a fine-tuned :class:`~..emulator.Emulator`.

    Parameters
    ----------
    dataset : AbstractionDataset
        Its ``"train"`` split trains the weights, its ``"val"`` split trains ``alpha`` and picks
        the fine-tuning checkpoint.  The ``"test"`` split is not used.
    config : SearchConfig, optional
        The hyper-parameters (default ``SearchConfig()``; each field is documented there).
    seed : int or SeedSequence
        Seeds the initialisers (through Keras' global seed), the gates, the shuffling and the
        dequantisation noise (every round of ``size="auto"`` uses the same seed).
    progress : bool
        One line per epoch and stage on stderr.
    callbacks : passed to :func:`~..training.fit_mdn` in the fine-tuning stage.
    **overrides
        Fields of :class:`~..config.SearchConfig` replacing those of ``config``:
        ``search(ds, epochs=(1, 4, 2))`` is ``search(ds, SearchConfig(epochs=(1, 4, 2)))``.

    Returns
    -------
    Emulator
        ``emulator.genotype`` is the derived genotype (dict; :class:`.Genotype.from_dict`);
        ``emulator.card["search"]`` holds the genotype, the settings, the ``softmax(alpha)``
        history, the loss of every stage, parameter counts, stage times and ``size_history``;
        ``emulator.card["config"]`` the whole config (``SearchConfig.to_dict()``).
    """
    from ..training import prepare_training

    cfg = (config if config is not None else SearchConfig()).override(**overrides)
    ops, stage_epochs = _check_config(cfg, dataset)
    given = {"cells": cfg.cells, "cell_size": cfg.cell_size, "expansion": cfg.expansion}
    ss = as_seed_sequence(seed)
    base = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key)
    prep = prepare_training(dataset, cfg.component, cfg.n_components, cfg.target, discrete=cfg.discrete,
                            max_support=cfg.max_support, lags=cfg.lags, lag_fraction=cfg.lag_fraction,
                            seed=_children(base)[4])
    start = {k: (default_size(prep.n_train_pairs)[k] if v is None else int(v)) for k, v in given.items()}
    build_cell_specs(prep.n_inputs, start["cells"], start["cell_size"], start["expansion"], expand=cfg.expand,
                     aggregate=cfg.aggregate, n_aggregate=cfg.n_aggregate)
    opts = dict(ops=ops, stage_epochs=stage_epochs, n_components=cfg.n_components, batch_size=cfg.batch_size,
                learning_rate=cfg.learning_rate, arch_learning_rate=cfg.arch_learning_rate, turn=cfg.turn,
                patience=cfg.patience, clipnorm=cfg.clipnorm, init=cfg.init, expand=cfg.expand,
                aggregate=cfg.aggregate, n_aggregate=cfg.n_aggregate, max_inputs=cfg.max_inputs,
                progress=progress, callbacks=callbacks)
    extra = {"size": cfg.size, "time_budget": None if cfg.time_budget is None else float(cfg.time_budget),
             "max_rounds": int(cfg.max_rounds), "overfit_gap": float(cfg.overfit_gap), "size_given": given,
             "discrete": list(prep.discrete), "max_support": int(cfg.max_support), "lags": list(prep.lags),
             "lag_fraction": float(cfg.lag_fraction),
             "seed": int(seed) if isinstance(seed, (int, np.integer)) else None}
    if cfg.size == "fixed":
        emu, info = _search_once_seeded(dataset, prep, start, opts, base)
        history = [info]
    else:
        emu, history = _auto_size(dataset, prep, start, opts, base, cfg.time_budget, int(cfg.max_rounds),
                                  float(cfg.overfit_gap), progress)
    emu.card["search"]["settings"].update(extra)
    emu.card["training"].update(extra)
    emu.card["search"]["size_history"] = history
    emu.card["config"] = cfg.to_dict()
    return emu


def _check_config(cfg: SearchConfig, dataset) -> tuple:
    """The cheap checks of :func:`search`, before any data is read: (ops, stage epochs)."""
    from ..training import check_clipnorm

    ops = check_ops(cfg.ops)
    stage_epochs = resolve_epochs(cfg.epochs)
    check_clipnorm(cfg.clipnorm)
    _check_size_args(cfg.size, cfg.time_budget, cfg.max_rounds, cfg.overfit_gap)
    if cfg.init not in ("scratch", "supernet", "best"):
        raise ValueError(f"init must be 'scratch', 'supernet' or 'best', got {cfg.init!r}")
    if not all(hasattr(dataset, a) for a in ("pairs", "scaler", "species", "model", "vary_params")):
        raise ValueError(f"dataset must be an AbstractionDataset, got {type(dataset).__name__}")
    check_positive_int(cfg.max_inputs, "max_inputs")
    # the backbone checks the values (a None stands for its default, filled in by search)
    build_cell_specs(len(dataset.species) + len(dataset.vary_params), 2 if cfg.cells is None else cfg.cells,
                     2 if cfg.cell_size is None else cfg.cell_size, 2 if cfg.expansion is None else cfg.expansion,
                     expand=cfg.expand, aggregate=cfg.aggregate, n_aggregate=cfg.n_aggregate)
    return ops, stage_epochs


def _auto_size(dataset, prep, start: dict, opts: dict, base, time_budget, max_rounds: int, overfit_gap: float,
               progress: bool):
    """The grow/shrink loop of ``search(size="auto")``: returns (best emulator, round records)."""
    t0 = time.perf_counter()
    current, direction, best, history = dict(start), None, None, []
    while True:
        emu, info = _search_once_seeded(dataset, prep, current, opts, base)
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
            log.info(f"[search] size: {current} train {info['train_loss']:.4f} val {info['val_loss']:.4f} "
                     f"(gap {gap:+.4f}) -> {direction} to {nxt}")
        current = nxt
    if best is None:  # the first round always sets it
        raise RuntimeError("search(size='auto') ran no search round")
    for rec in history:
        rec["chosen"] = rec is best[1]
    if progress:
        log.info(f"[search] size: kept {best[1]['size']} (val {best[1]['val_loss']:.4f}); stopped: {reason}")
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


def _search_once_seeded(dataset, prep, size: dict, opts: dict, base):
    """:func:`_search_once` with Python's ``random`` seeded from ``base``'s first child for the call.

    Keras gives a layer made without an initialiser seed (the operations' and cells' ``Dense``
    layers) ``random.randint`` as its seed; seeding that one generator, for this call only, keeps
    the weights of a seed as they were without touching any global seed of the caller's.
    """
    with python_random_seeded(int_seed(_children(base)[0])):
        return _search_once(dataset, prep, size, opts, base)


def _search_once(dataset, prep, size: dict, opts: dict, base):
    """One search + derive + fine-tune at one size: (emulator, round record)."""
    S, n_in, component = len(dataset.species), prep.n_inputs, prep.component
    cells, cell_size, expansion = size["cells"], size["cell_size"], size["expansion"]
    ops, stage_epochs, K = opts["ops"], opts["stage_epochs"], opts["n_components"]
    progress = opts["progress"]
    specs = build_cell_specs(n_in, cells, cell_size, expansion, expand=opts["expand"],
                             aggregate=opts["aggregate"], n_aggregate=opts["n_aggregate"])
    train_xy, val_xy, half = prep.train_xy, prep.val_xy, prep.scaling.half_width()

    def say(msg: str) -> None:
        if progress:
            log.info(f"[search] {msg}")

    s_init, s_head, s_loop, s_fit = _children(base)[:4]   # s_init: see _search_once_seeded
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
    say(f"{len(specs)} cells x {cell_size} nodes, width {specs[-1].width}, {supernet.n_edges} edges x "
        f"{len(ops)} ops {list(ops)}; {len(train_xy[0])} train / {len(val_xy[0])} val pairs")
    if stage_epochs["heat_up"]:
        say(f"stage 1/3: heat-up, {stage_epochs['heat_up']} epochs (weights only)")
        loop.heat_up(train_xy, stage_epochs["heat_up"])
    if stage_epochs["search"]:
        say(f"stage 2/3: search, {stage_epochs['search']} epochs (alternating every {opts['turn']})")
        loop.search(train_xy, val_xy, stage_epochs["search"])
    loop.build(n_in)
    n_super = _count(supernet.weight_variables) + _count(head.trainable_variables)
    supernet_val = loop.evaluate(val_xy)
    t_search = time.perf_counter() - t_start

    # ---------------------------------------------------------------- derive and fine-tune
    genotype = supernet.derive(max_inputs=opts["max_inputs"])
    say(f"derived genotype:\n{genotype}")
    t1 = time.perf_counter()
    mdn, history, candidates, chosen = _finetune(genotype, supernet, head, prep, opts, S, s_head, s_fit, say)
    t_finetune = time.perf_counter() - t1
    n_final = int(mdn.count_params())
    say(f"done: search {t_search:.1f} s, fine-tune {t_finetune:.1f} s; parameters {n_super} "
        f"(supernet) -> {n_final} (final)")
    record = {"size": dict(size), "train_loss": mdn_nll(mdn, train_xy, half, seed=1),
              "val_loss": mdn_nll(mdn, val_xy, half, seed=1, max_rows=None),
              "seconds": t_search + t_finetune, "param_counts": {"supernet": n_super, "final": n_final}}

    card = search_card(dataset, prep, size, opts, loop, supernet, genotype, candidates, chosen, history,
                       {"supernet": n_super, "final": n_final}, supernet_val, t_search, t_finetune)
    emu = emulator_from(dataset, prep, mdn, K, card, genotype=genotype.to_dict())
    return emu, record
