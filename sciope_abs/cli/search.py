"""``sciope-abs search DATASET --out DIR``: architecture search + fine-tuning of an MDN emulator.

Writes the emulator to ``DIR`` (``model.keras``, ``genotype.json``, ``card.json`` ...), a drawing of
the searched body (``genotype.html``) and ``search.json`` (dataset hash + settings).  Rerunning
with the same dataset and settings finds the finished output and skips the work; ``--force``
searches again.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

RECORD = "search.json"


def register(sub) -> None:
    p = sub.add_parser(
        "search", help="search the MDN body (NAS) and fine-tune an emulator on a dataset (resumable)",
        description="Neural architecture search for the emulator's network body on DATASET (written by "
                    "`sciope-abs dataset`): heat-up, alternating weight/architecture search, derive the "
                    "genotype, fine-tune. Rerunning with the same dataset and settings reuses a finished "
                    "output.")
    p.add_argument("dataset", help="dataset folder (zarr) written by `sciope-abs dataset`")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder of the emulator")
    p.add_argument("--cells", type=int, default=2, help="number of cells C_n (default 2)")
    p.add_argument("--cell-size", type=int, default=2, help="intermediate nodes per cell C_s (default 2)")
    p.add_argument("--expansion", type=int, default=20, help="width multiplier d of the first cell (default 20)")
    p.add_argument("--epochs", type=int, nargs=3, default=[10, 40, 100], metavar=("HEAT", "SEARCH", "TUNE"),
                   help="epochs of heat-up, search and fine-tuning (default 10 40 100; fine-tuning stops early)")
    p.add_argument("--ops", default=None, metavar="a,b,...",
                   help="comma-separated candidate operations (default: all registered)")
    p.add_argument("--components", type=int, default=6, help="mixture components (default 6)")
    p.add_argument("--component", default="diag_normal", help="mixture component family (default diag_normal)")
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size (default 256)")
    p.add_argument("--arch-lr", type=float, default=3e-2, help="Adam step of alpha (default 0.03)")
    p.add_argument("--init", choices=("scratch", "supernet", "best"), default="scratch",
                   help="start of the fine-tuning: fresh weights (default), the supernet's, or both "
                        "keeping the lower validation loss")
    p.add_argument("--turn", type=int, default=3, help="epochs per weight/architecture block (default 3)")
    p.add_argument("--expand", choices=("dense", "tile"), default="dense", help="cell input widening")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--force", action="store_true", help="search again even if a finished output matches")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace) -> dict:
    ops = None if args.ops is None else [o.strip() for o in args.ops.split(",") if o.strip()]
    return {"cells": args.cells, "cell_size": args.cell_size, "expansion": args.expansion,
            "epochs": list(args.epochs), "ops": ops, "n_components": args.components,
            "component": args.component, "batch_size": args.batch_size, "turn": args.turn,
            "arch_learning_rate": args.arch_lr, "init": args.init,
            "expand": args.expand, "seed": args.seed}


def run(args: argparse.Namespace) -> int:
    from ..abstraction.nas import check_ops, resolve_epochs
    from ..abstraction.nas.cells import build_cell_specs

    settings = _settings(args)
    # cheap validation before loading anything
    check_ops(settings["ops"])
    resolve_epochs(settings["epochs"])
    build_cell_specs(1, args.cells, args.cell_size, args.expansion, expand=args.expand)
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
            print(f"{out}: finished search for this dataset and settings found; nothing to do "
                  f"(use --force to search again)")
            return 0

    from ..abstraction.nas import search
    from ..abstraction.nas.genotype import save_genotype_html

    em = search(ds, cells=args.cells, cell_size=args.cell_size, expansion=args.expansion, ops=settings["ops"],
                epochs=tuple(args.epochs), n_components=args.components, component=args.component,
                batch_size=args.batch_size, arch_learning_rate=args.arch_lr, turn=args.turn,
                init=args.init, expand=args.expand, seed=args.seed,
                progress=not args.quiet)
    out.mkdir(parents=True, exist_ok=True)
    if rec_path.exists():
        rec_path.unlink()  # written last: its presence marks a finished search
    em.save(out)
    save_genotype_html(em.genotype, out / "genotype.html",
                       title=f"{ds.model.name}: searched body ({args.cells} cells x {args.cell_size} nodes)")
    rec_path.write_text(json.dumps(record, indent=1))
    info = em.card["search"]
    print(f"wrote {out} (emulator, genotype.json, genotype.html); parameters "
          f"{info['param_counts']['final']}, search {info['seconds']['search_total']:.1f} s, "
          f"fine-tune {info['seconds']['finetune']:.1f} s")
    sys.stdout.flush()
    return 0
