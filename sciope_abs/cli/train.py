"""``sciope-abs train DATASET --out DIR``: train an MDN emulator on an abstraction dataset.

Prints one line per epoch.  Resumable: when ``DIR`` already holds a finished emulator trained on
the same dataset (content hash) with the same settings, it says so and does nothing.
"""
from __future__ import annotations

from typing import Any

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from ..abstraction.config import TrainConfig
from ._options import add_option, config_from_args

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train an MDN emulator on a dataset (resumable)",
        description="Train a mixture density network emulator (fixed MLP body) on the train split of "
                    "DATASET, choosing the checkpoint on its validation split, and save it to --out. "
                    "Rerunning with the same dataset and settings reuses a finished emulator.")
    p.add_argument("dataset", help="abstraction dataset folder written by `sciope-abs dataset`")
    p.add_argument("--out", required=True, metavar="DIR", help="output emulator folder")
    for name in ("epochs", "n_components", "component", "hidden", "batch_size", "learning_rate", "patience"):
        add_option(p, TrainConfig, name, **({"metavar": "W1,W2"} if name == "hidden" else {}))   # from the one definition
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--force", action="store_true", help="retrain even if --out holds a matching emulator")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=run)


def _hidden(spec: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(v) for v in spec.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--hidden must be comma-separated positive integers, got {spec!r}") from None
    if not widths or min(widths) < 1:
        raise ValueError(f"--hidden must be comma-separated positive integers, got {spec!r}")
    return widths


def _finished(out: Path) -> dict | None:
    """The card of a complete emulator in ``out``, else None."""
    from ..abstraction.emulator import EMULATOR_FILES

    if not all((out / EMULATOR_FILES[k]).is_file() for k in ("model", "config", "scaler", "card")):
        return None
    try:
        return json.loads((out / EMULATOR_FILES["card"]).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def run(args: argparse.Namespace) -> int:
    from ..abstraction.dataset import AbstractionDataset

    config = config_from_args(TrainConfig, args, hidden=_hidden(args.hidden))
    ds = AbstractionDataset.load(args.dataset)
    out = Path(args.out)
    request = {"hidden": list(config.hidden), "n_components": config.n_components, "component": config.component,
               "epochs": config.epochs, "batch_size": config.batch_size, "learning_rate": config.learning_rate,
               "patience": config.patience, "seed": args.seed}
    card = _finished(out)
    if card is not None and not args.force and card.get("dataset_hash") == ds.content_hash() \
            and card.get("request") == request:
        log.info(f"{out} already holds an emulator trained on this dataset ({ds.content_hash()}) with the same "
                 f"settings; skipping (use --force to retrain)")
        return 0

    from ..abstraction.training import train

    def epoch_end(epoch, logs, model):
        if not args.quiet:
            log.info(f"epoch {epoch + 1}/{args.epochs}  loss {logs['loss']:.4f}  val_loss {logs['val_loss']:.4f}  "
                     f"best epoch {logs['best_epoch'] + 1}")

    t0 = time.perf_counter()
    emu = train(ds, config, seed=args.seed, progress=False, callbacks=[epoch_end])
    emu.card["request"] = request
    emu.card["train_seconds"] = time.perf_counter() - t0
    emu.save(out)
    h = emu.card["history"]
    log.info(f"wrote {out}: {emu!r}; best validation NLL {h['best_val_loss']:.4f} at epoch {h['best_epoch'] + 1} "
             f"of {h['epochs_run']} ({h['stop_reason']}), {emu.card['train_seconds']:.1f} s")
    sys.stdout.flush()
    return 0
