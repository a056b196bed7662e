"""Argument checks shared by the package: one-line errors that name the user's key.

Every check returns the value normalised (``int`` or ``float``) and raises ``ValueError("<name> must be <what>, got <value>")`` otherwise, the style of
:mod:`sciope_abs.simulators.base`.  ``bool`` is never accepted as a number (``True`` is not
``1`` trajectory).  numpy integers and floats are accepted.  ``optional(check, value, name)``
lets ``None`` through (``None`` meaning "no limit" or "the default").
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Optional, TypeVar

import numpy as np

T = TypeVar("T")

__all__ = [
    "is_int",
    "check_int",
    "check_positive_int",
    "check_nonneg_int",
    "check_int_at_least",
    "check_number",
    "check_positive_float",
    "check_nonneg_float",
    "optional",
]


def is_int(value: Any) -> bool:
    """True for a Python or numpy integer that is not a ``bool``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """``repr`` of the user's value, numpy scalars shown as the plain number they hold."""
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)


def check_int(value: Any, name: str, *, low: Optional[int] = None,
              what: Optional[str] = None) -> int:
    """``value`` as an ``int`` if it is an integer ``>= low`` (no bound when ``low`` is None).

    Parameters
    ----------
    value : object
        What the user passed.
    name : str
        The user's key, as the message shows it (``"n_traj"``, ``"infer.n_particles"``).
    low : int, optional
        Smallest value allowed.
    what : str, optional
        The expectation as the message words it (default ``"an integer >= low"``).

    Raises
    ------
    ValueError
        ``"<name> must be <what>, got <value>"``.
    """
    if not is_int(value) or (low is not None and int(value) < low):
        if what is None:
            what = "an integer" if low is None else f"an integer >= {low}"
        raise ValueError(f"{name} must be {what}, got {_shown(value)}")
    return int(value)


def check_positive_int(value: Any, name: str, *,
                       what: str = "a positive integer") -> int:
    """``value`` as an ``int >= 1``; ``"<name> must be a positive integer, got <value>"`` otherwise."""
    return check_int(value, name, low=1, what=what)


def check_nonneg_int(value: Any, name: str, *,
                     what: str = "a non-negative integer") -> int:
    """``value`` as an ``int >= 0``; ``"<name> must be a non-negative integer, got <value>"`` otherwise."""
    return check_int(value, name, low=0, what=what)


def check_int_at_least(value: Any, name: str, low: int) -> int:
    """``value`` as an ``int >= low``; ``"<name> must be an integer >= <low>, got <value>"`` otherwise."""
    return check_int(value, name, low=low)


def check_number(value: Any, name: str, *, low: Optional[float] = None, strict: bool = False,
                 what: Optional[str] = None) -> float:
    """``value`` as a finite ``float`` with ``value > low`` (``strict``) or ``value >= low``.

    Parameters
    ----------
    value : object
        What the user passed (a Python or numpy real number; not a ``bool``, not a string).
    name : str
        The user's key, as the message shows it.
    low : float, optional
        The bound (none when ``None``).
    strict : bool
        Whether ``low`` itself is refused.
    what : str, optional
        The expectation as the message words it.

    Raises
    ------
    ValueError
        ``"<name> must be <what>, got <value>"``.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and low is not None:
        ok = float(value) > low if strict else float(value) >= low
    if not ok:
        if what is None:
            what = "a finite number" if low is None else f"a finite number {'>' if strict else '>='} {low:g}"
        raise ValueError(f"{name} must be {what}, got {_shown(value)}")
    return float(value)


def check_positive_float(value: Any, name: str, *,
                         what: str = "a positive number") -> float:
    """``value`` as a finite ``float > 0``; ``"<name> must be a positive number, got <value>"`` otherwise."""
    return check_number(value, name, low=0.0, strict=True, what=what)


def check_nonneg_float(value: Any, name: str, *,
                       what: str = "a finite number >= 0") -> float:
    """``value`` as a finite ``float >= 0``; ``"<name> must be a finite number >= 0, got <value>"`` otherwise."""
    return check_number(value, name, low=0.0, strict=False, what=what)


def optional(check: Callable[..., T], value: Any, name: str, **kwargs: Any) -> Optional[T]:
    """``None`` for ``None``, else ``check(value, name, **kwargs)``.

    Examples
    --------
    >>> optional(check_positive_int, None, "max_simulations") is None
    True
    """
    return None if value is None else check(value, name, **kwargs)
