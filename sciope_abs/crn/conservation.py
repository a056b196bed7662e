"""Conservation laws of a reaction network, computed exactly from its stoichiometry.

A conservation law is a weight vector ``c`` with ``nu @ c = 0`` (``nu``: the ``(R, S)`` net-change
matrix): every reaction leaves ``c @ x`` unchanged, so every exact trajectory keeps the value it
started with.  :func:`conservation_basis` returns the laws as **non-negative integer** vectors:
the minimal-support semi-positive invariants (Farkas' algorithm on exact Python integers, as for
the P-invariants of a Petri net), of which a linearly independent set is kept, smallest supports
first.  When the network has a strictly positive invariant (a conserved "mass"), these span the
whole left null space; otherwise laws that need negative weights (``A - B`` conserved by
``0 -> A + B``) are not listed: they bound nothing and the projection below does not use them.

:class:`ConservationLaw` names a law's species, weights and its total in a reference state
(``crn.conservation_laws`` uses the model's default state).  :func:`project_counts` maps
proposed counts (an emulator's draw) onto the integer, non-negative states that keep given
totals, vectorised over rows; :func:`count_violations` counts the (trajectory, step) cells of
trajectories that break a law.

:class:`ConservedGroup` is the declarative initial-state rule for a conserved group of species
(gene states ``G1 + G2 + G3 = 2``): the counts are drawn over the group's simplex, uniformly or
multinomially.  Plain data, serialised with the model.

numpy only (plus :mod:`fractions` for exact ranks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["ConservationLaw", "ConservedGroup", "conservation_basis", "nullity", "find_conservation_laws",
           "conservation_matrix", "law_values", "count_violations", "project_counts", "law_correction",
           "GROUP_SAMPLING"]

#: ways a conserved group's counts are drawn over its simplex
GROUP_SAMPLING = ("uniform", "multinomial")

#: Farkas' algorithm keeps at most this many candidate rows (a pathological network says so)
_MAX_ROWS = 20000
#: counts are integers in float64 up to here
_EXACT = 2.0 ** 52


# ---------------------------------------------------------------------------- exact linear algebra
def _rank(rows: Sequence[Sequence[int]]) -> int:
    """Exact rank of an integer matrix (Gaussian elimination over the rationals)."""
    m = [[Fraction(int(v)) for v in r] for r in rows]
    rank, n_cols = 0, len(m[0]) if m else 0
    for col in range(n_cols):
        piv = next((i for i in range(rank, len(m)) if m[i][col] != 0), None)
        if piv is None:
            continue
        m[rank], m[piv] = m[piv], m[rank]
        for i in range(rank + 1, len(m)):
            if m[i][col] != 0:
                f = m[i][col] / m[rank][col]
                m[i] = [a - f * b for a, b in zip(m[i], m[rank])]
        rank += 1
    return rank


def nullity(nu: np.ndarray) -> int:
    """Dimension of the left null space (number of independent conservation laws, any sign).

    Parameters
    ----------
    nu : array, shape (R, S)
        Net stoichiometry, reactions by species.
    """
    nu = np.asarray(nu, dtype=np.int64)
    S = nu.shape[1]
    return S - (_rank(nu.tolist()) if nu.shape[0] else 0)


def _normalise(c: list[int], y: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    g = 0
    for v in (*c, *y):
        g = math.gcd(g, v)
    g = g or 1
    return tuple(v // g for v in c), tuple(v // g for v in y)


def _prune(rows: list) -> list:
    """Drop duplicates and rows whose species support strictly contains another row's."""
    uniq = list(dict.fromkeys(rows))
    supports = [frozenset(i for i, v in enumerate(y) if v) for _, y in uniq]
    keep = []
    for a, sa in enumerate(supports):
        if not any(sb < sa for b, sb in enumerate(supports) if b != a):
            keep.append(uniq[a])
    return keep


def _semipositive_invariants(nu: np.ndarray) -> list[tuple[int, ...]]:
    """Minimal-support non-negative integer ``y`` with ``nu @ y = 0`` (Farkas' algorithm)."""
    R, S = nu.shape
    C = nu.T.tolist()  # species x reactions
    rows = [(tuple(int(v) for v in C[i]), tuple(int(k == i) for k in range(S))) for i in range(S)]
    for j in range(R):
        pos = [r for r in rows if r[0][j] > 0]
        neg = [r for r in rows if r[0][j] < 0]
        new = [r for r in rows if r[0][j] == 0]
        for ca, ya in pos:
            for cb, yb in neg:
                a, b = ca[j], -cb[j]
                new.append(_normalise([b * u + a * v for u, v in zip(ca, cb)],
                                      [b * u + a * v for u, v in zip(ya, yb)]))
        rows = _prune(new)
        if len(rows) > _MAX_ROWS:
            raise ValueError(f"conservation laws: more than {_MAX_ROWS} candidate invariants after "
                             f"{j + 1} of {R} reactions; the network is too large for the exact search")
    return [y for _, y in rows]


