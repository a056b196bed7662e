"""``sciope-abs models [NAME]``: list the model library, or describe one model."""
from __future__ import annotations

from typing import Any

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "models", help="list the library of case-study models (or describe one)",
        description="Without NAME: one line per library model (species, variable rates, time step, steps). "
                    "With NAME: the model's species, parameters with defaults and ranges, and reactions.")
    p.add_argument("name", nargs="?", default=None, help="a library model to describe in full")
    p.set_defaults(func=run)


def _short(items, limit: int = 40) -> str:
    text = ",".join(items)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run(args: argparse.Namespace) -> int:
    from ..crn import list_models, load_model

    if args.name:
        crn = load_model(args.name)
        log.info(f"{crn.name}: {crn.description}".rstrip(": "))
        log.info(f"  species   : {', '.join(crn.species)}  (observed: {', '.join(crn.observed)})")
        log.info("  initial   : " + ", ".join(f"{s}={v}" for s, v in crn.initial_state.items()))
        log.info(f"  time grid : dt={crn.dt:g}, {crn.n_steps} steps (t_end={crn.dt * crn.n_steps:g})")
        log.info(f"  reactions : {len(crn.reactions)}")
        log.info("  parameters:")
        for name, value in crn.parameters.items():
            rng = crn.rate_ranges.get(name)
            extra = f"  varied in [{rng[0]:g}, {rng[1]:g}]" if rng else ""
            log.info(f"    {name:<24} {value:<12g}{extra}".rstrip())
        return 0

    rows = []
    for name in list_models():
        crn = load_model(name)
        rows.append((name, _short(crn.species), _short(crn.rate_ranges) or f"(all {len(crn.parameters)})",
                     f"{crn.dt:g}", str(crn.n_steps)))
    header = ("model", "species", "variable rates", "dt", "steps")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        log.info("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    log.info("\n`sciope-abs models NAME` describes one model; `sciope-abs simulate NAME` simulates a design over it.")
    return 0
