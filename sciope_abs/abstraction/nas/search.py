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

The test split is not read here: it is left for :func:`~..evaluation.evaluate`.
"""
from __future__ import annotations

import sys
import time
from typing import Mapping, Sequence

import numpy as np

from ...seeding import SeedLike, as_seed_sequence, int_seed
from .cells import build_cell_specs
from .operations import check_ops

__all__ = ["search", "SEARCH_DEFAULTS", "resolve_epochs"]

#: the documented defaults (paper: C_s = 2, C_n = 2, d = 20)
SEARCH_DEFAULTS = dict(cells=2, cell_size=2, expansion=20, epochs=(10, 40, 100), n_components=6,
                       component="diag_normal", batch_size=256, learning_rate=1e-3,
                       arch_learning_rate=3e-2, turn=3, patience=10, clipnorm=5.0, init="scratch",
                       expand="dense",
                       aggregate="mean", max_inputs=2, target="auto")

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


def search(dataset, cells: int = 2, cell_size: int = 2, expansion: int = 20,
           ops: Sequence[str] | None = None, epochs=(10, 40, 100), *,
           n_components: int = 6, component="diag_normal", batch_size: int = 256,
           learning_rate: float = 1e-3, arch_learning_rate: float = 3e-2, turn: int = 3,
           patience: int = 10, clipnorm: float | None = 5.0, init: str = "scratch",
           expand: str = "dense", aggregate: str = "mean",
           n_aggregate: int | None = None, max_inputs: int = 2, target: str = "auto",
           seed: SeedLike = None, progress: bool = True, callbacks=()):
    """Search the MDN body on ``dataset`` and return a fine-tuned :class:`~..emulator.Emulator`.

    Parameters
    ----------
    dataset : AbstractionDataset
        Its ``"train"`` split trains the weights, its ``"val"`` split trains ``alpha`` and picks
        the fine-tuning checkpoint.  The ``"test"`` split is not used.
    cells, cell_size, expansion : int
        ``C_n``, ``C_s`` and the expansion multiplier ``d`` (defaults 2, 2, 20).
    ops : sequence of str, optional
        Candidate operations (registry names); default all built-ins.
    epochs : (heat_up, search, finetune) or dict
        Epochs of each stage (default ``(10, 40, 100)``; fine-tuning stops early on the
        validation loss with ``patience``; 0 skips a stage).
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
    seed : int or SeedSequence
        Seeds the initialisers (through Keras' global seed), the gates, the shuffling and the
        dequantisation noise.
    progress : bool
        One line per epoch and stage on stderr.
    callbacks : passed to :func:`~..training.fit_mdn` in the fine-tuning stage.

    Returns
    -------
    Emulator
        ``emulator.genotype`` is the derived genotype (dict; :class:`.Genotype.from_dict`);
        ``emulator.card["search"]`` holds the genotype, the settings, the ``softmax(alpha)``
        history, the loss of every stage, parameter counts and stage times.
    """
    import keras

    from ..emulator import Emulator, package_versions
    from ..mixture import MixtureHead, mixture_nll
    from ..network import build_mdn, find_head
    from ..training import check_clipnorm, fit_mdn, training_pairs
    from .strategy import ProxylessSearch
    from .supernet import SuperNet

    # ---------------------------------------------------------------- validate, cheaply first
    ops = check_ops(ops)
    stage_epochs = resolve_epochs(epochs)
    check_clipnorm(clipnorm)
    if init not in ("scratch", "supernet", "best"):
        raise ValueError(f"init must be 'scratch', 'supernet' or 'best', got {init!r}")
    if not all(hasattr(dataset, a) for a in ("pairs", "scaler", "species", "model", "vary_params")):
        raise ValueError(f"dataset must be an AbstractionDataset, got {type(dataset).__name__}")
    S = len(dataset.species)
    n_in = S + len(dataset.vary_params)
    specs = build_cell_specs(n_in, cells, cell_size, expansion, expand=expand, aggregate=aggregate,
                             n_aggregate=n_aggregate)
    if isinstance(max_inputs, bool) or not isinstance(max_inputs, (int, np.integer)) or max_inputs < 1:
        raise ValueError(f"max_inputs must be a positive integer, got {max_inputs!r}")
    target, scaling, (x_tr, y_tr), (x_va, y_va) = training_pairs(dataset, component, n_components, target)
    train_xy, val_xy = scaling.encode(x_tr, y_tr), scaling.encode(x_va, y_va)
    half = scaling.half_width()

    def log(msg: str) -> None:
        if progress:
            print(f"[search] {msg}", file=sys.stderr, flush=True)

    ss = as_seed_sequence(seed)
    s_init, s_head, s_loop, s_fit = ss.spawn(4)
    keras.utils.set_random_seed(int_seed(s_init))
    supernet = SuperNet(n_in, cells, cell_size, expansion, ops, expand=expand, aggregate=aggregate,
                        n_aggregate=n_aggregate, name="supernet")
    head = MixtureHead(n_components, S, component, seed=int_seed(s_head), name="mixture_head")
    K = n_components

    def loss_fn(y, out):
        return mixture_nll(y, out, K, S, component)

    loop = ProxylessSearch(supernet, head, loss_fn, learning_rate=learning_rate,
                           arch_learning_rate=arch_learning_rate, batch_size=batch_size, turn=turn,
                           seed=s_loop, target_noise=half, clipnorm=clipnorm, progress=progress)
    t_start = time.perf_counter()
    log(f"{len(specs)} cells x {cell_size} nodes, width {specs[-1].width}, {supernet.n_edges} edges x "
        f"{len(ops)} ops {list(ops)}; {len(x_tr)} train / {len(x_va)} val pairs")
    if stage_epochs["heat_up"]:
        log(f"stage 1/3: heat-up, {stage_epochs['heat_up']} epochs (weights only)")
        loop.heat_up(train_xy, stage_epochs["heat_up"])
    if stage_epochs["search"]:
        log(f"stage 2/3: search, {stage_epochs['search']} epochs (alternating every {turn})")
        loop.search(train_xy, val_xy, stage_epochs["search"])
    loop.build(n_in)
    n_super = _count(supernet.weight_variables) + _count(head.trainable_variables)
    supernet_val = loop.evaluate(val_xy)
    t_search = time.perf_counter() - t_start

    # ---------------------------------------------------------------- derive and fine-tune
    genotype = supernet.derive(max_inputs=max_inputs)
    log(f"derived genotype:\n{genotype}")
    t1 = time.perf_counter()
    candidates = {}
    for start in (("scratch", "supernet") if init == "best" else (init,)):
        body = genotype.build_body()
        net = build_mdn(body, n_components, S, component, seed=int_seed(s_head), input_dim=n_in)
        if start == "supernet":
            supernet.transfer_to(body, genotype)
            find_head(net).set_weights(head.get_weights())
        if stage_epochs["finetune"]:
            log(f"stage 3/3: fine-tune from {start} weights, up to {stage_epochs['finetune']} epochs "
                f"(patience {patience})")
            hist = fit_mdn(net, train_xy, val_xy, epochs=stage_epochs["finetune"], batch_size=batch_size,
                           learning_rate=learning_rate, patience=patience, seed=s_fit, target_noise=half,
                           clipnorm=clipnorm, callbacks=callbacks, progress=progress,
                           desc=f"fine-tune ({start})")
        else:
            hist = {"loss": [], "val_loss": [], "epochs_run": 0, "stop_reason": "skipped", "seconds": 0.0,
                    "best_val_loss": None}
        candidates[start] = (net, hist)
    # init="best": the lower best validation loss (the validation split, never the test split)
    chosen = min(candidates, key=lambda k: (candidates[k][1].get("best_val_loss") is None,
                                            candidates[k][1].get("best_val_loss") or 0.0))
    mdn, history = candidates[chosen]
    if len(candidates) > 1:
        log("fine-tune: kept the " + chosen + " start (best validation loss "
            + ", ".join(f"{k} {v[1].get('best_val_loss')}" for k, v in candidates.items()) + ")")
    t_finetune = time.perf_counter() - t1
    n_final = int(mdn.count_params())
    log(f"done: search {t_search:.1f} s, fine-tune {t_finetune:.1f} s; parameters {n_super} "
        f"(supernet) -> {n_final} (final)")

    settings = {"cells": int(cells), "cell_size": int(cell_size), "expansion": int(expansion),
                "ops": list(ops), "epochs": stage_epochs, "n_components": int(n_components),
                "component": component if isinstance(component, str) else list(component),
                "batch_size": int(batch_size), "learning_rate": float(learning_rate),
                "arch_learning_rate": float(arch_learning_rate), "turn": int(turn),
                "patience": int(patience), "clipnorm": None if clipnorm is None else float(clipnorm),
                "init": init, "init_chosen": chosen,
                "expand": expand, "aggregate": aggregate,
                "n_aggregate": n_aggregate, "max_inputs": int(max_inputs), "target": target,
                "seed": int(seed) if isinstance(seed, (int, np.integer)) else None}
    card = {"model_name": dataset.model.name, "model_hash": dataset.model.content_hash(),
            "dataset_hash": dataset.content_hash(), "n_train_pairs": int(len(x_tr)),
            "n_val_pairs": int(len(x_va)),
            "training": {**settings, "body": "nas"},
            "history": {k: (list(map(float, v)) if isinstance(v, list) else v) for k, v in history.items()},
            "search": {"settings": settings, "genotype": genotype.to_dict(),
                       "ops": list(ops), "edges": [list(e) for e in supernet.edges],
                       "alpha_initial": loop.history["alpha_initial"],
                       "alpha_history": loop.history["alpha"],
                       "alpha_final": supernet.probabilities().round(6).tolist(),
                       "stage_losses": {"heat_up": loop.history["heat_up"],
                                        "search": loop.history["search"],
                                        "supernet_val_loss": supernet_val,
                                        "finetune_candidates": {k: v[1].get("best_val_loss")
                                                                for k, v in candidates.items()},
                                        "finetune": {"loss": history.get("loss", []),
                                                     "val_loss": history.get("val_loss", []),
                                                     "best_val_loss": history.get("best_val_loss")}},
                       "param_counts": {"supernet": n_super, "final": n_final},
                       "seconds": {"heat_up": loop.history["seconds"].get("heat_up", 0.0),
                                   "search": loop.history["seconds"].get("search", 0.0),
                                   "search_total": t_search, "finetune": t_finetune}},
            "versions": package_versions()}
    return Emulator(mdn, dataset.scaler, dataset.model, tuple(dataset.vary_params), dataset.dt,
                    dataset.n_steps, n_components, component, card, target=target,
                    rate_bounds=getattr(dataset, "rate_bounds", None), genotype=genotype.to_dict())
