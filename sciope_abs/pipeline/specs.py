"""Config specs -> objects: the one factory of priors, summaries, distances, models and simulators.

``sciope-abs infer CONFIG`` (:mod:`sciope_abs.cli.infer`) and the pipeline
(:mod:`sciope_abs.pipeline.stages`) both build their objects here, so a ``prior:``, ``summaries:``
or ``distance:`` entry means the same in both.  Every error is one line naming the user's key.

The ``prior:`` grammar (documented in ``docs/guide/pipeline.md``)::

    prior:                                   # one entry per parameter
      k1: {uniform: [low, high]}
      k2: {loguniform: [low, high]}          # 0 < low < high
      k3: {normal: [mean, std], low: 0.0}    # optional truncation low / high
    prior:                                   # or: Uniform(low*v, high*v) around values v
      uniform_around: {low: 0.1, high: 2.0, params: [k1, k2], around: model}
                                             # around: model (defaults) | truth | {name: v}
    prior: null                              # uniform over the rates' trained ranges (pipeline)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .._config import as_number

__all__ = ["PRIOR_KINDS", "check_prior_spec", "build_prior", "build_summary", "build_distance", "build_model",
           "build_timespan"]

#: per-parameter prior families of the ``prior:`` grammar and the arguments each takes
PRIOR_KINDS = ("uniform", "loguniform", "normal")
_AROUND_KEYS = {"low", "high", "params", "around"}


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_one(p: str, spec: Any, key: str) -> tuple[str, float, float]:
    """``(kind, a, b)`` of one parameter's entry, structure and numbers checked."""
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"{key}.{p} must be {{uniform: [low, high]}}, {{loguniform: [low, high]}} or "
                         f"{{normal: [mean, std]}}, got {spec!r}")
    kinds = [k for k in PRIOR_KINDS if k in spec]
    extra = sorted(set(spec) - set(PRIOR_KINDS) - ({"low", "high"} if kinds == ["normal"] else set()))
    if len(kinds) != 1 or extra:
        raise ValueError(f"{key}.{p} needs exactly one of {', '.join(PRIOR_KINDS)} (low/high only with normal), "
                         f"got {sorted(spec)}")
    kind = kinds[0]
    vals = spec[kind]
    if not isinstance(vals, (list, tuple)) or len(vals) != 2:
        raise ValueError(f"{key}.{p}.{kind} must be [{'mean, std' if kind == 'normal' else 'low, high'}], "
                         f"got {vals!r}")
    a, b = (as_number(x, f"{key}.{p}.{kind}") for x in vals)
    if kind == "normal":
        if not b > 0:
            raise ValueError(f"{key}.{p}.normal must have std > 0, got {vals!r}")
        for bound in ("low", "high"):
            if spec.get(bound) is not None:
                as_number(spec[bound], f"{key}.{p}.{bound}")
    elif not a < b or (kind == "loguniform" and a <= 0):
        raise ValueError(f"{key}.{p}.{kind} must have {'0 < ' if kind == 'loguniform' else ''}low < high, "
                         f"got {vals!r}")
    return kind, a, b


def check_prior_spec(spec: Any, names: Sequence[str] | None = None, key: str = "prior") -> None:
    """Check a ``prior:`` entry without a model (structure, numbers, and when ``names`` is given
    that it names exactly those parameters); ``None`` passes (the trained ranges)."""
    if spec is None:
        return
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"{key} must map each parameter to {{uniform: [low, high]}} (or be uniform_around: "
                         f"{{...}}, or null), got {spec!r}")
    if "uniform_around" in spec:
        if len(spec) != 1:
            raise ValueError(f"{key}: uniform_around cannot be combined with per-parameter entries")
        ua = spec["uniform_around"] or {}
        if not isinstance(ua, Mapping):
            raise ValueError(f"{key}.uniform_around must be a mapping {{low, high, params, around}}, got {ua!r}")
        unknown = sorted(set(ua) - _AROUND_KEYS)
        if unknown:
            raise ValueError(f"unknown key(s) {unknown} in {key}.uniform_around; known: {sorted(_AROUND_KEYS)}")
        lo, hi = (as_number(ua.get(k, d), f"{key}.uniform_around.{k}") for k, d in (("low", 0.1), ("high", 2.0)))
        if not 0 <= lo < hi:
            raise ValueError(f"{key}.uniform_around must have 0 <= low < high, got low={lo:g}, high={hi:g}")
        params = ua.get("params")
        if names is not None and params is not None and sorted(params) != sorted(names):
            raise ValueError(f"{key}.uniform_around.params must be exactly {list(names)}, got {list(params)}")
        return
    if names is not None and sorted(spec) != sorted(names):
        raise ValueError(f"{key} must name exactly {list(names)}, got {sorted(spec)}")
    for p, one in spec.items():
        _check_one(str(p), one, key)


def _around_base(around: Any, crn, truth: Mapping | None, key: str) -> dict:
    if around == "model":
        return dict(crn.parameters)
    if around == "truth":
        if not truth:
            raise ValueError(f"{key}.uniform_around: around: truth needs a synthetic truth (observed truth)")
        return {**crn.parameters, **{k: float(v) for k, v in truth.items()}}
    if isinstance(around, Mapping):
        return {**crn.parameters, **{k: as_number(v, f"{key}.uniform_around.around.{k}") for k, v in around.items()}}
    raise ValueError(f"{key}.uniform_around.around must be model, truth or a mapping, got {around!r}")


