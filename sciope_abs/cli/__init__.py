"""``sciope-abs``: the command-line interface.

Each subcommand lives in its own module of this package with a ``register(subparsers)`` function
that adds its parser and sets ``func``; adding a command is one module plus one line in
``COMMANDS``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from .._version import __version__
from .logs import configure, unconfigure

log = logging.getLogger(__name__)

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
    parser.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1, default=0,
                        help="also show debug messages")
    parser.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                        help="show only warnings and errors (a command's own --quiet turns off its progress bar)")
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
    configure(args.verbosity)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, KeyError) as exc:
        # known errors (bad input, a file, a lost Dask scheduler: ConnectionError) are one line
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        text = " ".join(str(msg).splitlines())
        log.error(f"sciope-abs {args.command}: error: {text}")
        return 1
    finally:
        unconfigure()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
