"""``sciope-abs``: the command-line interface.

Each subcommand lives in its own module of this package with a ``register(subparsers)`` function
that adds its parser and sets ``func``; adding a command is one module plus one line in
``COMMANDS``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .._version import __version__

# module names inside sciope_abs.cli, in the order --help lists them
COMMANDS: list[str] = [
    "models",
    "simulate",
    "demo",
    "dataset",
    "train",
    "evaluate",
    "search",
    "explore",
    "infer",
    "run",
    "grid",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sciope-abs",
        description="Simulation-based exploration and inference on stochastic reaction networks, "
                    "with deep-abstraction emulators, parallel on Dask.",
    )
    parser.add_argument("--version", action="version", version=f"sciope-abs {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, KeyError) as exc:
        # known errors (bad input, a file, a lost Dask scheduler: ConnectionError) are one line
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        text = " ".join(str(msg).splitlines())
        print(f"sciope-abs {args.command}: error: {text}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
