"""Mixture components and the mixture head: densities against scipy, sampling moments, fits."""
import numpy as np
import pytest
from scipy import special, stats

tf = pytest.importorskip("tensorflow")

from sciope_abs.abstraction.bodies import mlp_body  # noqa: E402
from sciope_abs.abstraction.components import COMPONENTS, MIN_SCALE, Component, get_component, register_component  # noqa: E402
from sciope_abs.abstraction.layers import MixtureHead  # noqa: E402
from sciope_abs.abstraction.mixture import (head_size, mixture_log_prob, mixture_nll,  # noqa: E402
                                            mixture_parameters, mixture_sample, mixture_sample_from_noise)
from sciope_abs.abstraction.network import build_mdn  # noqa: E402
from sciope_abs.abstraction.training import fit_mdn  # noqa: E402


def softplus(v):
    return np.logaddexp(0.0, v) + MIN_SCALE


def tril_from_raw(raw, d):
    L, k = np.zeros((d, d)), 0
    for i in range(d):
        for j in range(i + 1):
            L[i, j] = softplus(raw[k]) if i == j else raw[k]
            k += 1
    return L


RNG = np.random.default_rng(0)
B, D = 9, 3


def test_registry_has_the_three_families_and_rejects_unknown():
    assert {"diag_normal", "full_normal", "lognormal"} <= set(COMPONENTS)
    assert get_component("full_normal").n_params(3) == 3 + 6
    assert get_component("diag_normal").n_params(3) == 6
    with pytest.raises(ValueError, match="unknown mixture component 'gamma'"):
        get_component("gamma")


