"""Conservation laws from the stoichiometry, conserved-group sampling and the exact projection."""
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
from _three_gene import three_gene_model  # noqa: E402

from sciope_abs.crn import CRN, Reaction, load_model  # noqa: E402
from sciope_abs.crn.conservation import (ConservedGroup, conservation_basis, count_violations,  # noqa: E402
                                         law_correction, nullity, project_counts)

# hand-derived: {species: weight} per law, and the total in the default state
_DIMERS = ["R2", "RP", "RPLCg", "RPLCgP", "RG", "RGS", "RSh", "RShP", "RShG", "RShGS"]
HAND = {
    "x16": [({"G1": 1, "G2": 1}, 4)],
    "x40": [({"G1": 1, "G2": 1}, 2)],
    "gene": [({"G0": 1, "G1": 1}, 1)],
    "sir": [({"S": 1, "I": 1, "R": 1}, 300)],
    "toggle_switch": [],
    "bees": [({"Bee": 1, "BeeA": 1, "BeeD": 1}, 20)],
    "vilar": [({"Da": 1, "Da_prime": 1}, 1), ({"Dr": 1, "Dr_prime": 1}, 1)],
    "egfr": [  # receptor and ligand (a dimer holds two of each), and the four adaptor/enzyme pools
        ({"R": 1, "Ra": 1, **{d: 2 for d in _DIMERS}}, 100),
        ({"EGF": 1, "Ra": 1, **{d: 2 for d in _DIMERS}}, 680),
        ({"PLCg": 1, "RPLCg": 1, "RPLCgP": 1, "PLCgP": 1, "PLCgl": 1}, 105),
        ({"Grb": 1, "RG": 1, "RGS": 1, "GS": 1, "RShG": 1, "ShG": 1, "RShGS": 1, "ShGS": 1}, 85),
        ({"SOS": 1, "RGS": 1, "GS": 1, "RShGS": 1, "ShGS": 1}, 34),
        ({"Shc": 1, "RSh": 1, "RShP": 1, "ShP": 1, "RShG": 1, "ShG": 1, "RShGS": 1, "ShGS": 1}, 150),
    ],
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_library_laws_equal_the_hand_derived_ones(name):
    m = load_model(name)
    got = {(frozenset(zip(law.species, law.weights)), law.total) for law in m.conservation_laws}
    want = {(frozenset(d.items()), t) for d, t in HAND[name]}
    assert got == want
    nu = m.stoichiometry()
    assert not (nu @ m.conservation_matrix.T).any()
    assert len(m.conservation_laws) == nullity(nu)  # every library law is non-negative


def _random_conservative_network(rng, S=7, R=9):
    """Reactions that conserve a hidden positive integer mass per species, plus free species."""
    mass = rng.integers(1, 4, size=S)
    nu = []
    while len(nu) < R:
        left = rng.integers(0, 3, size=S) * (rng.random(S) < 0.4)
        right = rng.integers(0, 3, size=S) * (rng.random(S) < 0.4)
        diff = left @ mass - right @ mass
        if diff > 0:       # top up the products with unit-mass species, or the heaviest that fits
            right[np.argmin(mass)] += diff // mass.min()
            diff = left @ mass - right @ mass
        if diff != 0 or not (right - left).any():
            continue
        nu.append(right - left)
    return np.array(nu), mass


def test_random_networks_laws_annihilate_their_stoichiometry_and_span_the_null_space():
    rng = np.random.default_rng(11)
    for _ in range(25):
        nu, mass = _random_conservative_network(rng)
        B = conservation_basis(nu)
        assert B.dtype == np.int64 and (B >= 0).all() and B.shape[1] == nu.shape[1]
        assert not (nu @ B.T).any()
        assert np.linalg.matrix_rank(B) == B.shape[0]
        # a strictly positive law (the hidden mass) exists, so the non-negative laws span them all
        assert B.shape[0] == nullity(nu) >= 1
        assert np.linalg.matrix_rank(np.vstack([B, mass])) == B.shape[0]
    for _ in range(25):  # any random network: whatever laws are found are laws
        nu = rng.integers(-2, 3, size=(rng.integers(1, 6), 6))
        B = conservation_basis(nu)
        assert (B >= 0).all() and not (nu @ B.T).any() and B.shape[0] <= nullity(nu)


def test_a_law_that_needs_a_negative_weight_is_not_listed():
    nu = np.array([[1, 1]])                       # 0 -> A + B: A - B conserved, nothing non-negative
    assert nullity(nu) == 1 and conservation_basis(nu).shape == (0, 2)


@pytest.mark.parametrize("sampling", ["uniform", "multinomial"])
def test_three_species_group_is_drawn_over_its_simplex(sampling):
    m = three_gene_model(sampling)
    assert [str(law) for law in m.conservation_laws] == ["G1 + G2 + G3 = 2"]
    n = 6000
    x = m.sample_initial_states(n, seed=5)
    g = x[:, :3]
    assert (g.sum(axis=1) == 2).all() and (g >= 0).all()
    assert x[:, 3].min() >= 0 and x[:, 3].max() <= 60
    comps = [(2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0), (1, 0, 1), (0, 1, 1)]
    counts = np.array([(g == c).all(axis=1).sum() for c in comps])
    assert counts.sum() == n
    p = np.full(6, 1 / 6) if sampling == "uniform" else np.array([1, 1, 1, 2, 2, 2]) / 9
    assert stats.chisquare(counts, n * p).pvalue > 1e-3
    # a wrong rule would be refused: uniform vs multinomial differ by 1/6 vs 1/9 on the corners
    q = np.array([1, 1, 1, 2, 2, 2]) / 9 if sampling == "uniform" else np.full(6, 1 / 6)
    assert stats.chisquare(counts, n * q).pvalue < 1e-6


def test_group_total_range_and_bad_groups_are_refused():
    g = ConservedGroup(("A", "B", "C"), (3, 5), "multinomial", (0.2, 0.3, 0.5))
    x = g.sample(500, np.random.default_rng(0))
    assert set(np.unique(x.sum(axis=1))) == {3, 4, 5}
    assert ConservedGroup.from_dict(g.to_dict()) == g
    with pytest.raises(ValueError, match="sampling must be one of"):
        ConservedGroup(("A", "B"), 2, "gaussian")
    with pytest.raises(ValueError, match="probs must be 2"):
        ConservedGroup(("A", "B"), 2, "multinomial", (0.5, 0.6))
    base = three_gene_model()
    d = base.to_dict()
    with pytest.raises(ValueError, match=r"G1 \+ P is not conserved: reaction 's12' changes it by -1"):
        CRN.from_dict({**d, "initial_ranges": {}, "conserved_groups": [{"species": ["G1", "P"], "total": 12}]})
    with pytest.warns(UserWarning, match=r"default initial state has G1 \+ G2 \+ G3 = 2, but .* total is 4"):
        CRN.from_dict({**d, "conserved_groups": [{"species": ["G1", "G2", "G3"], "total": 4}]})
    old_x16 = {**load_model("x16").to_dict(), "initial_state": {"G1": 1, "G2": 1, "P1": 800}}
    with pytest.warns(UserWarning, match=r"G1 \+ G2 = 2"):   # saved before the default was fixed: loads
        assert CRN.from_dict(old_x16).conservation_laws[0].total == 2
    with pytest.raises(ValueError, match="has an initial range and is in the conserved group"):
        CRN.from_dict({**d, "initial_ranges": {"G1": [0, 2]}})


def test_complements_shorthand_becomes_a_group_and_the_model_round_trips():
    r = [Reaction("on", {"G1": 1}, {"G2": 1}, rate="k"), Reaction("off", {"G2": 1}, {"G1": 1}, rate="k")]
    m = CRN("pair", ("G1", "G2"), {"k": 1.0}, r, {"G1": 3, "G2": 1}, initial_ranges={"G1": (0, 4)},
            complements={"G2": ("G1", 4)})
    assert m.conserved_groups == (ConservedGroup(("G1", "G2"), 4),) and m.initial_ranges == {}
    assert m.complements == {"G2": ("G1", 4)}
    back = CRN.from_dict(m.to_dict())
    assert back == m and back.content_hash() == m.content_hash()
    np.testing.assert_array_equal(back.sample_initial_states(50, seed=1), m.sample_initial_states(50, seed=1))
    old = {**m.to_dict(), "complements": {"G2": ["G1", 4]}, "initial_ranges": {"G1": [0, 4]}}
    del old["conserved_groups"]                  # a model saved before conserved groups existed
    assert CRN.from_dict(old) == m
    with pytest.raises(ValueError, match=r"initial_ranges\['G1'\] = \(0, 1\)"):
        CRN("pair", ("G1", "G2"), {"k": 1.0}, r, {"G1": 3, "G2": 1}, initial_ranges={"G1": (0, 1)},
            complements={"G2": ("G1", 4)})


def test_projection_is_exact_non_negative_integer_and_keeps_feasible_states():
    rng = np.random.default_rng(3)
    for name in ("egfr", "x16", "sir", "vilar", "bees"):
        m = load_model(name)
        W = m.conservation_matrix
        x0 = m.sample_initial_states(400, seed=1)
        T = x0 @ W.T
        prop = x0 + rng.normal(0, 5 + 0.2 * x0, x0.shape)
        y = project_counts(prop, W, T, rng=rng, fallback=x0)
        assert np.array_equal(y @ W.T, T) and (y >= 0).all() and np.array_equal(y, np.round(y))
        free = W.sum(axis=0) == 0                # species in no law keep their rounded proposal
        np.testing.assert_array_equal(y[:, free], np.clip(np.round(prop[:, free]), 0, None))
        np.testing.assert_array_equal(project_counts(x0, W, T), x0)   # feasible states are kept
        assert np.abs(y - prop).mean() < 2 * np.abs(np.round(prop) - prop).mean() + np.abs(prop - x0).mean()


def test_projection_keeps_all_but_the_complement_and_shares_out_an_overshoot():
    W = np.array([[1, 1, 1, 0]])                  # G1 + G2 + G3 = 2, a free species
    x = np.array([[4.0, 4.0, 0.0, 7.0], [0.0, 0.0, 0.0, 1.0], [6.0, 2.0, 0.0, -3.0], [1.0, 0.0, 1.0, 2.0],
                  [0.4, 1.2, 3.0, 0.0]])
    y = project_counts(x, W, np.full((5, 1), 2))
    assert y.tolist() == [[1, 1, 0, 7], [0, 0, 2, 1], [2, 0, 0, 0], [1, 0, 1, 2], [0, 1, 1, 0]]
    # a pair: today's complement rule G1 -> clip(G1, 0, T), G2 = T - G1, exactly
    prop = np.random.default_rng(0).normal(2, 3, size=(500, 2))
    y = project_counts(prop, np.array([[1, 1]]), np.full((500, 1), 4))
    g1 = np.clip(np.clip(np.round(prop[:, 0]), 0, None), 0, 4)
    np.testing.assert_array_equal(y, np.stack([g1, 4 - g1], axis=1))
    # (1, 1, 0) proposals with total 1: the tie goes where the noise is largest
    ties = [project_counts([[1.0, 1.0, 0.0, 0.0]], W, [[1]], rng=np.array([[a, b, 0.0, 0.0]]))[0, :2].tolist()
            for a, b in ((0.9, 0.1), (0.1, 0.9))]
    assert ties == [[1, 0], [0, 1]]
    many = project_counts(np.tile([1.0, 1.0, 0.0, 0.0], (4000, 1)), W, np.ones((4000, 1)), rng=0)
    assert abs(many[:, 0].mean() - 0.5) < 4 * 0.5 / np.sqrt(4000)            # unbiased tie-breaking


def test_shared_species_over_the_total_give_back_only_the_excess():
    # EGFR's receptor law R + Ra + 2 * dimers = T_R: move the free R onto Ra (shared with the
    # ligand law) plus one more, so the shared species overshoot T_R by exactly one count.  The
    # repair gives back that one (R ends at 0 or 1); a floor of every scaled shared count dropped
    # up to one unit per species, which the pivots R and EGF then absorbed (~10 counts)
    m = load_model("egfr")
    W = m.conservation_matrix
    i_r, i_ra, i_egf = (m.species.index(s) for s in ("R", "Ra", "EGF"))
    x0 = m.sample_initial_states(300, seed=2).astype(float)
    x0 = x0[x0[:, i_egf] >= x0[:, i_r] + 2]       # the ligand law keeps room: only T_R overshoots
    assert len(x0) > 100
    T = x0 @ W.T
    prop = x0.copy()
    prop[:, i_ra] += x0[:, i_r] + 1.0
    prop[:, i_r] = 0.0
    y = project_counts(prop, W, T, rng=0, fallback=x0)
    assert np.array_equal(y @ W.T, T) and (y >= 0).all()
    assert y[:, i_r].max() <= 1
    assert np.abs(y[:, i_egf] - (x0[:, i_egf] - x0[:, i_r])).max() <= 2


def test_law_correction_is_the_nearest_point_on_the_laws_and_holds_held_species():
    rng = np.random.default_rng(5)
    m = load_model("egfr")
    W = m.conservation_matrix.astype(float)
    S = W.shape[1]
    x0 = m.sample_initial_states(50, seed=3).astype(float)
    T = x0 @ W.T
    y = x0 + rng.normal(0, 3, x0.shape)
    P, Q = law_correction(W, S)
    yc = y @ P + T @ Q
    np.testing.assert_allclose(yc @ W.T, T, atol=1e-8)
    # the nearest point: y - yc is in the row space of W (orthogonal to the laws' null space)
    null = np.linalg.svd(W)[2][W.shape[0]:]
    np.testing.assert_allclose((y - yc) @ null.T, 0, atol=1e-8)
    np.testing.assert_allclose(x0 @ P + T @ Q, x0, atol=1e-8)     # a state on the laws is kept
    # the pivot-free correction spreads the residual: the free ligand moves by a fraction of it
    i_egf = m.species.index("EGF")
    assert np.abs(yc[:, i_egf] - y[:, i_egf]).mean() < 0.2 * np.abs(y @ W.T - T).max(axis=1).mean()
    # held species (G1, G2 of a pair and a free protein P): not moved while another can be
    Wp = np.array([[1, 1, 0, 1]])                 # G1 + G2 + P' = 3
    P2, Q2 = law_correction(Wp, 4, hold=[0, 1])
    v = np.array([[1.0, 1.0, 5.0, 2.6]])
    out = v @ P2 + np.array([[3.0]]) @ Q2
    np.testing.assert_allclose(out[0, :3], [1.0, 1.0, 5.0], atol=1e-5)
    np.testing.assert_allclose(out[0, 3], 1.0, atol=1e-5)
    # with variances, a species of larger variance takes more of the residual
    P5, Q5 = law_correction(np.array([[1, 1, 1]]), 3, variances=[1.0, 1.0, 4.0])
    shift = np.array([[1.0, 1.0, 1.0]]) @ P5 + np.array([[0.0]]) @ Q5 - 1.0
    np.testing.assert_allclose(shift[0], [-0.5, -0.5, -2.0])
    with pytest.raises(ValueError, match="variances must be 3 positive"):
        law_correction(np.array([[1, 1, 1]]), 3, variances=[1.0, 0.0, 1.0])
    P3, Q3 = law_correction(np.zeros((0, 3)), 3)
    assert np.array_equal(P3, np.eye(3)) and Q3.shape == (0, 3)
    # a pair keeps the complement rule (no correction); a triple next to it is corrected
    P4, Q4 = law_correction(np.array([[1, 1, 0, 0, 0], [0, 0, 1, 1, 1]]), 5)
    assert not Q4[0].any() and Q4[1].any()
    np.testing.assert_allclose(P4[:2, :2], np.eye(2))


def test_projection_without_private_species_needs_a_fallback():
    W = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]])   # every species is in two laws
    x0 = np.array([[1.0, 1.0, 1.0]])
    T = x0 @ W.T
    with pytest.raises(ValueError, match="cannot be repaired onto the laws.*fallback"):
        project_counts([[3.0, 0.0, 0.0]], W, T)
    np.testing.assert_array_equal(project_counts([[3.0, 0.0, 0.0]], W, T, fallback=x0), x0)
    with pytest.raises(ValueError, match="totals must be non-negative integers"):
        project_counts(x0, W, [[1.5, 2, 2]])


def test_count_violations_counts_cells_that_leave_the_initial_total():
    W = np.array([[1, 1, 0]])
    tr = np.zeros((2, 3, 3, 4))
    tr[:, :, 0] = 2
    tr[:, :, 1] = 1                               # G1 + G2 = 3 everywhere: no violation
    assert count_violations(tr, W) == 0
    tr[0, 1, 0, 2] = 5                            # one cell
    tr[1, 2, 1, 1:] = 0                           # three cells of one trajectory
    tr[1, 0, 2, 3] = 9                            # a free species: not a violation
    assert count_violations(tr, W) == 4
    tr[0, 0, :, :] = np.nan                       # a failed trajectory is skipped
    assert count_violations(tr, W) == 4