def build_prior(spec: Any, *, names: Sequence[str] | None = None, crn: Any = None, truth: Mapping | None = None,
                rate_bounds: Any = None, key: str = "prior") -> Any:
    """The :class:`~sciope_abs.priors.JointPrior` of a ``prior:`` entry (grammar: module docstring).

    Parameters
    ----------
    spec : mapping or None
        The entry; ``None`` = uniform over ``rate_bounds`` (needs ``names``).
    names : sequence of str, optional
        The parameters the prior must cover, in theta's column order (the pipeline's
        ``vary_params``); default: the spec's own order.
    crn : CRN, optional
        The model: parameter names checked against it; needed by ``uniform_around``.
    truth : mapping, optional
        A synthetic truth, for ``uniform_around: {around: truth}``.
    rate_bounds : array (d, 2), optional
        The trained ranges of ``names``, for ``spec=None``.
    key : str
        The config key errors name.
    """
    from ..priors import JointPrior, LogUniform, Normal, Uniform

    check_prior_spec(spec, names, key)
    if spec is None:
        if names is None or rate_bounds is None:
            raise ValueError(f"{key}: null needs the parameters and their trained ranges")
        bounds = np.asarray(rate_bounds, dtype=np.float64).reshape(len(names), 2)
        unbounded = [p for p, (lo, hi) in zip(names, bounds) if not np.isfinite(hi)]
        if unbounded:
            owner = f"model {crn.name!r} has" if crn is not None else "there are"
            raise ValueError(f"{key}: null needs trained rate ranges, but {owner} none for {unbounded}; give "
                             f"{key}: {{{unbounded[0]}: {{uniform: [low, high]}}, ...}}")
        return JointPrior({p: Uniform(float(lo), float(hi)) for p, (lo, hi) in zip(names, bounds)})
    if "uniform_around" in spec:
        if crn is None:
            raise ValueError(f"{key}: uniform_around needs the model")
        ua = dict(spec["uniform_around"] or {})
        # the pipeline's names fix theta's column order (check_prior_spec made them the same set)
        params = list(names or ua.get("params") or list(crn.rate_ranges) or list(crn.parameters))
        base = _around_base(ua.get("around", "model"), crn, truth, key)
        unknown = [p for p in params if p not in base]
        if unknown:
            raise ValueError(f"{key}.uniform_around names unknown parameters {unknown} of model {crn.name!r}")
        try:
            return JointPrior.uniform_around({p: base[p] for p in params}, float(ua.get("low", 0.1)),
                                             float(ua.get("high", 2.0)))
        except ValueError as exc:
            raise ValueError(f"{key}: {_one_line(exc)}") from None
    if crn is not None:
        unknown = [p for p in spec if p not in crn.parameters]
        if unknown:
            raise ValueError(f"{key} names unknown parameters {unknown}; model {crn.name!r} has "
                             f"{list(crn.parameters)}")
    parts: dict[str, Any] = {}
    for p in (names if names is not None else list(spec)):
        kind, a, b = _check_one(str(p), spec[p], key)
        try:
            if kind == "normal":
                parts[p] = Normal(a, b, low=spec[p].get("low"), high=spec[p].get("high"))
            else:
                parts[p] = (Uniform if kind == "uniform" else LogUniform)(a, b)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{key}.{p}: {_one_line(exc)}") from None
    return JointPrior(parts)


def build_summary(spec: Any, species: Sequence[str]) -> Any:
    """The summary of a ``summaries:`` entry (names from ``sciope_abs.summaries.SUMMARIES``,
    ``{name: ..., **kwargs}`` dicts, or a list of them, concatenated) for the observed
    ``species``.  Learned entries must be resolved first
    (:func:`sciope_abs.inference.learned.resolve_learned_specs`)."""
    from ..summaries import make_summary

    try:
        return make_summary(spec, species=tuple(species))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"summaries: {_one_line(exc)}") from None


def build_distance(spec: Any) -> Any:
    """The distance of a ``distance:`` entry: a registry name or ``{name: ..., **kwargs}``."""
    from ..distances import get_distance

    try:
        if isinstance(spec, str):
            return get_distance(spec)
        if not isinstance(spec, Mapping) or "name" not in spec:
            raise ValueError(f"give a name (euclidean, manhattan, adaptive) or {{name: ..., ...}}, got {spec!r}")
        return get_distance(**dict(spec))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"distance: {_one_line(exc)}") from None


def build_model(spec: Any) -> Any:
    """A library model by name, or an SBML file (``*.xml`` / ``*.sbml``)."""
    from ..crn.resolve import as_crn

    if not isinstance(spec, (str, Path)) or not str(spec):
        raise ValueError(f"model must be a model name or an SBML path, got {spec!r}")
    return as_crn(str(spec), sbml=True)


def build_timespan(spec: Any, key: str = "timespan") -> np.ndarray | None:
    """``None``, a list of time points, or ``{start, stop, num}`` (``numpy.linspace``)."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        num = as_number(spec.get("num"), f"{key}.num")
        if not num.is_integer():
            raise ValueError(f"{key}.num: expected an integer, got {spec.get('num')!r}")
        return np.linspace(as_number(spec.get("start"), f"{key}.start"), as_number(spec.get("stop"), f"{key}.stop"),
                           int(num))
    try:
        return np.asarray(spec, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be a list of times or {{start, stop, num}}, got {spec!r}") from None