def test_diag_normal_log_prob_matches_scipy():
    p = RNG.normal(size=(B, 2 * D)).astype(np.float32)
    y = RNG.normal(size=(B, D)).astype(np.float32)
    got = get_component("diag_normal").log_prob(p, y).numpy()
    want = stats.norm.logpdf(y, p[:, :D], softplus(p[:, D:].astype(np.float64))).sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_full_normal_log_prob_matches_scipy_multivariate_normal():
    comp = get_component("full_normal")
    p = RNG.normal(size=(B, comp.n_params(D))).astype(np.float32)
    y = RNG.normal(size=(B, D)).astype(np.float32)
    got = comp.log_prob(p, y).numpy()
    want = []
    for i in range(B):
        L = tril_from_raw(p[i, D:].astype(np.float64), D)
        want.append(stats.multivariate_normal(p[i, :D], L @ L.T).logpdf(y[i]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    L0 = tril_from_raw(p[0, D:].astype(np.float64), D)
    np.testing.assert_allclose(comp.covariance(p[:1]).numpy()[0], L0 @ L0.T, rtol=1e-5, atol=1e-5)


def test_lognormal_log_prob_matches_scipy():
    p = RNG.normal(size=(B, 2 * D)).astype(np.float32)
    y = np.exp(RNG.normal(size=(B, D))).astype(np.float32)
    got = get_component("lognormal").log_prob(p, y).numpy()
    want = stats.lognorm.logpdf(y, s=softplus(p[:, D:].astype(np.float64)), scale=np.exp(p[:, :D])).sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    assert np.isfinite(get_component("lognormal").log_prob(p, np.zeros_like(y)).numpy()).all()


@pytest.mark.parametrize("component", ["diag_normal", "full_normal", ["diag_normal", "diag_normal", "full_normal", "full_normal"]])
def test_mixture_log_prob_matches_numpy_logsumexp(component):
    K = 4
    h = RNG.normal(size=(B, head_size(K, D, component))).astype(np.float32)
    y = RNG.normal(size=(B, D)).astype(np.float32)
    got = mixture_log_prob(y, h, K, D, component).numpy()
    names = [component] * K if isinstance(component, str) else component
    logw = h[:, :K] - special.logsumexp(h[:, :K], axis=1, keepdims=True)
    comp_lp = np.empty((B, K))
    off = K
    for k, name in enumerate(names):
        c = get_component(name)
        n = c.n_params(D)
        for i in range(B):
            raw = h[i, off:off + n].astype(np.float64)
            if name == "diag_normal":
                comp_lp[i, k] = stats.norm.logpdf(y[i], raw[:D], softplus(raw[D:])).sum()
            else:
                L = tril_from_raw(raw[D:], D)
                comp_lp[i, k] = stats.multivariate_normal(raw[:D], L @ L.T).logpdf(y[i])
        off += n
    want = special.logsumexp(logw + comp_lp, axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert float(mixture_nll(y, h, K, D, component)) == pytest.approx(-want.mean(), rel=1e-5)


def test_bad_mixture_specs_are_one_line_value_errors():
    with pytest.raises(ValueError, match="different support"):
        head_size(2, 1, ["diag_normal", "lognormal"])
    with pytest.raises(ValueError, match="component list has 1 names"):
        head_size(2, 1, ["diag_normal"])
    with pytest.raises(ValueError, match="expected 6"):
        mixture_log_prob(np.zeros((2, 1)), np.zeros((2, 5)), 2, 1, "diag_normal")


def test_component_sampling_moments():
    n = 40000
    mu, raw = np.array([1.0, -2.0]), np.array([0.3, -1.0])
    sigma = softplus(raw)
    p = np.tile(np.r_[mu, raw], (n, 1)).astype(np.float32)
    s = get_component("diag_normal").sample(p, seed=1).numpy()
    np.testing.assert_allclose(s.mean(0), mu, atol=5 * sigma.max() / np.sqrt(n))
    np.testing.assert_allclose(s.std(0), sigma, rtol=0.03)

    full = get_component("full_normal")
    tril = np.array([0.5, 0.8, 0.2])
    p = np.tile(np.r_[mu, tril], (n, 1)).astype(np.float32)
    s = full.sample(p, seed=2).numpy()
    L = tril_from_raw(tril, 2)
    cov = L @ L.T
    np.testing.assert_allclose(s.mean(0), mu, atol=5 * np.sqrt(cov.diagonal().max() / n))
    np.testing.assert_allclose(np.cov(s.T), cov, atol=0.04 * cov.diagonal().max())

    p = np.tile(np.r_[mu, raw], (n, 1)).astype(np.float32)
    s = get_component("lognormal").sample(p, seed=3).numpy()
    assert (s > 0).all()
    np.testing.assert_allclose(np.log(s).mean(0), mu, atol=5 * sigma.max() / np.sqrt(n))
    np.testing.assert_allclose(np.median(s, axis=0), np.exp(mu), rtol=0.05)


def test_mixture_sampling_picks_components_by_weight_and_is_seeded():
    n, K = 30000, 3
    w = np.array([0.2, 0.5, 0.3])
    means = np.array([-10.0, 0.0, 10.0])
    row = np.r_[np.log(w), np.c_[means, np.full(K, -3.0)].ravel()]  # per component (mu, raw sd): sd ~ 0.05
    h = np.tile(row, (n, 1)).astype(np.float32)
    s = mixture_sample(h, K, 1, "diag_normal", seed=5).numpy()[:, 0]
    frac = np.array([(np.abs(s - m) < 1).mean() for m in means])
    assert (np.abs(frac - w) < 4 * np.sqrt(w * (1 - w) / n)).all(), frac
    again = mixture_sample(h[:100], K, 1, "diag_normal", seed=5).numpy()
    other = mixture_sample(h[:100], K, 1, "diag_normal", seed=6).numpy()
    np.testing.assert_array_equal(again, mixture_sample(h[:100], K, 1, "diag_normal", seed=5).numpy())
    assert not np.array_equal(again, other)
    # explicit noise: u picks the component by the inverse CDF of the weights
    u = np.array([0.1, 0.3, 0.69, 0.71, 0.99], np.float32)
    got = mixture_sample_from_noise(h[:5], K, 1, "diag_normal", u, np.zeros((5, 1), np.float32)).numpy()[:, 0]
    np.testing.assert_allclose(got, [-10, 0, 0, 10, 10], atol=1e-5)


def test_a_registered_component_plugs_into_the_mixture():
    @register_component
    class UnitNormal(Component):
        """N(mu, 1): one parameter per dimension (a minimal plug-in)."""

        name = "test_unit_normal"

        def n_params(self, event_dim):
            return int(event_dim)

        def log_prob(self, params, y):
            return tf.reduce_sum(-0.5 * tf.square(y - params) - 0.5 * np.log(2 * np.pi), axis=-1)

        def sample_from_noise(self, params, eps):
            return params + eps

        def mean(self, params):
            return params

    try:
        h = np.array([[0.0, 0.0, -1.0, 2.0]], np.float32)  # two equal weights, means -1 and 2
        got = float(mixture_log_prob(np.array([[0.5]], np.float32), h, 2, 1, "test_unit_normal")[0])
        want = np.log(0.5 * stats.norm.pdf(0.5, -1) + 0.5 * stats.norm.pdf(0.5, 2))
        assert got == pytest.approx(want, rel=1e-5)
    finally:
        COMPONENTS.pop("test_unit_normal")


def _fit(x, y, x_val, y_val, K, component, hidden=(32, 32), epochs=60):
    mdn = build_mdn(mlp_body(x.shape[1], hidden, seed=1), K, y.shape[1], component, seed=2)
    hist = fit_mdn(mdn, (x, y), (x_val, y_val), epochs=epochs, batch_size=256, learning_rate=5e-3,
                   patience=8, seed=0, progress=False)
    return mdn, hist


def test_mdn_fits_a_conditional_bimodal_1d_distribution():
    rng = np.random.default_rng(1)

    def draw(m):
        x = rng.uniform(-1, 1, (m, 1))
        low = rng.random(m) < 0.3
        y = np.where(low, x[:, 0] - 2, x[:, 0] + 2) + 0.3 * rng.standard_normal(m)
        return x.astype(np.float32), y[:, None].astype(np.float32)

    mdn, hist = _fit(*draw(3000), *draw(600), K=2, component="diag_normal")
    xq = np.array([[-0.5], [0.0], [0.5]], np.float32)
    w, loc = mixture_parameters(mdn(xq), 2, 1, "diag_normal")
    order = np.argsort(loc[:, :, 0], axis=1)
    w = np.take_along_axis(w, order, 1)
    loc = np.take_along_axis(loc[:, :, 0], order, 1)
    np.testing.assert_allclose(w, [[0.3, 0.7]] * 3, atol=0.06)
    np.testing.assert_allclose(loc, np.c_[xq[:, 0] - 2, xq[:, 0] + 2], atol=0.3)
    # the fit beats a single Gaussian's best possible NLL on validation (sd of the bimodal mix)
    sd = np.sqrt(0.3 * 0.7 * 16 + 0.09)
    assert hist["best_val_loss"] < 0.5 * np.log(2 * np.pi * np.e * sd**2) - 0.5


def test_full_normal_mixture_fits_a_correlated_2d_distribution():
    rng = np.random.default_rng(2)
    c1 = np.array([[0.25, 0.2], [0.2, 0.25]])      # correlation +0.8
    c2 = np.array([[0.25, -0.1], [-0.1, 0.25]])    # correlation -0.4

    def draw(m):
        k = rng.random(m) < 0.5
        y = np.where(k[:, None], rng.multivariate_normal([-2, -2], c1, m), rng.multivariate_normal([2, 1], c2, m))
        return rng.uniform(-1, 1, (m, 1)).astype(np.float32), y.astype(np.float32)

    mdn, _ = _fit(*draw(3000), *draw(600), K=2, component="full_normal")
    head = mdn(np.zeros((1, 1), np.float32))
    w, loc = mixture_parameters(head, 2, 2, "full_normal")
    order = np.argsort(loc[0, :, 0])
    np.testing.assert_allclose(w[0, order], [0.5, 0.5], atol=0.06)
    np.testing.assert_allclose(loc[0, order], [[-2, -2], [2, 1]], atol=0.2)
    comp = get_component("full_normal")
    n_p = comp.n_params(2)
    covs = [comp.covariance(head[:, 2 + k * n_p: 2 + (k + 1) * n_p]).numpy()[0] for k in order]
    corr = [c[0, 1] / np.sqrt(c[0, 0] * c[1, 1]) for c in covs]
    np.testing.assert_allclose(corr, [0.8, -0.4], atol=0.15)


def test_mixture_head_is_a_serialisable_keras_layer(tmp_path):
    import keras

    mdn = build_mdn(mlp_body(2, (8,), seed=0), 3, 2, ["diag_normal", "full_normal", "full_normal"], seed=1)
    x = RNG.normal(size=(4, 2)).astype(np.float32)
    mdn.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(back(x).numpy(), mdn(x).numpy(), rtol=1e-6)
    head = [layer for layer in back.layers if isinstance(layer, MixtureHead)][0]
    assert head.component == ["diag_normal", "full_normal", "full_normal"]


# --------------------------------------------------------------------------- categorical (low-copy)
CAT = {"name": "categorical", "event_dim": 4, "groups": [[0], [2, 3]],
       "values": [[[-1.0], [0.0], [1.0]], [[0.0, 1.0], [0.5, 0.0]]], "steps": [[1.0], [0.5, 1.0]],
       "base": "diag_normal"}


def test_categorical_log_prob_is_the_class_mass_times_the_base_density():
    comp = get_component(CAT)
    assert comp.n_params(4) == 2 + 3 + 2 and comp.support == "real" and comp.cont == [1] and comp.dims == [0, 2, 3]
    p = RNG.normal(size=(B, comp.n_params(4))).astype(np.float32)
    k0, k1 = RNG.integers(0, 3, B), RNG.integers(0, 2, B)
    pair = np.array([[0.0, 1.0], [0.5, 0.0]])[k1]
    y = np.c_[np.array([-1.0, 0.0, 1.0])[k0], RNG.normal(size=B), pair]
    noise = np.c_[RNG.uniform(-0.45, 0.45, B), np.zeros(B), RNG.uniform(-0.2, 0.2, B), RNG.uniform(-0.45, 0.45, B)]
    got = comp.log_prob(p, (y + noise).astype(np.float32)).numpy()      # dequantised targets
    want = stats.norm.logpdf(y[:, 1], p[:, 0], softplus(p[:, 1].astype(np.float64)))
    for k, a, m in ((k0, 2, 3), (k1, 5, 2)):
        logits = p[:, a:a + m].astype(np.float64)
        want = want + (logits - special.logsumexp(logits, axis=1, keepdims=True))[np.arange(B), k]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert get_component(comp.config()).config() == comp.config()
    with pytest.raises(ValueError, match="configured for 4 dimensions"):
        comp.n_params(3)
    with pytest.raises(ValueError, match="disjoint"):
        get_component({**CAT, "groups": [[0], [0, 3]]})
    with pytest.raises(ValueError, match="needs a configuration"):
        get_component("categorical")


def test_categorical_samples_follow_the_class_probabilities():
    comp = get_component(CAT)
    n = 20000
    p = np.zeros((n, comp.n_params(4)), np.float32)
    p[:, 2:5] = np.log([0.2, 0.5, 0.3])
    p[:, 5:7] = np.log([0.9, 0.1])
    draws = comp.sample(p, seed=4).numpy()
    assert set(np.unique(draws[:, 0])) <= {-1.0, 0.0, 1.0}
    pairs = {tuple(r) for r in draws[:, 2:].tolist()}
    assert pairs <= {(0.0, 1.0), (0.5, 0.0)}                          # a group moves jointly
    for freq, probs in ((np.array([(draws[:, 0] == v).mean() for v in (-1.0, 0.0, 1.0)]), [0.2, 0.5, 0.3]),
                        (np.array([(draws[:, 2] == v).mean() for v in (0.0, 0.5)]), [0.9, 0.1])):
        se = np.sqrt(np.array(probs) * (1 - np.array(probs)) / n)
        assert np.all(np.abs(freq - probs) < 4 * se), (freq, probs)
    # the continuous dimension is the base Normal (mu 0, sigma softplus(0))
    assert abs(draws[:, 1].std() - softplus(0.0)) < 4 * softplus(0.0) / np.sqrt(2 * n)


def test_categorical_mixture_head_trains_serialises_and_reports_class_probabilities(tmp_path):
    """A 2-class dimension with P(class 1 | x) = 0.2 + 0.6 [x > 0] beside a Normal dimension."""
    import keras

    from sciope_abs.abstraction.mixture import mixture_class_probabilities

    rng = np.random.default_rng(7)
    spec = {"name": "categorical", "event_dim": 2, "groups": [[1]], "values": [[[0.0], [1.0]]], "steps": [[1.0]],
            "base": "diag_normal"}

    def draw(m):
        x = rng.uniform(-1, 1, (m, 1))
        c = rng.random(m) < 0.2 + 0.6 * (x[:, 0] > 0)
        y = np.c_[x[:, 0] + 0.3 * rng.standard_normal(m), c + rng.uniform(-0.45, 0.45, m)]
        return x.astype(np.float32), y.astype(np.float32)

    mdn, hist = _fit(*draw(3000), *draw(600), K=1, component=spec)
    xq = np.array([[-0.5], [0.5]], np.float32)
    (g, (vals, probs)), = mixture_class_probabilities(mdn(xq), 1, 2, spec).items()
    assert g == (1,) and vals.ravel().tolist() == [0.0, 1.0]
    se = np.sqrt(0.2 * 0.8 / 1500)                  # ~1500 training points on each side of 0
    np.testing.assert_allclose(probs[:, 1], [0.2, 0.8], atol=4 * se + 0.02)
    mdn.save(tmp_path / "c.keras")
    back = keras.saving.load_model(tmp_path / "c.keras", safe_mode=True)
    np.testing.assert_allclose(back(xq).numpy(), mdn(xq).numpy(), rtol=1e-6)
    assert [la for la in back.layers if isinstance(la, MixtureHead)][0].component == spec


def test_conditional_categorical_gives_the_base_its_own_parameters_per_class():
    spec = {"name": "categorical", "event_dim": 2, "groups": [[0]], "values": [[[0.0], [1.0]]], "steps": [[1.0]],
            "base": "diag_normal", "conditional": True}
    comp = get_component(spec)
    assert comp.n_params(2) == 2 * 2 + 2                              # (mu, sigma) per class + 2 logits
    n = 20000
    p = np.zeros((n, 6), np.float32)
    p[:, 0], p[:, 2] = -3.0, 3.0                                      # mu of class 0 and of class 1
    p[:, 4:6] = np.log([0.3, 0.7])
    y = np.array([[0.1, -2.0], [0.9, 2.5]], np.float32)
    want = [np.log(0.3) + stats.norm.logpdf(-2.0, -3.0, softplus(0.0)),
            np.log(0.7) + stats.norm.logpdf(2.5, 3.0, softplus(0.0))]
    np.testing.assert_allclose(comp.log_prob(p[:2], y).numpy(), want, rtol=1e-5)
    draws = comp.sample(p, seed=2).numpy()
    c1 = draws[:, 0] == 1.0
    assert abs(c1.mean() - 0.7) < 4 * np.sqrt(0.21 / n)
    se = softplus(0.0) / np.sqrt(n * 0.3)
    assert abs(draws[~c1, 1].mean() + 3.0) < 4 * se and abs(draws[c1, 1].mean() - 3.0) < 4 * se
    np.testing.assert_allclose(comp.mean(p[:1]).numpy(), [[0.7, 0.3 * -3.0 + 0.7 * 3.0]], rtol=1e-5)
    with pytest.raises(ValueError, match="exactly one group"):
        get_component({**spec, "groups": [[0], [1]], "values": [[[0.0]], [[1.0]]], "steps": [[1.0], [1.0]]})


def test_low_copy_species_and_law_groups():
    from sciope_abs.abstraction.components import group_by_laws, low_copy_species

    states = np.c_[np.arange(20) % 3, np.arange(20), np.full(20, 7)]
    assert low_copy_species(states, 3) == [0, 2] and low_copy_species(states, 2) == [2]
    assert group_by_laws([0, 1, 3], np.array([[1, 1, 0, 0], [0, 0, 1, 1]])) == [[0, 1], [3]]
    assert group_by_laws([0, 2], None) == [[0], [2]]
    with pytest.raises(ValueError, match="max_support"):
        low_copy_species(states, 0)