def conservation_basis(nu: np.ndarray) -> np.ndarray:
    """Independent non-negative integer conservation laws of a stoichiometry matrix.

    Parameters
    ----------
    nu : array, shape (R, S)
        Net change of each species (columns) by each reaction (rows), integers.

    Returns
    -------
    array, shape (L, S), int64
        Each row ``c`` satisfies ``nu @ c == 0``, has non-negative entries with greatest common
        divisor 1, and minimal support; the rows are linearly independent, ordered by support
        size then by their first species.  ``L <= nullity(nu)``, with equality whenever some
        strictly positive law exists.
    """
    nu = np.asarray(nu)
    if nu.ndim != 2:
        raise ValueError(f"stoichiometry must be a 2-D (reactions, species) array, got shape {nu.shape}")
    if not np.all(nu == np.round(nu)):
        raise ValueError("stoichiometry must hold integers")
    nu = nu.astype(np.int64)
    S = nu.shape[1]
    if nu.shape[0] == 0:
        return np.eye(S, dtype=np.int64)
    cands = _semipositive_invariants(nu)
    cands.sort(key=lambda y: (sum(1 for v in y if v), [i for i, v in enumerate(y) if v], sum(y)))
    chosen: list[tuple[int, ...]] = []
    for y in cands:
        if _rank([*chosen, y]) == len(chosen) + 1:
            chosen.append(y)
    return np.array(chosen, dtype=np.int64).reshape(len(chosen), S)


# ---------------------------------------------------------------------------- laws
@dataclass(frozen=True)
class ConservationLaw:
    """One conserved weighted total ``sum_i weights[i] * x[species[i]]``.

    Parameters
    ----------
    species : tuple of str
        The species with a non-zero weight, in the model's order.
    weights : tuple of int
        Their positive integer weights.
    total : int
        The law's value in the reference state (the model's default initial state).
    indices : tuple of int
        Positions of ``species`` in the model's species order.
    n_species : int
        Number of species of the model.
    """

    species: tuple[str, ...]
    weights: tuple[int, ...]
    total: int
    indices: tuple[int, ...]
    n_species: int

    @property
    def vector(self) -> np.ndarray:
        """Weights over all species, shape ``(S,)``, int64."""
        c = np.zeros(self.n_species, dtype=np.int64)
        c[list(self.indices)] = self.weights
        return c

    def value(self, x: ArrayLike) -> np.ndarray:
        """The law's value of states ``x`` (shape ``(..., S)``), shape ``(...)``."""
        x = np.asarray(x)
        return x[..., list(self.indices)] @ np.asarray(self.weights, dtype=x.dtype if x.dtype.kind == "f" else np.int64)

    def to_dict(self) -> dict:
        return {"species": list(self.species), "weights": list(self.weights), "total": int(self.total)}

    def __str__(self) -> str:
        terms = [s if w == 1 else f"{w} {s}" for s, w in zip(self.species, self.weights)]
        return f"{' + '.join(terms)} = {self.total}"


def find_conservation_laws(species: Sequence[str], nu: np.ndarray, state: ArrayLike) -> tuple[ConservationLaw, ...]:
    """The laws of :func:`conservation_basis` as :class:`ConservationLaw` objects.

    Parameters
    ----------
    species : sequence of str
        The ``S`` species names (column order of ``nu``).
    nu : array, shape (R, S)
    state : array, shape (S,)
        Reference state whose law values become the ``total`` of each law.
    """
    species = tuple(species)
    basis = conservation_basis(nu)
    state = np.asarray(state, dtype=np.int64)
    out = []
    for c in basis:
        idx = tuple(int(i) for i in np.flatnonzero(c))
        out.append(ConservationLaw(tuple(species[i] for i in idx), tuple(int(c[i]) for i in idx),
                                   int(c @ state), idx, len(species)))
    return tuple(out)


