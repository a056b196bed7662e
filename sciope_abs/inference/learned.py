"""ABC with learned summary statistics, in one call: pilot -> fit the summary -> ABC.

:func:`learned_abc` runs

1. a **pilot**: ``n_pilot`` parameter points from the prior (or a design), simulated on Dask with
   :func:`~sciope_abs.engine.simulate_parallel` -- with the exact simulator, or with a cheaper
   ``pilot_simulator`` (an emulator) whose traces have the same shape;
2. **fit** a learned summary on the pilot (a :class:`~sciope_abs.surrogates.learned.LearnedSummary`
   network, ``"dense"``, ``"cnn"`` or ``"pen"``, or the semi-automatic linear regression
   ``"semiauto"`` on hand-picked features);
3. **ABC** (rejection or SMC) with the exact simulator and the fitted summary, optionally
   concatenated with hand-picked summaries (``learned + handpicked``).

The simulation budget ``max_simulations`` counts the pilot: the ABC gets what the pilot left.
Every stage's randomness is a child of ``seed``.  TensorFlow is imported only when a network is
fitted (inside :mod:`sciope_abs.surrogates`).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol, Sequence

import numpy as np

from .._checks import check_int_at_least
from ..seeding import SeedLike, as_seed_sequence
from ..summaries.base import CombinedSummary, Summary
from ._stream import check_prior


class LearnableSummary(Protocol):
    """A summary fitted on simulations: ``fit(theta (n, d), x (n, r, S, T), prior=)`` then
    ``__call__(x (n, r, S, T)) -> (n, F)`` and ``names``; ``save(path)`` writes it (the
    :class:`~sciope_abs.surrogates.learned.LearnedSummary` and
    :class:`~sciope_abs.surrogates.learned_semiauto.SemiAutoSummary` of the package)."""

    @property
    def names(self) -> list[str]:
        """Feature names, length F (known once fitted)."""

    def __call__(self, x: Any) -> np.ndarray:
        """Summaries (n, F) of traces (n, r, S, T)."""

    def fit(self, theta: Any, x: Any = None, *, prior: Any = None) -> Any:
        """Fit on parameters (n, d) and their traces (n, r, S, T); returns the fitted summary."""

    def save(self, path: Any) -> Path:
        """Write the fitted summary to ``path``."""
from .posterior import Posterior

__all__ = ["learned_abc", "fit_learned_summary", "make_learned_summary", "LearnedABCResult", "LEARNED_KINDS",
           "pilot_simulations", "resolve_learned_specs", "save_learned_parts", "has_learned_spec", "check_learned_specs",
           "LEARNED_SPEC_NAMES"]

logger = logging.getLogger(__name__)

#: names accepted for ``summary=``: network architectures and the linear baseline
LEARNED_KINDS = ("dense", "cnn", "pen", "semiauto")


@dataclass
class LearnedABCResult:
    """What :func:`learned_abc` returns.

    Attributes
    ----------
    posterior : Posterior
        The ABC result (``posterior.info["n_pilot"]`` and ``["n_simulations_total"]`` added).
    summary : Summary
        The summary the ABC used (the fitted learned one, ``+`` hand-picked ones if given).
    learned : Summary
        The fitted learned summary alone.
    pilot_theta : array (n_pilot, d)
    n_pilot : int
        Pilot simulations (with ``pilot_simulator`` when given).
    n_simulations : int
        Pilot + ABC simulations.
    timings : dict
        Seconds for ``"pilot_and_fit"`` and ``"abc"``.
    """

    posterior: Posterior
    summary: Any              # the learned summary, or it combined with the hand-picked one
    learned: LearnableSummary
    pilot_theta: np.ndarray
    n_pilot: int
    n_simulations: int
    timings: dict = field(default_factory=dict)

    def save(self, run_dir: str | os.PathLike) -> Path:
        """Write ``posterior.npz``, the learned summary (``learned_summary/`` for a network,
        ``learned_summary.json`` for the semi-automatic one) and ``learned_abc.json``."""
        rd = Path(run_dir)
        rd.mkdir(parents=True, exist_ok=True)
        self.posterior.save(rd / "posterior.npz")
        target = rd / ("learned_summary.json" if _is_semiauto(self.learned) else "learned_summary")
        self.learned.save(target)
        meta = {"n_pilot": self.n_pilot, "n_simulations": self.n_simulations, "timings": self.timings,
                "summary_names": list(self.summary.names), "learned_summary": target.name}
        (rd / "learned_abc.json").write_text(json.dumps(meta, indent=1))
        return rd


def _is_semiauto(summary: Any) -> bool:
    return type(summary).__name__ == "SemiAutoSummary"


def make_learned_summary(kind: Any = "cnn", handpicked: Optional[Summary] = None, seed: SeedLike = None,
                         **kwargs: Any) -> LearnableSummary:
    """A fresh (unfitted) learned summary.

    Parameters
    ----------
    kind : str or Summary
        ``"dense"``, ``"cnn"``, ``"pen"`` (a :class:`~sciope_abs.surrogates.learned.LearnedSummary`
        with that architecture), ``"semiauto"`` (a
        :class:`~sciope_abs.surrogates.learned_semiauto.SemiAutoSummary` on ``handpicked``), or an
        unfitted summary object with ``fit(theta, x)`` (returned as is).
    handpicked : Summary, optional
        The base features of ``"semiauto"`` (required for it).
    seed : int or SeedSequence
    **kwargs
        Passed to the summary's class (e.g. ``epochs``, ``arch_params``, ``expansion``).
    """
    if not isinstance(kind, str):
        if not callable(kind) or not callable(getattr(kind, "fit", None)):
            raise ValueError(f"{kind!r} has no fit(theta, x)")
        return kind
    key = str(kind).lower()
    if key == "semiauto":
        from ..surrogates.learned_semiauto import SemiAutoSummary

        if handpicked is None:
            raise ValueError("summary='semiauto' regresses theta on hand-picked features: pass handpicked=")
        return SemiAutoSummary(handpicked, **kwargs)
    if key not in LEARNED_KINDS:
        from ..surrogates.learned_arch import ARCHITECTURES

        if key not in ARCHITECTURES:
            raise ValueError(f"unknown learned summary {kind!r}; choose one of "
                             f"{sorted(set(LEARNED_KINDS) | set(ARCHITECTURES))}")
    from ..surrogates.learned import LearnedSummary

    return LearnedSummary(key, seed=0 if seed is None else seed, **kwargs)


def _check_pilot_simulator(pilot: Any, simulator: Any) -> None:
    for attr in ("param_names", "species"):
        a, b = tuple(getattr(pilot, attr, ())), tuple(getattr(simulator, attr, ()))
        if a != b:
            raise ValueError(f"pilot_simulator's {attr} {list(a)} differ from the simulator's {list(b)}")
    ta, tb = np.asarray(pilot.timespan), np.asarray(simulator.timespan)
    if ta.shape != tb.shape or not np.allclose(ta, tb):
        raise ValueError(f"pilot_simulator's timespan ({ta.size} points, {ta[:1]}..{ta[-1:]}) differs from the "
                         f"simulator's ({tb.size} points, {tb[:1]}..{tb[-1:]})")


def pilot_simulations(simulator: Any, prior: Any, n_pilot: int, *, n_traj: int = 1, design: Any = None,
                      seed: SeedLike = None, client: Any = None, initial_state: Any = None,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Pilot parameters (prior draws or ``design.generate``) and their traces (n_pilot, r, S, T)."""
    check_int_at_least(n_pilot, "n_pilot", 10)
    from ..engine import simulate_parallel

    s_theta, s_sim = as_seed_sequence(seed).spawn(2)
    if design is not None:
        theta = np.asarray(design.generate(int(n_pilot), s_theta), dtype=np.float64)
    else:
        theta = np.asarray(prior.sample(int(n_pilot), s_theta), dtype=np.float64)
    x = simulate_parallel(simulator, theta, n_traj=n_traj, seed=s_sim, client=client, initial_state=initial_state,
                          progress=progress, desc="pilot")
    return theta, x


