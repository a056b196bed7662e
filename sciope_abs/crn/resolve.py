"""One resolution of "a model": a :class:`CRN`, a library model name, or an SBML file.

Everything that takes ``model=`` (simulators, priors, datasets, evaluation, the CLI and the
pipeline) resolves it here, so a name means the same model and a wrong one gets the same
one-line error everywhere.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .model import CRN

__all__ = ["as_crn", "SBML_SUFFIXES"]

#: file endings read as SBML when ``sbml=True``
SBML_SUFFIXES = (".xml", ".sbml")


def as_crn(model: Any, *, name: str = "model", sbml: bool = False, passthrough: bool = False,
           hint: str = "") -> Any:
    """The CRN ``model`` stands for.

    Parameters
    ----------
    model : CRN, str or os.PathLike
        A network (returned as is), a library model name (:func:`sciope_abs.crn.load_model`,
        case-insensitive), or with ``sbml=True`` the path of an SBML file (``*.xml``, ``*.sbml``).
    name : str
        The user's key, as error messages show it.
    sbml : bool
        Accept SBML file paths.
    passthrough : bool
        Return any other object unchanged (for callers that also take, say, a GillesPy2 model)
        instead of refusing it.
    hint : str
        Appended to the refusal of an object that is neither (``"; <hint>"``).

    Returns
    -------
    CRN
        (or ``model`` itself when ``passthrough`` and it is not a name or path).

    Raises
    ------
    ValueError
        An unknown name (``unknown model 'x'; available: ...``) or an object of another type.
    FileNotFoundError
        An SBML path that does not exist.
    """
    if isinstance(model, CRN):
        return model
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        if sbml and text.lower().endswith(SBML_SUFFIXES):
            path = Path(text)
            if not path.exists():
                raise FileNotFoundError(f"SBML file {text} not found")
            from .sbml import from_sbml

            return from_sbml(path)
        if isinstance(model, str):
            from .library import load_model  # raises ValueError naming the available models

            return load_model(model)
    if passthrough:
        return model
    kinds = "a CRN, a model name or an SBML path" if sbml else "a CRN or a model name"
    raise ValueError(f"{name} must be {kinds}, got {type(model).__name__}" + (f"; {hint}" if hint else ""))