def conservation_matrix(laws: Sequence[ConservationLaw] | np.ndarray, n_species: int | None = None) -> np.ndarray:
    """Stack laws into a weight matrix, shape ``(L, S)``, int64 (an array passes through)."""
    if isinstance(laws, np.ndarray):
        return laws.astype(np.int64).reshape(-1, laws.shape[-1] if laws.ndim else 0)
    laws = list(laws)
    if not laws:
        return np.zeros((0, int(n_species or 0)), dtype=np.int64)
    return np.stack([law.vector for law in laws])


def law_values(x: ArrayLike, laws: Sequence[ConservationLaw] | np.ndarray) -> np.ndarray:
    """Law values of states ``x`` (shape ``(..., S)``), shape ``(..., L)``."""
    x = np.asarray(x)
    W = conservation_matrix(laws, x.shape[-1])
    return x @ W.T.astype(x.dtype if x.dtype.kind == "f" else np.int64)


def count_violations(traces: ArrayLike, laws: Sequence[ConservationLaw] | np.ndarray, species_axis: int = 2) -> int:
    """Number of (trajectory, time) cells whose law values differ from the trajectory's start.

    Parameters
    ----------
    traces : array, shape (n, r, S, T)
        Counts (species on ``species_axis``, time on the last axis); rows with NaN are skipped
        (failed simulations).
    laws : sequence of ConservationLaw or array (L, S)

    Returns
    -------
    int
        Cells ``(i, j, t)``, ``t >= 1``, where some law's value differs from its value at ``t = 0``.
    """
    x = np.moveaxis(np.asarray(traces, dtype=np.float64), species_axis, -1)  # (n, r, T, S)
    W = conservation_matrix(laws, x.shape[-1]).astype(np.float64)
    if W.shape[0] == 0 or x.shape[-2] < 2:
        return 0
    v = x @ W.T                                                          # (n, r, T, L)
    ok = np.isfinite(v).all(axis=(-1, -2))
    bad = (v[..., 1:, :] != v[..., :1, :]).any(axis=-1) & ok[..., None]
    return int(bad.sum())


# ---------------------------------------------------------------------------- projection
#: weight of a held species (a categorical low-copy one) in :func:`law_correction`
_HELD_WEIGHT = 1e-6