def fit_learned_summary(simulator: Any, prior: Any, summary: Any = "cnn", *, n_pilot: int = 1000, n_traj: int = 1,
                        handpicked: Optional[Summary] = None, design: Any = None, seed: SeedLike = None,
                        client: Any = None, initial_state: Any = None, progress: bool = False,
                        summary_kwargs: Optional[dict] = None) -> tuple[LearnableSummary, np.ndarray]:
    """Run a pilot and fit a learned summary on it; returns ``(fitted summary, pilot theta)``.

    Parameters are those of :func:`learned_abc` (``simulator`` here is the one the pilot uses).
    """
    prior = check_prior(prior, simulator)
    s_pilot, s_fit = as_seed_sequence(seed).spawn(2)
    learned = make_learned_summary(summary, handpicked, seed=s_fit, **(summary_kwargs or {}))
    theta, x = pilot_simulations(simulator, prior, n_pilot, n_traj=n_traj, design=design, seed=s_pilot,
                                 client=client, initial_state=initial_state, progress=progress)
    learned.fit(theta, x, prior=prior)
    return learned, theta


def _check_learned_abc_args(method: str, combine: bool, handpicked: Optional[Summary], observed: Any,
                            max_simulations: Optional[int], n_pilot: int) -> None:
    """The one-line errors of :func:`learned_abc`, before anything is simulated."""
    if method not in ("smc", "rejection"):
        raise ValueError(f"method must be 'smc' or 'rejection', got {method!r}")
    if combine and handpicked is None:
        raise ValueError("combine=True needs handpicked= summaries to combine with")
    if observed is None:
        raise ValueError("observed traces (r, S, T) are required")
    if max_simulations is not None and max_simulations <= n_pilot:
        raise ValueError(f"max_simulations={max_simulations} leaves nothing for the ABC after n_pilot={n_pilot}")


