"""Progress bars for the engine: tqdm on stderr, or nothing at all."""
from __future__ import annotations

import sys
from typing import Optional

__all__ = ["Progress", "make_progress"]


class Progress:
    """A tiny progress-bar facade: ``update(k)`` and ``close()``, silent when disabled.

    Parameters
    ----------
    total : int or None
        Number of items expected (``None`` for an open-ended stream).
    desc : str, optional
        Label shown in front of the bar.
    enabled : bool
        ``False`` gives a bar that does nothing.
    """

    def __init__(self, total: Optional[int], desc: Optional[str] = None, enabled: bool = True) -> None:
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=desc, file=sys.stderr, unit="item", dynamic_ncols=True,
                             mininterval=0.2, leave=True)

    def update(self, k: int = 1) -> None:
        if self._bar is not None and k:
            self._bar.update(k)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_progress(total: Optional[int], desc: Optional[str] = None, enabled: bool = True) -> Progress:
    """A :class:`Progress` bar for ``total`` items (``enabled=False``: silent)."""
    return Progress(total, desc=desc, enabled=bool(enabled))
