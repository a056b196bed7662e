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
from functools import cached_property
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..seeding import SeedLike, as_generator
from .conservation import ConservationLaw, ConservedGroup, conservation_matrix, find_conservation_laws

__all__ = ["Reaction", "CRN", "warn_if_custom_sampling"]


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
        Inclusive integer ranges for randomised initial states, drawn uniformly and
        independently; species absent here and in no conserved group keep their default count.
    complements : dict[str, (str, int)]
        Shorthand for a conserved pair: ``{"G2": ("G1", 4)}`` is the group ``G1 + G2 = 4`` drawn
        uniformly (``G1`` uniform on ``0..4``).  Converted into ``conserved_groups``; after
        construction it lists the pair groups in this form (derived, never stored).
    conserved_groups : sequence of ConservedGroup or dict
        Groups of species whose initial counts are drawn over the simplex of a conserved total
        (``{"species": ["G1", "G2", "G3"], "total": 2, "sampling": "multinomial"}``); the
        network must conserve each group's sum, and the default state must have its total.
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
    conserved_groups: Sequence[ConservedGroup] = ()
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
        self._normalise_groups()
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
        for names, what in ((self.initial_ranges, "initial_ranges"), (dict.fromkeys(self.observed), "observed")):
            unknown = set(names) - species
            if unknown:
                raise ValueError(f"model {self.name!r}: {what} names unknown species {sorted(unknown)}")
        unknown = set(self.rate_ranges) - set(self.parameters)
        if unknown:
            raise ValueError(f"model {self.name!r}: rate_ranges names unknown parameters {sorted(unknown)}")
        if self.dt <= 0 or self.n_steps < 1:
            raise ValueError(f"model {self.name!r}: dt must be > 0 and n_steps >= 1")
        for s, (lo, hi) in self.initial_ranges.items():
            if lo < 0 or hi < lo:
                raise ValueError(f"model {self.name!r}: initial_ranges[{s!r}] = ({lo}, {hi}) is not a range of counts")
        self._validate_groups()

    def _normalise_groups(self) -> None:
        """``conserved_groups`` as ConservedGroup objects, ``complements`` folded into them."""
        groups = [g if isinstance(g, ConservedGroup) else ConservedGroup.from_dict(g) for g in self.conserved_groups]
        ranges = dict(self.initial_ranges)
        for s, (other, total) in dict(self.complements).items():
            g = ConservedGroup((str(other), str(s)), int(total))
            if any(set(h.species) == set(g.species) for h in groups):
                continue
            rng = ranges.pop(str(other), None)
            if rng is not None and tuple(rng) != (0, int(total)):
                raise ValueError(f"model {self.name!r}: complements {{{s!r}: ({other!r}, {total})}} with "
                                 f"initial_ranges[{other!r}] = {tuple(rng)}: the pair is drawn over 0..{total}; "
                                 f"drop the range or declare a conserved group")
            groups.append(g)
        object.__setattr__(self, "conserved_groups", tuple(groups))
        object.__setattr__(self, "initial_ranges", ranges)
        object.__setattr__(self, "complements", {g.species[1]: (g.species[0], g.total) for g in groups
                                                 if len(g.species) == 2 and isinstance(g.total, int)})

    def _validate_groups(self) -> None:
        seen: dict[str, str] = {}
        nu = self.stoichiometry()
        for g in self.conserved_groups:
            label = " + ".join(g.species)
            unknown = [s for s in g.species if s not in self.species]
            if unknown:
                raise ValueError(f"model {self.name!r}: conserved group {label} names unknown species {unknown}")
            for s in g.species:
                if s in seen:
                    raise ValueError(f"model {self.name!r}: species {s!r} is in two conserved groups "
                                     f"({seen[s]} and {label})")
                if s in self.initial_ranges:
                    raise ValueError(f"model {self.name!r}: species {s!r} has an initial range and is in the "
                                     f"conserved group {label}; the group draws it")
                seen[s] = label
            change = nu[:, self.species_index(g.species)].sum(axis=1)
            if change.any():
                j = int(np.flatnonzero(change)[0])
                raise ValueError(f"model {self.name!r}: {label} is not conserved: reaction "
                                 f"{self.reactions[j].name!r} changes it by {int(change[j]):+d}")
            lo, hi = g.total_range
            default = sum(self.initial_state[s] for s in g.species)
            if not lo <= default <= hi:  # a warning, not an error: models saved before groups existed load
                import warnings

                want = lo if lo == hi else f"in {lo}..{hi}"
                warnings.warn(f"model {self.name!r}: the default initial state has {label} = {default}, but the "
                              f"conserved group's total is {want}: simulations from the default state leave the "
                              f"randomised states' range (an emulator warns there)", UserWarning, stacklevel=4)

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

    @cached_property
    def conservation_laws(self) -> tuple[ConservationLaw, ...]:
        """The network's conservation laws, from its stoichiometry (exact, non-negative integers).

        Each :class:`~sciope_abs.crn.conservation.ConservationLaw` has ``species``, integer
        ``weights`` and the ``total`` in the default initial state; every exact trajectory keeps
        each law at the value it started with.  See :func:`~sciope_abs.crn.conservation.conservation_basis`.
        """
        return find_conservation_laws(self.species, self.stoichiometry(), self.default_initial_state())

    @property
    def conservation_matrix(self) -> np.ndarray:
        """Weights of :attr:`conservation_laws`, shape ``(L, S)``, int64."""
        return conservation_matrix(self.conservation_laws, self.n_species)

    def law_total_ranges(self) -> np.ndarray:
        """Smallest and largest value of each law over randomised initial states, shape ``(L, 2)``.

        From the initial ranges, the conserved groups' totals and the default counts of the
        other species; an emulator warns for initial states outside these (it was not trained there).
        """
        W = self.conservation_matrix
        lo = W @ self.default_initial_state()
        hi = lo.copy()
        for s, (a, b) in self.initial_ranges.items():
            i = self.species_index([s])[0]
            d = self.initial_state[s]
            lo += W[:, i] * (a - d)
            hi += W[:, i] * (b - d)
        for g in self.conserved_groups:
            idx = self.species_index(g.species)
            default = W[:, idx] @ np.array([self.initial_state[s] for s in g.species])
            t_lo, t_hi = g.total_range
            lo += W[:, idx].min(axis=1) * t_lo - default
            hi += W[:, idx].max(axis=1) * t_hi - default
        return np.stack([lo, hi], axis=1)

    # ------------------------------------------------------------------ randomisation
    def sample_initial_states(self, n: int, seed: SeedLike = None) -> np.ndarray:
        """Randomised initial states, shape ``(n, S)``, int64.

        Species with a range draw uniformly from it (inclusive), each conserved group draws its
        counts over its simplex (:class:`~sciope_abs.crn.conservation.ConservedGroup`), and the
        rest keep their default count.  Every conserved group keeps its total exactly.
        """
        rng = as_generator(seed)
        x = np.tile(self.default_initial_state(), (int(n), 1))
        pos = {s: i for i, s in enumerate(self.species)}
        rules = [(pos[s], s) for s in self.initial_ranges] + [(min(pos[s] for s in g.species), g)
                                                               for g in self.conserved_groups]
        for _, rule in sorted(rules, key=lambda r: r[0]):  # in species order: one stream, stable numbers
            if isinstance(rule, ConservedGroup):
                x[:, self.species_index(rule.species)] = rule.sample(int(n), rng)
            else:
                lo, hi = self.initial_ranges[rule]
                x[:, pos[rule]] = rng.integers(lo, hi + 1, size=int(n))
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
            "conserved_groups": [g.to_dict() for g in self.conserved_groups],
            "rate_ranges": {k: list(v) for k, v in self.rate_ranges.items()},
            "dt": self.dt, "n_steps": self.n_steps, "observed": list(self.observed),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "CRN":
        """The model of :meth:`to_dict` (older dicts with ``complements`` are read too)."""
        d = dict(d)
        d["reactions"] = [Reaction(**r) for r in d["reactions"]]
        d["conserved_groups"] = [ConservedGroup.from_dict(g) for g in d.get("conserved_groups", ())]
        return cls(**d)

    def content_hash(self) -> str:
        """SHA-256 (hex, 16 chars) of the model's canonical JSON: same model, same hash."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def __repr__(self) -> str:
        return (f"CRN({self.name!r}, species={list(self.species)}, {len(self.reactions)} reactions, "
                f"{len(self.parameters)} parameters, dt={self.dt}, n_steps={self.n_steps})")


def warn_if_custom_sampling(model: CRN) -> None:
    """Warn when a CRN subclass overrides ``sample_initial_states``: only the declarative rule
    (``initial_ranges``, ``conserved_groups``) is saved with a dataset or an emulator, so a loaded
    copy samples by that rule."""
    import warnings

    if type(model).sample_initial_states is not CRN.sample_initial_states:
        warnings.warn(f"model {model.name!r} is a {type(model).__name__} with its own sample_initial_states; "
                      "what is saved (and loaded) is the declarative rule of initial_ranges and "
                      "conserved_groups: declare the sampling there to keep it", UserWarning, stacklevel=3)
