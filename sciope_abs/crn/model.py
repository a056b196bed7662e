"""The reaction-network description every other part of the toolbox reads.

A :class:`CRN` is plain data: species in a declared order, parameters, reactions (mass-action
with a rate parameter, or a custom propensity expression), and the facts a simulation study needs
(how to randomise initial states and kinetic rates, the time step and horizon, the observed
species).  Simulators translate it (GillesPy2 model, compiled SSA kernel); nothing here imports
a simulator.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..seeding import SeedLike, as_generator

__all__ = ["Reaction", "CRN"]


@dataclass(frozen=True)
class Reaction:
    """One reaction.

    Parameters
    ----------
    name : str
        Identifier (shares GillesPy2's namespace with parameters: must differ from every
        parameter name).
    reactants, products : dict[str, int]
        Species name -> stoichiometric coefficient.
    rate : str, optional
        Name of the parameter of a mass-action law.  Propensity ``rate * prod_i C(x_i, k_i)``
        (for a coefficient 2: ``x (x - 1) / 2``, the combinatorial count; GillesPy2 1.8.3 itself
        uses ``x (x - 1)``, so its conversion writes such laws out as custom propensities).
    propensity : str, optional
        Custom propensity: an arithmetic expression of species and parameter names
        (``+ - * / **``, ``pow``, ``exp``, ``log``, ``sqrt``, ``abs``, ``min``, ``max``).
        Exactly one of ``rate`` and ``propensity`` is given.
    """

    name: str
    reactants: Mapping[str, int]
    products: Mapping[str, int]
    rate: str | None = None
    propensity: str | None = None

    def __post_init__(self) -> None:
        if (self.rate is None) == (self.propensity is None):
            raise ValueError(f"reaction {self.name!r}: give exactly one of rate= or propensity=")
        object.__setattr__(self, "reactants", dict(self.reactants))
        object.__setattr__(self, "products", dict(self.products))

    def to_dict(self) -> dict:
        return {"name": self.name, "reactants": dict(self.reactants), "products": dict(self.products),
                "rate": self.rate, "propensity": self.propensity}


@dataclass(frozen=True)
class CRN:
    """A chemical reaction network with the facts a simulation study needs.

    Parameters
    ----------
    name : str
    species : sequence of str
        Declared order; every array the toolbox returns uses this order (never GillesPy2's
        alphabetical one).
    parameters : dict[str, float]
        Default parameter values.
    reactions : sequence of Reaction
    initial_state : dict[str, int]
        Default initial counts (species missing from it start at 0).
    initial_ranges : dict[str, (int, int)]
        Inclusive integer ranges for randomised initial states; species absent here and not in
        ``complements`` keep their default initial count.
    complements : dict[str, (str, int)]
        Conserved pairs: ``{"G2": ("G1", 4)}`` means ``G2 = 4 - G1`` (so ``G1 + G2 = 4``).
    rate_ranges : dict[str, (float, float)]
        Kinetic parameters that may be varied, with their (low, high) ranges.
    dt, n_steps : float, int
        Time step and number of steps of the study; ``timespan()`` is ``0, dt, ..., n_steps*dt``.
    observed : sequence of str
        Species that studies observe (histograms, summaries).
    """

    name: str
    species: Sequence[str]
    parameters: Mapping[str, float]
    reactions: Sequence[Reaction]
    initial_state: Mapping[str, int]
    initial_ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    complements: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    rate_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    dt: float = 1.0
    n_steps: int = 10
    observed: Sequence[str] = ()
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(self.species))
        object.__setattr__(self, "parameters", {k: float(v) for k, v in self.parameters.items()})
        object.__setattr__(self, "reactions", tuple(self.reactions))
        object.__setattr__(self, "initial_state", {s: int(self.initial_state.get(s, 0)) for s in self.species})
        object.__setattr__(self, "initial_ranges", {k: (int(a), int(b)) for k, (a, b) in self.initial_ranges.items()})
        object.__setattr__(self, "complements", {k: (str(o), int(t)) for k, (o, t) in self.complements.items()})
        object.__setattr__(self, "rate_ranges", {k: (float(a), float(b)) for k, (a, b) in self.rate_ranges.items()})
        object.__setattr__(self, "observed", tuple(self.observed) or tuple(self.species))
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        species = set(self.species)
        if len(species) != len(self.species):
            raise ValueError(f"model {self.name!r}: duplicate species names")
        clash = species & set(self.parameters)
        if clash:
            raise ValueError(f"model {self.name!r}: names used both as species and parameter: {sorted(clash)}")
        rnames = [r.name for r in self.reactions]
        if len(set(rnames)) != len(rnames):
            raise ValueError(f"model {self.name!r}: duplicate reaction names")
        clash = set(rnames) & (set(self.parameters) | species)
        if clash:
            raise ValueError(f"model {self.name!r}: reaction names clash with parameter/species names: {sorted(clash)}")
        for r in self.reactions:
            unknown = (set(r.reactants) | set(r.products)) - species
            if unknown:
                raise ValueError(f"model {self.name!r}: reaction {r.name!r} uses unknown species {sorted(unknown)}")
            if r.rate is not None and r.rate not in self.parameters:
                raise ValueError(f"model {self.name!r}: reaction {r.name!r} uses unknown rate parameter {r.rate!r}")
        for names, what in ((self.initial_ranges, "initial_ranges"), (self.complements, "complements"),
                            (dict.fromkeys(self.observed), "observed")):
            unknown = set(names) - species
            if unknown:
                raise ValueError(f"model {self.name!r}: {what} names unknown species {sorted(unknown)}")
        unknown = set(self.rate_ranges) - set(self.parameters)
        if unknown:
            raise ValueError(f"model {self.name!r}: rate_ranges names unknown parameters {sorted(unknown)}")
        if self.dt <= 0 or self.n_steps < 1:
            raise ValueError(f"model {self.name!r}: dt must be > 0 and n_steps >= 1")

    # ------------------------------------------------------------------ derived arrays
    @property
    def n_species(self) -> int:
        return len(self.species)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(self.parameters)

    def species_index(self, names: Iterable[str]) -> np.ndarray:
        """Positions of ``names`` in :attr:`species`; unknown names raise ``ValueError``."""
        pos = {s: i for i, s in enumerate(self.species)}
        names = list(names)
        unknown = [s for s in names if s not in pos]
        if unknown:
            raise ValueError(f"unknown species {unknown} for model {self.name!r}; it has {list(self.species)}")
        return np.array([pos[s] for s in names], dtype=np.intp)

    def check_parameter_names(self, names: Iterable[str]) -> tuple[str, ...]:
        names = tuple(names)
        unknown = [p for p in names if p not in self.parameters]
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for model {self.name!r}; it has {list(self.parameters)}")
        return names

    def stoichiometry(self) -> np.ndarray:
        """Net change matrix, shape ``(n_reactions, n_species)``, int64."""
        idx = {s: i for i, s in enumerate(self.species)}
        nu = np.zeros((len(self.reactions), self.n_species), dtype=np.int64)
        for j, r in enumerate(self.reactions):
            for s, k in r.reactants.items():
                nu[j, idx[s]] -= k
            for s, k in r.products.items():
                nu[j, idx[s]] += k
        return nu

    def reactant_matrix(self) -> np.ndarray:
        """Reactant coefficients, shape ``(n_reactions, n_species)``, int64."""
        idx = {s: i for i, s in enumerate(self.species)}
        m = np.zeros((len(self.reactions), self.n_species), dtype=np.int64)
        for j, r in enumerate(self.reactions):
            for s, k in r.reactants.items():
                m[j, idx[s]] = k
        return m

    def timespan(self, dt: float | None = None, n_steps: int | None = None) -> np.ndarray:
        """Time grid ``0, dt, ..., n_steps * dt`` (defaults: the model's own)."""
        dt = self.dt if dt is None else float(dt)
        n_steps = self.n_steps if n_steps is None else int(n_steps)
        return np.arange(n_steps + 1, dtype=np.float64) * dt

    def default_initial_state(self) -> np.ndarray:
        """Default initial counts, shape ``(S,)``, int64."""
        return np.array([self.initial_state[s] for s in self.species], dtype=np.int64)

    def conservation_laws(self) -> list[tuple[np.ndarray, int]]:
        """Conserved totals from :attr:`complements`: list of (coefficients ``(S,)``, total).

        ``total`` is the one randomised initial states are drawn with; a simulation started from
        any state keeps ``coefficients @ state`` equal to its own initial value (the emulator
        keeps each trajectory's initial total).
        """
        laws = []
        for s, (other, total) in self.complements.items():
            c = np.zeros(self.n_species, dtype=np.int64)
            c[self.species_index([s, other])] = 1
            laws.append((c, total))
        return laws

    # ------------------------------------------------------------------ randomisation
    def sample_initial_states(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """Randomised initial states, shape ``(n, S)``, int64.

        Species with a range draw uniformly from it (inclusive), complements are set so the
        conserved totals hold, and the rest keep their default count.
        """
        rng = as_generator(seed)
        x = np.tile(self.default_initial_state(), (int(n), 1))
        for s, (lo, hi) in self.initial_ranges.items():
            x[:, self.species_index([s])[0]] = rng.integers(lo, hi + 1, size=int(n))
        for s, (other, total) in self.complements.items():
            i, j = self.species_index([s, other])
            x[:, i] = total - x[:, j]
        return x

    def sample_rates(self, n: int, names: Sequence[str] | None = None, seed: SeedLike = None) -> np.ndarray:
        """Randomised kinetic rates, uniform in :attr:`rate_ranges`, shape ``(n, len(names))``."""
        names = tuple(self.rate_ranges) if names is None else tuple(names)
        missing = [p for p in names if p not in self.rate_ranges]
        if missing:
            raise ValueError(f"parameter(s) {missing} of model {self.name!r} have no rate range; "
                             f"variable rates are {list(self.rate_ranges)}")
        rng = as_generator(seed)
        lo = np.array([self.rate_ranges[p][0] for p in names])
        hi = np.array([self.rate_ranges[p][1] for p in names])
        return lo + (hi - lo) * rng.random((int(n), len(names)))

    # ------------------------------------------------------------------ identity
    def with_parameters(self, **values: float) -> "CRN":
        """A copy with some default parameter values replaced."""
        self.check_parameter_names(values)
        return replace(self, parameters={**self.parameters, **{k: float(v) for k, v in values.items()}})

    def to_dict(self) -> dict:
        return {
            "name": self.name, "species": list(self.species), "parameters": dict(self.parameters),
            "reactions": [r.to_dict() for r in self.reactions], "initial_state": dict(self.initial_state),
            "initial_ranges": {k: list(v) for k, v in self.initial_ranges.items()},
            "complements": {k: list(v) for k, v in self.complements.items()},
            "rate_ranges": {k: list(v) for k, v in self.rate_ranges.items()},
            "dt": self.dt, "n_steps": self.n_steps, "observed": list(self.observed),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "CRN":
        d = dict(d)
        d["reactions"] = [Reaction(**r) for r in d["reactions"]]
        return cls(**d)

    def content_hash(self) -> str:
        """SHA-256 (hex, 16 chars) of the model's canonical JSON: same model, same hash."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def __repr__(self) -> str:
        return (f"CRN({self.name!r}, species={list(self.species)}, {len(self.reactions)} reactions, "
                f"{len(self.parameters)} parameters, dt={self.dt}, n_steps={self.n_steps})")