def law_correction(laws: Sequence[ConservationLaw] | np.ndarray, n_species: int | None = None,
                   hold: Sequence[int] = (), variances: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The least-change correction of real-valued states onto the laws: ``y' = y @ P + t @ Q``.

    ``y'`` is the point nearest to ``y`` (in the metric ``D^-1``, ``D = diag(variances)``) with
    ``W y' = t``: ``y' = y - D W^T (W D W^T)^-1 (W y - t)``, i.e. the law residual is shared out
    over all the law's species, in proportion to their weights and variances, instead of being
    left to one of them.  For independent Gaussian proposals with variances ``D`` this is their
    exact conditional on the laws.
    An emulator applies it to its real-valued draws before rounding: with one *pivot* species
    taking the whole remainder (:func:`project_counts` alone), the pivot of a law over many
    species gets the sum of all their noise (EGFR's free EGF: one-step spread 9.5 counts against
    the SSA's 0.7; 1.3 with this correction).  ``hold`` species (categorical low-copy ones, drawn
    as exact joint values) get weight ``1e-6``, so they are moved only in a law of held species
    alone.  Laws over two species are left out: their pivot carries the noise of one other
    species only, as its own draw would, and the complement rule ``G2 = T - G1`` keeps ``G1``
    as drawn, consistent with the rest of the state.

    Parameters
    ----------
    laws : sequence of ConservationLaw or array (L, S)
    n_species : int, optional
        ``S`` when ``laws`` is empty.
    hold : sequence of int
        Species indices kept (nearly) fixed.
    variances : array (S,), optional
        Variance of each species' proposal (default 1 each); an emulator passes its training
        data's one-step increment variances.

    Returns
    -------
    P : array (S, S), Q : array (L, S)
        float64; the rows of ``Q`` of laws over two species are 0, and ``P = I``, ``Q = 0``
        without a law over three or more species.
    """
    W_all = conservation_matrix(laws, n_species).astype(np.float64)
    L, S = W_all.shape
    keep = (W_all != 0).sum(axis=1) > 2                         # pairs keep the complement rule
    Q = np.zeros((L, S))
    if not keep.any():
        return np.eye(S), Q
    W = W_all[keep]
    d = np.ones(S) if variances is None else np.asarray(variances, dtype=np.float64).reshape(S)
    if not (np.isfinite(d).all() and (d > 0).all()):
        raise ValueError(f"law_correction: variances must be {S} positive numbers, got {variances!r:.80}")
    d = d / d.max()
    d[list(hold)] = _HELD_WEIGHT
    K = (d[:, None] * W.T) @ np.linalg.inv((W * d) @ W.T)      # D W^T (W D W^T)^-1, (S, L')
    Q[keep] = K.T
    return np.eye(S) - W.T @ K.T, Q

def _plan(W: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per law: (private species, shared species); private ones appear in no other law."""
    in_laws = (W > 0).sum(axis=0)
    plan = []
    for row in W:
        members = np.flatnonzero(row > 0)
        private = members[in_laws[members] == 1]
        plan.append((private, np.setdiff1d(members, private)))
    return plan


def _tie_noise(rng, shape) -> np.ndarray:
    if rng is None:
        return np.zeros(shape)
    if isinstance(rng, np.ndarray):
        if rng.shape != shape:
            raise ValueError(f"project_counts: tie-breaking noise must have shape {shape}, got {rng.shape}")
        return rng
    return np.random.default_rng(rng).random(shape) if not isinstance(rng, np.random.Generator) else rng.random(shape)


def _apportion(y: np.ndarray, w: np.ndarray, budget: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer counts ``z >= 0`` (m, k) with ``z @ w == budget``, proportional to ``y``.

    Largest-remainder rounding (ties broken by ``noise``); returns ``(z, ok)`` where ``ok`` is
    False for rows that no integer combination of the weights could fill.
    """
    m, k = y.shape
    mass = y @ w
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(mass > 0, budget / np.maximum(mass, 1), 0.0)
    v = np.where((mass > 0)[:, None], y * scale[:, None], budget[:, None] / (k * w[None, :]))
    z = np.floor(v).astype(np.int64)
    over = z @ w > budget
    while over.any():                        # float round-up: give units back until it fits
        z[over] = np.maximum(z[over] - 1, 0)
        over = z @ w > budget
    gap = budget - z @ w
    order = np.lexsort((-noise, -(v - z)), axis=-1)
    rows = np.arange(m)
    for q in range(k):                       # one more unit each, largest remainder first
        col = order[:, q]
        add = gap >= w[col]
        z[rows[add], col[add]] += 1
        gap = gap - np.where(add, w[col], 0)
    for q in range(k):                       # weights > 1: fill what is left where it divides
        col = order[:, q]
        units = np.where(gap % w[col] == 0, gap // w[col], 0)
        z[rows, col] += units
        gap = gap - units * w[col]
    return z, gap == 0


def _scale_shared(z: np.ndarray, Wf: np.ndarray, T: np.ndarray, plan, noise: np.ndarray) -> None:
    """In place: where a law's shared species alone exceed its total, scale them down to it.

    Largest-remainder rounding (:func:`_apportion`), so the shared species give back only the
    excess (a plain floor of each scaled count would drop up to one unit per species, which the
    law's pivot then absorbs: on EGFR, with 11 shared species of weight 2, ~10 counts a step).
    Where the weights cannot fill the total exactly, up to ``weight - 1`` is left to the pivot.
    """
    for law, (_, shared) in enumerate(plan):
        if shared.size == 0:
            continue
        w = Wf[law, shared]
        mass = z[:, shared] @ w
        rows = np.flatnonzero(mass > T[:, law])
        if rows.size:
            sub = np.ix_(rows, shared)
            z[sub], _ = _apportion(z[sub], w.astype(np.int64), T[rows, law].astype(np.int64), noise[sub])


def _fill_private(z: np.ndarray, W: np.ndarray, Wf: np.ndarray, total: np.ndarray, law: int, private: np.ndarray,
                  shared: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """In place: the law's private species keep their counts (shared out if they overshoot), the
    pivot takes the remainder; returns the rows that could be filled exactly."""
    budget = total - (z[:, shared] @ Wf[law, shared] if shared.size else 0.0)
    if private.size == 0:
        return budget == 0
    ok = np.ones(len(z), dtype=bool)
    w = Wf[law, private]
    unit = np.flatnonzero(w == 1)
    pivot = int(unit[-1]) if unit.size else private.size - 1      # the last unit-weight private species
    kept = np.delete(np.arange(private.size), pivot)
    if kept.size:                                                # trusted ones overshoot: share the total
        cols = private[kept]
        mass = z[:, cols] @ w[kept]
        rows = np.flatnonzero(mass > budget)
        if rows.size:
            sub = np.ix_(rows, cols)
            zk, fits = _apportion(z[sub], W[law, cols], budget[rows].astype(np.int64), noise[sub])
            z[sub] = zk
            ok[rows] &= fits
            budget = budget - z[:, cols] @ w[kept]
        else:
            budget = budget - mass
    wp = float(w[pivot])
    z[:, private[pivot]] = budget // wp
    return ok & (budget % wp == 0)


def project_counts(x: ArrayLike, laws: Sequence[ConservationLaw] | np.ndarray, totals: ArrayLike,
                   rng: np.random.Generator | int | np.ndarray | None = None,
                   fallback: np.ndarray | None = None) -> np.ndarray:
    """Integer, non-negative states that keep given conserved totals, changing few species.

    Each law has a *pivot*: its last species with weight 1 that is in no other law (the
    complement).  The law's other species keep their proposed counts unless these alone exceed
    the total: then they are scaled down to it (species shared with other laws first, by floor;
    then the law's own, by largest-remainder rounding).  The pivot takes what is left.  A pair
    ``G1 + G2 = T`` thus becomes ``G1`` clipped to ``[0, T]`` and ``G2 = T - G1``; a group
    ``G1 + G2 + G3 = T`` keeps ``G1, G2`` (shared out if ``G1 + G2 > T``) and ``G3 = T - G1 - G2``.
    Keeping the proposal of every species but one matters for an emulator: its draws of a group's
    species are jointly consistent with the other species', and rescaling them all would mix in
    the noise of each.  Exact in integers; a state that keeps the totals is returned unchanged.

    Parameters
    ----------
    x : array, shape (n, S)
        Proposed counts (rounded and clipped at 0 first; non-finite values count as 0).
    laws : sequence of ConservationLaw or array (L, S)
        Non-negative integer weights.
    totals : array, shape (n, L)
        Integer total of each law per row (e.g. each trajectory's initial value).
    rng : None, Generator, int or array (n, S), optional
        Breaks ties between equal remainders when a law's kept species are scaled down (an array: uniform noise per row and species, as an
        emulator draws per trajectory); None: ties go to the first species.
    fallback : array, shape (n, S), optional
        States that keep the totals (e.g. the previous step), used for rows that the laws'
        structure lets no repair fill (a law with no private species, or a pivot weight that does
        not divide the remainder).  Without it such rows raise ``ValueError``.

    Returns
    -------
    array, shape (n, S), float64
        Integer-valued counts with ``W @ row == totals`` for every row.
    """
    y = np.asarray(x, dtype=np.float64)
    if y.ndim != 2:
        raise ValueError(f"project_counts: x must have shape (n, S), got {y.shape}")
    y = np.where(np.isfinite(y), y, 0.0)
    y = np.clip(np.round(y), 0.0, None)
    W = conservation_matrix(laws, y.shape[1])
    n, S = y.shape
    if W.shape[0] == 0:
        return y
    if W.shape[1] != S or (W < 0).any():
        raise ValueError(f"project_counts: laws must be non-negative weights over {S} species, got shape {W.shape}")
    T = np.asarray(totals)
    if T.shape != (n, W.shape[0]) or not np.all(T == np.round(T)) or (T < 0).any():
        raise ValueError(f"project_counts: totals must be non-negative integers of shape ({n}, {W.shape[0]}), "
                         f"got shape {T.shape}")
    # integers held in float64 (exact below 2**53; BLAS products instead of numpy's integer loops)
    T = T.astype(np.float64)
    z = np.minimum(y, _EXACT)
    Wf = W.astype(np.float64)
    noise = _tie_noise(rng, (n, S))
    ok = np.ones(n, dtype=bool)
    plan = _plan(W)
    _scale_shared(z, Wf, T, plan, noise)
    for law, (private, shared) in enumerate(plan):  # private species: the pivot takes the remainder
        ok &= _fill_private(z, W, Wf, T[:, law], law, private, shared, noise)
    if not ok.all():
        if fallback is None:
            i = int(np.argmin(ok))
            raise ValueError(f"project_counts: {int((~ok).sum())} of {n} rows cannot be repaired onto the laws "
                             f"(first: row {i}, totals {T[i].astype(np.int64).tolist()}); pass fallback= states that keep them")
        fb = np.asarray(fallback, dtype=np.float64)
        if fb.shape != (n, S):
            raise ValueError(f"project_counts: fallback must have shape ({n}, {S}), got {fb.shape}")
        z[~ok] = np.round(fb[~ok])
    wrong = (z @ Wf.T != T).any(axis=1)
    if wrong.any():
        bad = int(np.argmax(wrong))
        raise ValueError(f"project_counts: row {bad} does not keep its totals {T[bad].astype(np.int64).tolist()} "
                         f"(a fallback state that breaks them?)")
    return z


# ---------------------------------------------------------------------------- initial-state groups
@dataclass(frozen=True)
class ConservedGroup:
    """A group of species whose counts sum to a conserved total, drawn over their simplex.

    Parameters
    ----------
    species : tuple of str
        Two or more species (unit weights: ``sum(x[species]) == total``); the network must
        conserve their sum.
    total : int or (int, int)
        The total, or an inclusive range it is drawn from uniformly per state.
    sampling : {"uniform", "multinomial"}
        ``"uniform"``: every composition of the total is equally likely (for a pair, the first
        species is uniform on ``0..total``); ``"multinomial"``: ``Multinomial(total, probs)``.
    probs : tuple of float, optional
        Category probabilities for ``"multinomial"`` (default: equal).
    """

    species: tuple[str, ...]
    total: int | tuple[int, int]
    sampling: str = "uniform"
    probs: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "species", tuple(str(s) for s in self.species))
        t = self.total
        t = (int(t[0]), int(t[1])) if isinstance(t, (list, tuple)) else int(t)
        object.__setattr__(self, "total", t)
        if self.probs is not None:
            object.__setattr__(self, "probs", tuple(float(p) for p in self.probs))
        k = len(self.species)
        if k < 1 or len(set(self.species)) != k:
            raise ValueError(f"conserved group {list(self.species)}: needs distinct species")
        lo, hi = self.total_range
        if lo < 0 or hi < lo:
            raise ValueError(f"conserved group {list(self.species)}: total must be >= 0 (a range low <= high), "
                             f"got {self.total!r}")
        if self.sampling not in GROUP_SAMPLING:
            raise ValueError(f"conserved group {list(self.species)}: sampling must be one of {GROUP_SAMPLING}, "
                             f"got {self.sampling!r}")
        if self.probs is not None:
            p = np.asarray(self.probs)
            if self.sampling != "multinomial" or p.shape != (k,) or (p < 0).any() or abs(p.sum() - 1) > 1e-9:
                raise ValueError(f"conserved group {list(self.species)}: probs must be {k} non-negative numbers "
                                 f"summing to 1, with sampling='multinomial'")

    @property
    def total_range(self) -> tuple[int, int]:
        """Inclusive (low, high) of the total."""
        return self.total if isinstance(self.total, tuple) else (self.total, self.total)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws of the group's counts, shape ``(n, k)``, int64, each row summing to its total."""
        k, (lo, hi) = len(self.species), self.total_range
        totals = rng.integers(lo, hi + 1, size=n) if hi > lo else np.full(n, lo, dtype=np.int64)
        if self.sampling == "multinomial":
            p = np.full(k, 1.0 / k) if self.probs is None else np.asarray(self.probs)
            return np.stack([rng.multinomial(int(t), p) for t in totals]) if n else np.zeros((0, k), np.int64)
        if k == 2:  # a pair: the first species uniform on 0..total, the second its complement
            first = rng.integers(0, totals + 1, size=n) if hi > lo else rng.integers(0, lo + 1, size=n)
            return np.stack([first, totals - first], axis=1).astype(np.int64)
        # uniform over compositions: k - 1 bars among t + k - 1 slots (stars and bars)
        out = np.zeros((n, k), dtype=np.int64)
        for t in np.unique(totals):
            rows = np.flatnonzero(totals == t)
            slots = int(t) + k - 1
            bars = np.sort(np.argsort(rng.random((rows.size, slots)), axis=1)[:, :k - 1], axis=1)
            edges = np.concatenate([np.full((rows.size, 1), -1), bars, np.full((rows.size, 1), slots)], axis=1)
            out[rows] = np.diff(edges, axis=1) - 1
        return out

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"species": list(self.species), "total": list(self.total) if isinstance(self.total, tuple) else self.total,
             "sampling": self.sampling}
        if self.probs is not None:
            d["probs"] = list(self.probs)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "ConservedGroup":
        unknown = set(d) - {"species", "total", "sampling", "probs"}
        if unknown:
            raise ValueError(f"conserved group: unknown keys {sorted(unknown)}")
        return cls(tuple(d["species"]), d["total"], d.get("sampling", "uniform"), d.get("probs"))