def _abc_sampler(method: str, simulator: Any, prior: Any, summary: Any, distance: Any, observed: Any, *,
                 n_traj: int, initial_state: Any, client: Any) -> Any:
    """The SMC-ABC or rejection sampler of :func:`learned_abc` (distance default: Adaptive)."""
    from .rejection import ABCRejection
    from .smc import SMCABC

    if distance is None:
        from ..distances import Adaptive

        distance = Adaptive()
    cls = SMCABC if method == "smc" else ABCRejection
    return cls(simulator, prior, summary, distance, observed, n_traj=n_traj, initial_state=initial_state,
               client=client)


def learned_abc(simulator: Any, prior: Any, observed: Any, *, summary: Any = "cnn",
                handpicked: Optional[Summary] = None, combine: bool = False, n_pilot: int = 1000,
                pilot_simulator: Any = None, design: Any = None, method: str = "smc", distance: Any = None,
                n_traj: int = 1, max_simulations: Optional[int] = None, seed: SeedLike = None, client: Any = None,
                initial_state: Any = None, progress: bool = False, summary_kwargs: Optional[dict] = None,
                **infer_kwargs: Any) -> LearnedABCResult:
    """Pilot -> learned summary -> ABC, in one call.

    Parameters
    ----------
    simulator : Simulator
        The exact simulator the ABC runs with.
    prior : JointPrior or dict
    observed : array (r, S, T)
        Observed traces.
    summary : {"cnn", "pen", "dense", "semiauto"} or Summary
        What to learn (see :func:`make_learned_summary`).
    handpicked : Summary, optional
        Hand-picked features: the regressors of ``"semiauto"``, and with ``combine=True``
        concatenated to the learned summary for the ABC.
    combine : bool
        Run the ABC on ``learned + handpicked``.
    n_pilot : int
        Pilot simulations (counted in ``max_simulations``).
    pilot_simulator : Simulator, optional
        Simulate the pilot with this (e.g. an emulator) instead of ``simulator``; same parameters,
        species and time grid.
    design : Design, optional
        Pilot parameters from ``design.generate(n_pilot, seed)`` instead of the prior.
    method : {"smc", "rejection"}
    distance : Distance, optional
        Default :class:`~sciope_abs.distances.Adaptive` (MAD-scaled Euclidean).
    n_traj : int
        Trajectories per point, in the pilot and in the ABC.
    max_simulations : int, optional
        Total budget, pilot included (``simulator`` and ``pilot_simulator`` simulations alike).
    seed : int or SeedSequence
    client : Dask client, address, "sync" or None
    initial_state : array (S,), optional
    progress : bool
    summary_kwargs : dict, optional
        Passed to the learned summary's class (``epochs``, ``arch_params``, ...).
    **infer_kwargs
        Passed to ``SMCABC.infer`` / ``ABCRejection.infer`` (``n_particles``, ``quantile``,
        ``max_rounds``, ``n_samples`` ...).

    Returns
    -------
    LearnedABCResult
    """
    _check_learned_abc_args(method, combine, handpicked, observed, max_simulations, n_pilot)
    prior = check_prior(prior, simulator)
    pilot_sim = simulator if pilot_simulator is None else pilot_simulator
    if pilot_simulator is not None:
        _check_pilot_simulator(pilot_simulator, simulator)
    s_fit, s_abc = as_seed_sequence(seed).spawn(2)
    t0 = time.perf_counter()
    learned, theta = fit_learned_summary(pilot_sim, prior, summary, n_pilot=n_pilot, n_traj=n_traj,
                                         handpicked=handpicked, design=design, seed=s_fit, client=client,
                                         initial_state=initial_state, progress=progress,
                                         summary_kwargs=summary_kwargs)
    t1 = time.perf_counter()
    used = CombinedSummary([learned, handpicked]) if combine and handpicked is not None else learned  # checked above
    abc = _abc_sampler(method, simulator, prior, used, distance, observed, n_traj=n_traj,
                       initial_state=initial_state, client=client)
    budget = None if max_simulations is None else int(max_simulations) - int(n_pilot)
    post = abc.infer(max_simulations=budget, seed=s_abc, progress=progress, **infer_kwargs)
    t2 = time.perf_counter()
    n_total = int(n_pilot) + int(post.n_simulations)
    post.info.update({"n_pilot": int(n_pilot), "n_simulations_total": n_total,
                      "pilot_simulator": type(pilot_sim).__name__, "learned_summary": repr(learned)})
    return LearnedABCResult(post, used, learned, theta, int(n_pilot), n_total,
                            {"pilot_and_fit": t1 - t0, "abc": t2 - t1})


