"""Automated architecture search for the MDN body (DESIGN.md section 5.3–5.4).

``search(dataset, cells=2, cell_size=2, expansion=20, ops=None, epochs=(10, 40, 100), seed=)``
returns a fine-tuned :class:`~sciope_abs.abstraction.emulator.Emulator` whose body was found by a
ProxylessNAS-style search (binary gates sampled from ``softmax(alpha)``, bi-level optimisation).

Parts, one per file: :mod:`.operations` (candidate operations, ``register_operation``),
:mod:`.cells` (the backbone), :mod:`.supernet` (mixed operations with ``alpha`` and gates),
:mod:`.strategy` (the search loop), :mod:`.genotype` (derive, JSON, rebuild, the picture's
layout; the Bokeh figure is :mod:`sciope_abs.viz.genotype`), :mod:`.searching` (the pipeline:
the function ``search``).

Importing this package imports Keras.  Loading a searched emulator does not import this package:
the custom layers of its network are registered by :mod:`sciope_abs.abstraction.layers`.
"""
from .cells import CellSpec, build_cell_specs
from .genotype import Genotype, draw_genotype, layout_genotype, save_genotype_html
from .operations import (DEFAULT_OPS, OPERATIONS, ZERO, check_ops, get_operation, list_operations,
                         register_operation)
from .searching import SEARCH_DEFAULTS, resolve_epochs, search
from .strategy import ProxylessSearch, arch_gradient
from .supernet import MixedOp, SuperNet


__all__ = ["search", "SEARCH_DEFAULTS", "resolve_epochs", "Genotype", "CellSpec", "build_cell_specs",
           "SuperNet", "MixedOp", "ProxylessSearch", "arch_gradient", "OPERATIONS", "DEFAULT_OPS", "ZERO",
           "register_operation", "get_operation", "list_operations", "check_ops", "draw_genotype",
           "layout_genotype", "save_genotype_html"]
