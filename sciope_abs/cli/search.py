"""``sciope-abs search DATASET --out DIR``: architecture search + fine-tuning of an MDN emulator.

Writes the emulator to ``DIR`` (``model.keras``, ``genotype.json``, ``card.json`` ...), a drawing of
the searched body (``genotype.html``) and ``search.json`` (dataset hash + settings).  Rerunning
with the same dataset and settings finds the finished output and skips the work; ``--force``
searches again.
"""
from __future__ import annotations

from typing import Any

import argparse
import json
import logging
import sys
from pathlib import Path

from ..abstraction.config import SearchConfig
from ._options import add_option, config_from_args

log = logging.getLogger(__name__)

RECORD = "search.json"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "search", help="search the MDN body (NAS) and fine-tune an emulator on a dataset (resumable)",
        description="Neural architecture search for the emulator's network body on DATASET (written by "
                    "`sciope-abs dataset`): heat-up, alternating weight/architecture search, derive the "
                    "genotype, fine-tune. Rerunning with the same dataset and settings reuses a finished "
                    "output.")
    p.add_argument("dataset", help="dataset folder (zarr) written by `sciope-abs dataset`")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder of the emulator")
    # defaults, types and help from SearchConfig (the API's and the pipeline's defaults too)
    for name in ("cells", "cell_size", "expansion"):
        add_option(p, SearchConfig, name)
    add_option(p, SearchConfig, "epochs", type=int, nargs=3, metavar=("HEAT", "SEARCH", "TUNE"))
    add_option(p, SearchConfig, "ops", metavar="a,b,...")
    for name in ("n_components", "component", "batch_size", "arch_learning_rate", "init", "turn", "expand"):
        add_option(p, SearchConfig, name)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--force", action="store_true", help="search again even if a finished output matches")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> dict:
    ops = None if args.ops is None else [o.strip() for o in args.ops.split(",") if o.strip()]
    return {"cells": args.cells, "cell_size": args.cell_size, "expansion": args.expansion,
            "epochs": list(args.epochs), "ops": ops, "n_components": args.n_components,
            "component": args.component, "batch_size": args.batch_size, "turn": args.turn,
            "arch_learning_rate": args.arch_learning_rate, "init": args.init,
            "expand": args.expand, "seed": args.seed}


def run(args: argparse.Namespace) -> int:
    from ..abstraction.nas import check_ops, resolve_epochs
    from ..abstraction.nas.cells import build_cell_specs

    settings = _settings(args)
    ops = None if settings["ops"] is None else tuple(settings["ops"])
    config = config_from_args(SearchConfig, args, ops=ops, epochs=tuple(args.epochs))
    # cheap validation before loading anything (a size not given is checked at its default's place)
    check_ops(config.ops)
    resolve_epochs(config.epochs)
    build_cell_specs(1, *(2 if v is None else v for v in (config.cells, config.cell_size, config.expansion)),
                     expand=config.expand)
    ds_path = Path(args.dataset)
    if not ds_path.exists():
        raise FileNotFoundError(f"dataset {ds_path} not found")
    from ..abstraction.dataset import AbstractionDataset

    ds = AbstractionDataset.load(ds_path)
    out = Path(args.out)
    record = {"dataset": str(ds_path), "dataset_hash": ds.content_hash(), "settings": settings}
    rec_path = out / RECORD
    if not args.force and rec_path.is_file() and (out / "config.json").is_file():
        try:
            old = json.loads(rec_path.read_text())
        except json.JSONDecodeError:
            old = {}
        if old.get("dataset_hash") == record["dataset_hash"] and old.get("settings") == settings:
            log.info(f"{out}: finished search for this dataset and settings found; nothing to do "
                     f"(use --force to search again)")
            return 0

    from ..abstraction.nas import search
    from ..abstraction.nas.genotype import save_genotype_html

    em = search(ds, config, seed=args.seed, progress=not args.quiet)
    out.mkdir(parents=True, exist_ok=True)
    if rec_path.exists():
        rec_path.unlink()  # written last: its presence marks a finished search
    em.save(out)
    save_genotype_html(em.genotype, out / "genotype.html",
                       title=f"{ds.model.name}: searched body ({em.card['search']['settings']['cells']} cells x "
                             f"{em.card['search']['settings']['cell_size']} nodes)")
    rec_path.write_text(json.dumps(record, indent=1))
    info = em.card["search"]
    log.info(f"wrote {out} (emulator, genotype.json, genotype.html); parameters "
             f"{info['param_counts']['final']}, search {info['seconds']['search_total']:.1f} s, "
             f"fine-tune {info['seconds']['finetune']:.1f} s")
    sys.stdout.flush()
    return 0
