"""The command line's console: the package logs, the CLI shows.

Library code never prints; it logs to ``logging.getLogger("sciope_abs.<module>")``.  ``sciope-abs``
installs one handler on the ``sciope_abs`` logger that writes what a user of a shell expects:

- a command's own results (loggers under ``sciope_abs.cli``, INFO) to **stdout**, as plain lines;
- progress and status from the library (``[pipeline] ...``, ``[search] ...``, the Dask dashboard
  link) to **stderr**, as plain lines;
- warnings to stderr as ``WARNING: <message>``; errors as their one line.

``-q/--quiet`` shows warnings and errors only, ``-v/--verbose`` adds debug messages.  Progress
bars are not log records: they stay on stderr, governed by each command's own ``--quiet``.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys

__all__ = ["ConsoleHandler", "configure", "unconfigure", "LOGGER_NAME"]

LOGGER_NAME = "sciope_abs"


class ConsoleHandler(logging.Handler):
    """One line per record to the streams described in the module docstring.

    The streams are looked up when a record is written (not when the handler is made), so a
    test that swaps ``sys.stdout`` sees the lines.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            if record.levelno == logging.WARNING:
                text = f"WARNING: {text}"
            to_stdout = record.levelno < logging.WARNING and (record.name == f"{LOGGER_NAME}.cli"
                                                              or record.name.startswith(f"{LOGGER_NAME}.cli."))
            stream = sys.stdout if to_stdout else sys.stderr
            stream.write(text + "\n")
            stream.flush()
        except BrokenPipeError:
            # the reader went away (``sciope-abs models | head``): drop the rest quietly, as a
            # shell tool does (Python's advice: point the stream at devnull)
            with contextlib.suppress(OSError, ValueError, AttributeError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        except Exception:  # noqa: BLE001 - logging's own contract: never raise from emit
            self.handleError(record)


def configure(verbosity: int = 0) -> logging.Logger:
    """Install the console handler on the ``sciope_abs`` logger (replacing an earlier one).

    The logger keeps propagating to the root logger (an application's own handlers still see
    the records); :func:`unconfigure` takes the handler off again.

    Parameters
    ----------
    verbosity : int
        ``-1``: warnings and errors only; ``0``: also information (the default); ``1``: also
        debug messages.

    Returns
    -------
    logging.Logger
        The ``sciope_abs`` logger.
    """
    logger = logging.getLogger(LOGGER_NAME)
    for h in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(h)
    logger.addHandler(ConsoleHandler())
    logger.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(int(verbosity), logging.DEBUG))
    return logger


def unconfigure() -> None:
    """Remove the console handler and reset the ``sciope_abs`` logger's level (``main`` calls this
    on its way out, so a program or a test that calls ``main`` in-process is left as it was)."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(h)
    logger.setLevel(logging.NOTSET)