# --------------------------------------------------------------------------- config specs (CLI / YAML)
#: ``summaries:`` entries that are trained on a pilot: {name: learned, arch: cnn, ...} and {name: semiauto, ...}
LEARNED_SPEC_NAMES = ("learned", "semiauto")


def _is_learned_spec(s: Any) -> bool:
    return isinstance(s, dict) and str(s.get("name", "")).lower() in LEARNED_SPEC_NAMES


def has_learned_spec(spec: Any) -> bool:
    """Whether a ``summaries:`` config value holds a learned entry."""
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    return any(_is_learned_spec(s) for s in items)


def _unfitted_from_spec(entry: dict, k: int, species: Any, seed: int) -> tuple[LearnableSummary, int]:
    """The unfitted summary of a learned entry and its ``n_pilot`` (one-line errors naming the entry)."""
    from ..summaries import make_summary

    kw = dict(entry)
    name = str(kw.pop("name")).lower()
    n_pilot = kw.pop("n_pilot", 1000)
    check_int_at_least(n_pilot, f"summaries[{k}].n_pilot", 10)
    if name == "semiauto":
        if "base" not in kw:
            raise ValueError(f"summaries[{k}]: a semiauto entry needs base: (the hand-picked features)")
        kind, handpicked = "semiauto", make_summary(kw.pop("base"), species=species)
    else:
        kind, handpicked = str(kw.pop("arch", "cnn")).lower(), None
    try:
        return make_learned_summary(kind, handpicked, seed=np.random.SeedSequence([int(seed), 15, k, 1]), **kw), n_pilot
    except (TypeError, ValueError) as exc:
        raise ValueError(f"summaries[{k}]: {exc}") from None


