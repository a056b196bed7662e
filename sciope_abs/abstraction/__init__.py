"""The deep abstraction: MDN emulators of reaction networks (see DESIGN.md section 5).

``build_dataset`` -> ``train`` (or ``nas.search``) -> ``Emulator`` -> ``evaluate``.

Names are loaded lazily: importing this package is cheap, and TensorFlow is imported the
first time a network-related name (``train``, ``Emulator``, ``MixtureHead`` ...) is used.
To export a new name, add one line to ``_EXPORTS`` (name -> submodule).
"""
from __future__ import annotations

from typing import Any

import importlib

_EXPORTS = {
    # model side: mixture, components, networks, training, emulator
    "MixtureHead": "layers", "mixture_nll": "mixture", "mixture_log_prob": "mixture",
    "mixture_sample": "mixture", "mixture_sample_from_noise": "mixture", "mixture_parameters": "mixture",
    "head_size": "mixture",
    "COMPONENTS": "components", "get_component": "components", "register_component": "components",
    "mlp_body": "bodies", "build_mdn": "network",
    "fit_mdn": "training", "train": "training",
    "Emulator": "emulator", "EmulatorRangeWarning": "emulator",
    "GridSimulator": "grid", "build_grid_dataset": "grid_design", "grid_training_states": "grid_design",
    "exact_grid_states": "grid_design", "train_for_grid": "grid_design",
    # data side: dataset, scaler, evaluation
    "build_dataset": "dataset", "AbstractionDataset": "dataset",
    "StateScaler": "scaling",
    "evaluate": "evaluation", "evaluate_many": "evaluation", "EvaluationReport": "report",
    "histogram_distance": "histograms",
    # architecture search (nas/)
    "search": "nas", "Genotype": "nas",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> Any:
    return sorted(set(globals()) | set(_EXPORTS))
