"""Model cards: what an emulator records about how it was made (JSON, beside the network).

A card holds the model and dataset hashes, the pair counts, the training settings, the loss
history, the package versions and, for a searched emulator, the search record (genotype,
``softmax(alpha)`` history, stage losses, parameter counts, stage times).  Building a card is
plain data work (numpy, no TensorFlow): :func:`train_card` for :func:`~.training.train`,
:func:`search_card` for :func:`~.nas.searching.search`, both on top of :func:`dataset_card`.
"""
from __future__ import annotations

import platform
from typing import Any, Mapping

import numpy as np

__all__ = ["package_versions", "jsonable", "history_record", "dataset_card", "train_card", "search_settings",
           "search_card"]


def package_versions() -> dict:
    """Versions recorded in a model card."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("sciope_abs", "numpy", "tensorflow-cpu", "tensorflow", "keras", "gillespy2"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            continue
    return out


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy arrays and scalars as lists and numbers, non-finite floats as ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "to_dict") and not isinstance(obj, type):
        return jsonable(obj.to_dict())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def history_record(history: Mapping) -> dict:
    """A :func:`~.training.fit_mdn` history with its per-epoch lists as lists of floats."""
    return {k: (list(map(float, v)) if isinstance(v, list) else v) for k, v in history.items()}


def dataset_card(dataset: Any, prep: Any) -> dict:
    """The fields every card has: model name and hash, dataset hash, train and validation pairs.

    ``prep`` is the :class:`~.training.Prepared` encoding of ``dataset``.
    """
    return {"model_name": dataset.model.name, "model_hash": dataset.model.content_hash(),
            "dataset_hash": dataset.content_hash(), "n_train_pairs": prep.n_train_pairs,
            "n_val_pairs": prep.n_val_pairs}


def train_card(dataset: Any, prep: Any, settings: Mapping, history: Mapping, **extra: Any) -> dict:
    """The card of :func:`~.training.train`: :func:`dataset_card`, ``training`` = ``settings``,
    the fit ``history``, any ``extra`` top-level entries (e.g. ``config``) and the versions."""
    return {**dataset_card(dataset, prep), "training": dict(settings), "history": history_record(history),
            **extra, "versions": package_versions()}


def search_settings(size: Mapping, opts: Mapping, prep: Any, chosen: str) -> dict:
    """The settings of one search at ``size`` (``opts`` as built by the search)."""
    from .mixture import as_spec

    return {"cells": int(size["cells"]), "cell_size": int(size["cell_size"]), "expansion": int(size["expansion"]),
            "ops": list(opts["ops"]), "epochs": opts["stage_epochs"], "n_components": int(opts["n_components"]),
            "component": as_spec(prep.component), "batch_size": int(opts["batch_size"]),
            "learning_rate": float(opts["learning_rate"]),
            "arch_learning_rate": float(opts["arch_learning_rate"]), "turn": int(opts["turn"]),
            "patience": int(opts["patience"]),
            "clipnorm": None if opts["clipnorm"] is None else float(opts["clipnorm"]),
            "init": opts["init"], "init_chosen": chosen, "expand": opts["expand"], "aggregate": opts["aggregate"],
            "n_aggregate": opts["n_aggregate"], "max_inputs": int(opts["max_inputs"]), "target": prep.target}


def search_card(dataset: Any, prep: Any, size: Mapping, opts: Mapping, loop: Any, supernet: Any, genotype: Any, candidates: Mapping,
                chosen: str, history: Mapping, param_counts: Mapping, supernet_val: float, t_search: float,
                t_finetune: float) -> dict:
    """The card of one search: settings, genotype, alpha history, stage losses and times.

    ``loop`` is the :class:`~.nas.strategy.ProxylessSearch` that ran (its ``history``),
    ``supernet`` its :class:`~.nas.supernet.SuperNet` (edges, final probabilities), ``candidates``
    the fine-tuning starts ``{start: (network, fit history)}`` and ``chosen`` the kept one.
    """
    settings = search_settings(size, opts, prep, chosen)
    stage_losses = {"heat_up": loop.history["heat_up"], "search": loop.history["search"],
                    "supernet_val_loss": supernet_val,
                    "finetune_candidates": {k: v[1].get("best_val_loss") for k, v in candidates.items()},
                    "finetune": {"loss": history.get("loss", []), "val_loss": history.get("val_loss", []),
                                 "best_val_loss": history.get("best_val_loss")}}
    seconds = {"heat_up": loop.history["seconds"].get("heat_up", 0.0),
               "search": loop.history["seconds"].get("search", 0.0), "search_total": t_search,
               "finetune": t_finetune}
    record = {"settings": settings, "genotype": genotype.to_dict(), "ops": list(opts["ops"]),
              "edges": [list(e) for e in supernet.edges], "alpha_initial": loop.history["alpha_initial"],
              "alpha_history": loop.history["alpha"], "alpha_final": supernet.probabilities().round(6).tolist(),
              "stage_losses": stage_losses, "param_counts": dict(param_counts), "seconds": seconds}
    return {**dataset_card(dataset, prep), "training": {**settings, "body": "nas"},
            "history": history_record(history), "search": record, "versions": package_versions()}