def check_learned_specs(spec: Any, species: Sequence[str]) -> list:
    """``spec`` with every learned entry replaced by its unfitted summary: checks the entries
    (architecture, options, ``n_pilot``) without simulating anything."""
    items = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    return [_unfitted_from_spec(s, k, tuple(species), 0)[0] if _is_learned_spec(s) else s
            for k, s in enumerate(items)]


def _learned_from_spec(entry: dict, k: int, simulator: Any, prior: Any, species, *, seed: int, n_traj: int,
                       client: Any, load_from: Any, initial_state: Any = None) -> Any:
    name = str(entry["name"]).lower()
    learned, n_pilot = _unfitted_from_spec(entry, k, species, seed)
    if load_from is not None:
        stored = Path(load_from) / _stored_name(name, k)
        if stored.exists():
            return _load_stored(name, stored, entry.get("base"), species)
    theta, x = pilot_simulations(simulator, prior, n_pilot, n_traj=n_traj, seed=np.random.SeedSequence([int(seed), 15, k]),
                                 client=client, initial_state=initial_state)
    logger.info("summaries[%d]: fitting %r on a pilot of %d simulations", k, learned, n_pilot)
    return learned.fit(theta, x, prior=prior)


def _stored_name(name: str, k: int) -> str:
    return f"learned_summary_{k}.json" if name == "semiauto" else f"learned_summary_{k}"


def _load_stored(name: str, path: Path, base: Any, species) -> Summary:
    if name == "semiauto":
        from ..summaries import make_summary
        from ..surrogates.learned_semiauto import SemiAutoSummary

        return SemiAutoSummary.load(path, base=None if base is None else make_summary(base, species=species))
    from ..surrogates.learned import LearnedSummary

    return LearnedSummary.load(path)


def resolve_learned_specs(spec: Any, simulator: Any, prior: Any, *, seed: int = 0, n_traj: int = 1,
                          client: Any = None, load_from: Any = None, initial_state: Any = None) -> Any:
    """Replace the learned entries of a ``summaries:`` value by fitted summaries.

    ``{name: learned, arch: cnn, n_pilot: 2000, **LearnedSummary kwargs}`` and
    ``{name: semiauto, base: [...], n_pilot: ..., expansion: ...}`` are trained on a pilot of
    ``n_pilot`` prior simulations (seeded from ``seed`` and the entry's position ``k``); other
    entries are kept.  With ``load_from`` (a run folder), entries saved there by
    :func:`save_learned_parts` are loaded instead of trained (resuming a run).  ``initial_state``
    (S,) is the pilot's initial state.  The result is a value
    :func:`~sciope_abs.summaries.make_summary` accepts.
    """
    if not has_learned_spec(spec):
        return spec
    items = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    species = tuple(simulator.species)
    prior = check_prior(prior, simulator)
    return [_learned_from_spec(s, k, simulator, prior, species, seed=seed, n_traj=n_traj, client=client,
                               load_from=load_from, initial_state=initial_state) if _is_learned_spec(s) else s
            for k, s in enumerate(items)]


def save_learned_parts(spec: Any, summary: Any, run_dir: str | os.PathLike) -> list[Path]:
    """Save the fitted learned parts of ``summary`` (built from ``spec`` through
    :func:`resolve_learned_specs`) into ``run_dir`` as ``learned_summary_<k>`` (``.json`` for a
    semiauto entry), ``k`` the entry's position in ``spec``; returns the paths written."""
    if not has_learned_spec(spec):
        return []
    items = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    keys = [(k, str(s["name"]).lower()) for k, s in enumerate(items) if _is_learned_spec(s)]
    from ..surrogates.learned import LearnedSummary
    from ..surrogates.learned_semiauto import SemiAutoSummary

    parts = [p for p in getattr(summary, "parts", [summary]) if isinstance(p, (LearnedSummary, SemiAutoSummary))]
    if len(parts) != len(keys):
        raise ValueError(f"the summary has {len(parts)} fitted learned parts but the spec names {len(keys)}")
    return [p.save(Path(run_dir) / _stored_name(name, k)) for (k, name), p in zip(keys, parts)]
