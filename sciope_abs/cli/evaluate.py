"""``sciope-abs evaluate EMULATOR_DIR``: histogram distances of an emulator to SSA.

Writes an ``EvaluationReport`` folder (``report.json``, ``arrays.npz``, ``report.html``) and adds
the fidelity table to the emulator's model card.  Rerunning with the same arguments on the same
emulator reuses a complete report.
"""
from __future__ import annotations

from typing import Any

import argparse
import hashlib
import json
import logging
from pathlib import Path

from ..abstraction.config import EvaluationConfig
from ._options import add_option

log = logging.getLogger(__name__)


def _bins_arg(text: str):
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--bins must be 'auto' or a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--bins must be 'auto' or a non-negative integer, got {text!r}")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate", help="compare an emulator with SSA (histogram distances vs SSA self-distance)",
        description="Simulate held-out initial settings with the emulator and twice with exact SSA, and report "
                    "per observed species and time lag the L1 and IoU histogram distances, emulator vs SSA and "
                    "SSA vs SSA. Rerunning with the same arguments reuses a complete report.")
    p.add_argument("emulator", metavar="EMULATOR_DIR", help="a folder written by Emulator.save / sciope-abs train")
    # defaults and help from EvaluationConfig, the dataclass evaluate() and the pipeline read
    add_option(p, EvaluationConfig, "n_settings")
    add_option(p, EvaluationConfig, "n_traj")
    add_option(p, EvaluationConfig, "lags")
    add_option(p, EvaluationConfig, "bins", type=_bins_arg,
               help=f"'{EvaluationConfig.default('bins')}' (default: sqrt of --traj, within 10..100), at most "
                    "this many histogram bins, or 0: one per count")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="folder of content-addressed exact ensembles reused across emulators and reruns "
                        "(default: $SCIOPE_ABS_CACHE; unset: none)")
    p.add_argument("--species", default=None, help="comma-separated species (default: the model's observed)")
    p.add_argument("--dataset", default=None, metavar="ZARR", help="use this dataset's test-split settings")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default=None, metavar="DIR", help="report folder (default: EMULATOR_DIR/evaluation)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address, or 'sync' to run in-process (default: a local cluster)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _dir_hash(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file() and f.name != "card.json":  # the card is where the fidelity is written back
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _parse_ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from ..abstraction.report import EvaluationReport

    emu_dir = Path(args.emulator)
    if not emu_dir.is_dir():
        raise FileNotFoundError(f"no emulator directory at {emu_dir}")
    lags = _parse_ints(args.lags, "--lags")
    species = [s.strip() for s in args.species.split(",")] if args.species else None
    out = Path(args.out) if args.out else emu_dir / "evaluation"
    config = {"emulator": _dir_hash(emu_dir), "settings": args.n_settings, "traj": args.n_traj, "lags": lags,
              "bins": args.bins, "species": species, "seed": args.seed,
              "dataset": str(Path(args.dataset).resolve()) if args.dataset else None}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]

    if (out / "report.json").is_file() and (out / "arrays.npz").is_file():
        try:
            old = EvaluationReport.load(out)
        except ValueError:
            old = None
        if old is not None and old.meta.get("config_hash") == config_hash:
            log.info(f"reusing the complete evaluation report at {out} (same emulator and arguments)")
            log.info(old.summary())
            return 0

    from ..abstraction.dataset import AbstractionDataset
    from ..abstraction.emulator import EMULATOR_FILES, Emulator
    from ..abstraction.evaluation import evaluate

    emulator = Emulator.load(emu_dir)
    dataset = AbstractionDataset.load(args.dataset) if args.dataset else None
    report = evaluate(emulator, n_settings=args.n_settings, n_traj=args.n_traj, lags=lags, seed=args.seed,
                      client=args.scheduler, species=species, dataset=dataset,
                      bins=None if args.bins == 0 else args.bins, progress=not args.quiet, cache=args.cache)
    report.meta["config_hash"] = config_hash
    report.meta["emulator_dir"] = str(emu_dir)
    report.save(out)
    _write_html(report, out / "report.html")
    card_file = emu_dir / EMULATOR_FILES["card"]
    card = json.loads(card_file.read_text()) if card_file.is_file() else {}
    card["fidelity"] = report.card_entry()
    card_file.write_text(json.dumps(card, indent=1, sort_keys=True, default=str))
    log.info(f"wrote {out} and the fidelity table into {card_file}")
    log.info(report.summary())
    return 0


def _write_html(report, path: Path) -> None:
    from ..viz.html import save_html

    save_html(report.plot(), path, "sciope-abs evaluation", inline=False)
