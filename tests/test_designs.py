"""Designs: support, stratification, seeding, Sobol without warnings, factorial grid, maximin."""
import warnings

import numpy as np
import pytest

from sciope_abs.designs import (DESIGNS, Factorial, Halton, LatinHypercube, Maximin, RandomDesign,
                                SequentialMaximin, Sobol, get_design)
from sciope_abs.priors import JointPrior, LogUniform, Normal, Uniform

PRIOR = JointPrior({"a": Uniform(-1, 1), "b": LogUniform(0.01, 100.0), "c": Normal(5.0, 1.0, low=4.0, high=8.0)})


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_inside_support_shape_and_seeded(name):
    design = get_design(name, PRIOR)
    n = 27 if name == "factorial" else 50
    x = design.generate(n, seed=11)
    assert x.shape == (n, 3)
    sup = PRIOR.support
    assert np.all((x >= sup[:, 0]) & (x <= sup[:, 1]))
    np.testing.assert_array_equal(x, design.generate(n, seed=11))
    if name != "factorial":
        assert not np.array_equal(x, design.generate(n, seed=12))


def test_lhs_hits_every_stratum_once_per_dimension():
    n = 40
    prior = JointPrior({"a": Uniform(0, 10), "b": LogUniform(1, 1e4)})
    x = LatinHypercube(prior).generate(n, seed=3)
    # stratum of each point in probability space
    strata_a = np.floor(x[:, 0] / 10 * n).astype(int)
    strata_b = np.floor(np.log10(x[:, 1]) / 4 * n).astype(int)
    assert sorted(strata_a) == list(range(n))
    assert sorted(strata_b) == list(range(n))
    # a random design of the same size misses strata (the test could fail)
    r = RandomDesign(prior).generate(n, seed=3)
    assert len(set(np.floor(r[:, 0] / 10 * n).astype(int))) < n


def test_sobol_non_power_of_two_is_silent_and_prefix_of_power_of_two():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x100 = Sobol(PRIOR).generate(100, seed=5)
        x128 = Sobol(PRIOR).generate(128, seed=5)
    np.testing.assert_array_equal(x100, x128[:100])
    # balance at n = 2^m: exactly half the points in each half of every dimension
    u = PRIOR.select(["a"]).dists[0]
    assert np.sum(x128[:, 0] < u.ppf([0.5])[0]) == 64


def test_quasi_random_designs_are_more_uniform_than_random():
    from scipy.stats import qmc

    prior = JointPrior({"x": Uniform(0, 1), "y": Uniform(0, 1)})
    disc = {}
    for cls in (Sobol, Halton, LatinHypercube, RandomDesign):
        disc[cls.__name__] = np.mean([qmc.discrepancy(cls(prior).generate(64, seed=s)) for s in range(5)])
    assert disc["Sobol"] < disc["RandomDesign"] and disc["Halton"] < disc["RandomDesign"]
    assert disc["LatinHypercube"] < disc["RandomDesign"]


def test_factorial_grid_and_rounding_rule():
    prior = JointPrior({"a": Uniform(0, 1), "b": Uniform(10, 20)})
    g = Factorial(prior, levels=[2, 3]).generate()
    assert g.shape == (6, 2)
    np.testing.assert_allclose(np.unique(g[:, 0]), [0.25, 0.75])
    np.testing.assert_allclose(np.unique(g[:, 1]), [10 + 10 / 6, 15, 20 - 10 / 6])
    e = Factorial(prior, levels=3, endpoints=True).generate(9)
    np.testing.assert_allclose(np.unique(e[:, 0]), [0, 0.5, 1])
    with pytest.raises(ValueError, match="has 6 points, asked for n=7"):
        Factorial(prior, levels=[2, 3]).generate(7)
    with pytest.warns(UserWarning, match="3 levels per dimension = 9 points"):
        x = Factorial(prior).generate(10)
    assert x.shape == (9, 2)
    with pytest.raises(ValueError, match="bounded support"):
        Factorial(JointPrior({"a": Normal(0, 1)}), endpoints=True)
    with pytest.raises(ValueError, match="levels has 3 entries"):
        Factorial(prior, levels=[2, 2, 2])


def test_maximin_beats_plain_lhs_for_same_seeds():
    prior = JointPrior({"x": Uniform(0, 1), "y": Uniform(0, 1), "z": Uniform(0, 1)})
    seeds = range(8)
    mm = [Maximin.min_distance(Maximin(prior, n_candidates=15).generate(30, seed=s)) for s in seeds]
    lhs = [Maximin.min_distance(LatinHypercube(prior).generate(30, seed=s)) for s in seeds]
    assert all(m >= l for m, l in zip(mm, lhs))
    assert np.mean(mm) > 1.2 * np.mean(lhs)


def test_bad_input():
    with pytest.raises(ValueError, match="unknown design 'grid'"):
        get_design("grid", PRIOR)
    with pytest.raises(ValueError, match="positive integer"):
        Sobol(PRIOR).generate(0)
    with pytest.raises(ValueError, match="n_candidates"):
        Maximin(PRIOR, n_candidates=0)
    # a dict is accepted as prior
    assert Halton({"k": Uniform(0, 1)}).generate(4, seed=0).shape == (4, 1)


def _unit(prior, x):
    """Unit-cube coordinates of Uniform / LogUniform points (for checking distances)."""
    out = np.empty_like(x)
    for j, d in enumerate(prior.dists):
        lo, hi = d.support
        log = isinstance(d, LogUniform)
        out[:, j] = np.log(x[:, j] / lo) / np.log(hi / lo) if log else (x[:, j] - lo) / (hi - lo)
    return out


def test_sequential_maximin_points_are_farther_than_random_candidates():
    prior = JointPrior({"a": Uniform(0, 10), "b": LogUniform(1, 1e4), "c": Uniform(-1, 1)})
    existing = LatinHypercube(prior).generate(20, seed=1)
    new = SequentialMaximin(prior).extend(existing, 15, seed=2)
    assert new.shape == (15, 3) and np.all(prior.contains(new))
    np.testing.assert_array_equal(new, SequentialMaximin(prior).extend(existing, 15, seed=2))
    ue, un = _unit(prior, existing), _unit(prior, new)
    rng = np.random.default_rng(3)
    ratios = []
    for i in range(15):
        before = np.vstack([ue, un[:i]])
        d_new = np.min(np.linalg.norm(before - un[i], axis=1))
        rand = rng.random((2000, 3))
        d_rand = np.min(np.linalg.norm(rand[:, None, :] - before[None], axis=2), axis=1)
        # the chosen point is the best of >= 200 candidates: above the random 90th percentile
        assert d_new >= np.quantile(d_rand, 0.9), (i, d_new)
        ratios.append(d_new / d_rand.mean())
    assert np.mean(ratios) > 1.5
    # distances are measured in probability space: b is spread over its decades, not its range
    assert np.mean(new[:, 1] < 100) > 0.2


def test_sequential_maximin_as_a_design_and_bad_input():
    x = get_design("sequential_maximin", PRIOR).generate(30, seed=4)
    assert x.shape == (30, 3)
    u = SequentialMaximin(PRIOR).unit(30, seed=4)
    r = RandomDesign(PRIOR).unit(30, seed=4)
    assert Maximin.min_distance(u) > Maximin.min_distance(r)
    with pytest.raises(ValueError, match="outside the prior"):
        SequentialMaximin(PRIOR).extend(np.array([[5.0, 1.0, 5.0]]), 2)
    with pytest.raises(ValueError, match="shape"):
        SequentialMaximin(PRIOR).extend(np.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="p must be"):
        SequentialMaximin(PRIOR, p=0.5)
