"""Architecture search (issue 5): operations, cells, supernet gates, bi-level search, genotype, CLI.

Evidence that the search is real: alpha moves only in architecture steps (not in heat-up, not in
weight steps), weights do not move in architecture steps, the gate-gradient formula matches
autodiff of the relaxed objective, a task with one clearly right operation is solved by picking
it, and a derived network rebuilt from its saved genotype reproduces the saved model.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from sciope_abs.abstraction.nas import (DEFAULT_OPS, OPERATIONS, Genotype, ProxylessSearch, SuperNet,  # noqa: E402
                                        arch_gradient, build_cell_specs, check_ops, register_operation,
                                        search)
from sciope_abs.crn import CRN, Reaction  # noqa: E402


def _mse(y, out):
    return tf.reduce_mean(tf.square(y - out))


def tiny_crn() -> CRN:
    """A two-state gene (G1 + G2 = 1) producing A; k_p varies per setting."""
    return CRN(
        name="nas_tiny", species=("A", "G1", "G2"),
        parameters={"k_on": 0.5, "k_off": 0.5, "k_p": 10.0, "k_d": 1.0},
        reactions=[Reaction("switch_on", {"G1": 1}, {"G2": 1}, rate="k_on"),
                   Reaction("switch_off", {"G2": 1}, {"G1": 1}, rate="k_off"),
                   Reaction("produce", {"G1": 1}, {"G1": 1, "A": 1}, rate="k_p"),
                   Reaction("degrade", {"A": 1}, {}, rate="k_d")],
        initial_state={"A": 5, "G1": 1, "G2": 0}, initial_ranges={"A": (0, 20), "G1": (0, 1)},
        complements={"G2": ("G1", 1)}, rate_ranges={"k_p": (5.0, 15.0)},
        dt=0.5, n_steps=4, observed=("A",))


# --------------------------------------------------------------------------- operations


def test_every_builtin_operation_keeps_the_width():
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    for name in DEFAULT_OPS:
        layer = OPERATIONS[name](6, f"t_{name}")
        y = np.asarray(layer(x))
        assert y.shape == (5, 6), name
    assert np.all(np.asarray(OPERATIONS["zero"](6, "z")(x)) == 0)
    np.testing.assert_allclose(np.asarray(OPERATIONS["identity"](6, "i")(x)), x)
    np.testing.assert_allclose(np.asarray(OPERATIONS["relu"](6, "r")(x)), np.maximum(x, 0))


def test_register_a_new_operation_in_one_place():
    @register_operation("tanh_dense")
    def _tanh_dense(width, name):
        return keras.layers.Dense(width, activation="tanh", name=name)

    try:
        net = SuperNet(3, cells=1, cell_size=1, expansion=2, ops=["tanh_dense", "identity"])
        out = net(np.ones((2, 3), "float32"), net.sample_gates(0))
        assert out.shape == (2, 6)
        assert net.derive().ops_used() <= {"tanh_dense", "identity"}
        with pytest.raises(ValueError, match="already registered"):
            register_operation("tanh_dense", _tanh_dense)
    finally:
        OPERATIONS.pop("tanh_dense", None)


@pytest.mark.parametrize("kwargs, match", [
    (dict(ops=["dense", "conv9x9"]), "unknown operation 'conv9x9'"),
    (dict(ops=["zero"]), "other than 'zero'"),
    (dict(ops=["relu", "relu"]), "duplicates"),
    (dict(ops=[]), "at least one"),
    (dict(cells=0), "cells must be a positive integer"),
    (dict(cell_size=-1), "cell_size must be a positive integer"),
    (dict(expansion=2.5), "expansion must be a positive integer"),
    (dict(expand="zoom"), "expand must be one of"),
])
def test_bad_search_space_is_a_one_line_value_error(kwargs, match):
    args = dict(input_dim=4, cells=2, cell_size=2, expansion=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        SuperNet(**args)


def test_search_rejects_bad_arguments_before_any_work():
    class NotADataset:
        """Lacks pairs/scaler/species: search must refuse it."""

    with pytest.raises(ValueError, match="unknown operation"):
        search(NotADataset(), ops=["nope"])
    with pytest.raises(ValueError, match="3 entries"):
        search(NotADataset(), epochs=(1, 2))
    with pytest.raises(ValueError, match="AbstractionDataset"):
        search(NotADataset())
    with pytest.raises(ValueError, match="unknown epoch stage"):
        search(NotADataset(), epochs={"warmup": 3})
    with pytest.raises(ValueError, match="clipnorm must be a positive number"):
        search(NotADataset(), clipnorm=0.0)
    with pytest.raises(ValueError, match="init must be 'scratch', 'supernet' or 'best'"):
        search(NotADataset(), init="warm")
    assert check_ops(None) == DEFAULT_OPS


# --------------------------------------------------------------------------- cells and genotype


def test_backbone_widths_and_sources():
    specs = build_cell_specs(5, cells=3, cell_size=2, expansion=4)
    assert [s.width for s in specs] == [20, 20, 20]
    assert [s.sources for s in specs] == [(0, 0), (0, 1), (1, 2)]
    assert specs[0].input_widths == (5, 5) and specs[1].input_widths == (5, 20)
    assert [specs[1].preprocess_kind(k) for k in (0, 1)] == ["dense", "identity"]
    tiled = build_cell_specs(5, cells=1, cell_size=3, expansion=4, expand="tile")[0]
    assert tiled.preprocess_kind(0) == "tile" and len(tiled.edges()) == 2 + 3 + 4


def test_derived_genotype_is_a_valid_dag_without_zero():
    net = SuperNet(4, cells=3, cell_size=3, expansion=2)
    rng = np.random.default_rng(1)
    alpha = rng.normal(size=(net.n_edges, net.n_ops)) * 3
    zero = list(net.ops).index("zero")
    alpha[::2, zero] = 20.0             # zero is by far the strongest on half of the edges
    net.alpha.assign(alpha.astype("float32"))
    g = net.derive()
    for c, spec in enumerate(g.cells):
        assert all(s <= c for s in spec.sources)
        for j, node in enumerate(g.nodes[c]):
            assert 1 <= len(node) <= 2
            assert all(0 <= s < 2 + j for s, _ in node)
            assert all(op != "zero" for _, op in node)
    assert "zero" not in g.ops_used()
    # the kept edges are the strongest: node 2 of cell 0 has 4 candidate edges, keeps 2
    probs = net.probabilities()
    nonzero = [i for i, op in enumerate(net.ops) if op != "zero"]
    cell0 = [k for k, (c, j, s) in enumerate(net.edges) if c == 0 and j == 2]
    strength = {net.edges[k][2]: probs[k, nonzero].max() for k in cell0}
    top2 = sorted(sorted(strength, key=strength.get, reverse=True)[:2])
    assert [s for s, _ in g.nodes[0][2]] == top2
    # JSON round trip
    assert Genotype.from_json(g.to_json()) == g


@pytest.mark.parametrize("nodes, match", [
    ([[[0, "relu"]], [[3, "relu"]]], "not a predecessor"),
    ([[[0, "zero"]], [[1, "relu"]]], "keeps the 'zero'"),
    ([[[0, "relu"], [1, "dense"]], [[0, "relu"], [1, "relu"], [2, "relu"]]], "3 inputs"),
    ([[[0, "relu"]], [[0, "warp"]]], "unknown operation"),
])
def test_invalid_genotypes_are_rejected(nodes, match):
    spec = build_cell_specs(3, cells=1, cell_size=2, expansion=1)[0]
    with pytest.raises(ValueError, match=match):
        Genotype(input_dim=3, cells=(spec,), nodes=(tuple(tuple(map(tuple, n)) for n in nodes),))


def test_derived_network_equals_supernet_with_the_same_choice():
    """With alpha making every dropped edge 'zero', the supernet under argmax gates and the
    rebuilt body (weights transferred by name) compute the same function."""
    keras.utils.set_random_seed(4)
    ops = ["dense", "glu", "elementwise", "swish", "identity", "zero"]
    net = SuperNet(3, cells=2, cell_size=2, expansion=3, ops=ops)
    x = np.random.default_rng(2).normal(size=(7, 3)).astype("float32")
    net(x, net.argmax_gates())
    alpha = np.zeros((net.n_edges, net.n_ops), "float32")
    choice = {}
    for k, (c, j, s) in enumerate(net.edges):
        if j == 1 and s == 0:             # node 1's edge from input 0 is dropped
            alpha[k, ops.index("zero")] = 5.0
            alpha[k, ops.index("identity")] = 1.0
        else:
            op = ops[(c + j + s) % 5]
            alpha[k, ops.index(op)] = 5.0
            choice[(c, j, s)] = op
    net.alpha.assign(alpha)
    g = net.derive()
    assert {(c, j, s): op for c, j, s, op in g.edges()} == choice
    body = g.build_body()
    assert net.transfer_to(body, g) > 0
    np.testing.assert_allclose(np.asarray(body(x)), np.asarray(net(x)), rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- the search strategy


def test_gate_gradient_formula_matches_autodiff_of_the_relaxation():
    """dL/dalpha = p * (dL/dg - <dL/dg, p>) is the chain rule through softmax at g = p."""
    rng = np.random.default_rng(0)
    alpha = tf.constant(rng.normal(size=(3, 5)), tf.float64)
    w = tf.constant(rng.normal(size=(3, 5)), tf.float64)

    def loss(g):
        return tf.reduce_sum(tf.sin(w * g)) + tf.reduce_sum(g ** 3)

    with tf.GradientTape() as tape:
        tape.watch(alpha)
        direct = loss(tf.nn.softmax(alpha, axis=-1))
    expected = tape.gradient(direct, alpha)
    p = tf.nn.softmax(alpha, axis=-1)
    with tf.GradientTape() as tape:
        tape.watch(p)
        val = loss(p)
    dg = tape.gradient(val, p)
    np.testing.assert_allclose(arch_gradient(dg, p).numpy(), expected.numpy(), rtol=1e-10)


def _relu_task(seed, m):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 4)).astype("float32")
    return x, (np.maximum(x, 0) + 0.05 * rng.normal(size=x.shape)).astype("float32")


@pytest.fixture(scope="module")
def relu_search():
    """Target = ReLU(input) + noise; candidates identity, relu, dense, elementwise, zero.

    Only ``relu`` on both edges makes the linear head exact, every other choice leaves the
    negative half unexplained."""
    keras.utils.set_random_seed(0)
    ops = ["identity", "relu", "dense", "elementwise", "zero"]
    net = SuperNet(4, cells=1, cell_size=1, expansion=1, ops=ops)
    head = keras.layers.Dense(4)
    loop = ProxylessSearch(net, head, _mse, learning_rate=1e-2, arch_learning_rate=5e-2, batch_size=64,
                           turn=1, seed=0, progress=False)
    train, val = _relu_task(0, 3000), _relu_task(1, 1000)
    loop.build(4)
    a0 = net.alpha.numpy().copy()
    w0 = [v.numpy().copy() for v in net.weight_variables]
    assert len(w0) == 2 * 4          # dense (kernel, bias) and elementwise (w, b) on two edges
    loop.heat_up(train, 2)
    after_heat = net.alpha.numpy().copy(), [v.numpy().copy() for v in net.weight_variables]
    # one explicit weight epoch and one architecture epoch, checking what each may move
    alpha_before = net.alpha.numpy().copy()
    loop.weight_epoch(train)
    alpha_after_weights = net.alpha.numpy().copy()
    w_before = [v.numpy().copy() for v in net.weight_variables] + [v.numpy().copy() for v in head.weights]
    loop.arch_epoch(val)
    w_after_arch = [v.numpy().copy() for v in net.weight_variables] + [v.numpy().copy() for v in head.weights]
    loop.search(train, val, 10)
    return dict(net=net, ops=ops, loop=loop, a0=a0, w0=w0, after_heat=after_heat, alpha_before=alpha_before,
                alpha_after_weights=alpha_after_weights, w_before=w_before, w_after_arch=w_after_arch)


def test_alpha_moves_in_search_only(relu_search):
    r = relu_search
    heat_alpha, heat_w = r["after_heat"]
    np.testing.assert_array_equal(heat_alpha, r["a0"])                    # heat-up: alpha untouched
    assert any(not np.array_equal(a, b) for a, b in zip(heat_w, r["w0"]))  # ... weights trained
    np.testing.assert_array_equal(r["alpha_after_weights"], r["alpha_before"])   # weight steps freeze alpha
    for a, b in zip(r["w_after_arch"], r["w_before"]):                    # arch steps freeze weights
        np.testing.assert_array_equal(a, b)
    assert np.abs(r["net"].alpha.numpy() - r["a0"]).max() > 0.5           # gradients reached alpha
    hist = r["loop"].history
    assert len(hist["alpha"]) == 10 and [h["phase"] for h in hist["search"][:4]] == ["weights", "arch"] * 2
    # in the search stage alpha changes across architecture epochs and not across weight epochs
    alphas = [np.asarray(a) for a in hist["alpha"]]
    for k in range(1, 10):
        moved = not np.allclose(alphas[k], alphas[k - 1], atol=1e-6)
        assert moved == (hist["search"][k]["phase"] == "arch")


def test_search_picks_the_right_operation(relu_search):
    net, ops = relu_search["net"], relu_search["ops"]
    p = net.probabilities()
    relu = ops.index("relu")
    for row in p:
        others = np.delete(row, relu)
        # the right operation dominates every alternative on every edge, by a clear margin
        assert row[relu] > 0.5 and row[relu] > 2 * others.max(), np.round(p, 3)
    assert net.derive().ops_used() == {"relu"}


# --------------------------------------------------------------------------- search() end to end + CLI


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from sciope_abs.abstraction.dataset import build_dataset

    path = tmp_path_factory.mktemp("nas") / "tiny.zarr"
    return build_dataset(tiny_crn(), n_settings=16, n_traj=6, vary_params=("k_p",), seed=5, client="sync",
                         progress=False, path=path), path


SUBSET = ["dense", "swish", "identity", "zero"]


@pytest.fixture(scope="module")
def cli_output(tiny_dataset, tmp_path_factory):
    from sciope_abs.cli import main

    _, path = tiny_dataset
    out = tmp_path_factory.mktemp("nas_out") / "em"
    argv = ["search", str(path), "--out", str(out), "--cells", "2", "--cell-size", "1", "--expansion", "2",
            "--epochs", "1", "4", "2", "--ops", ",".join(SUBSET), "--turn", "1", "--batch-size", "64",
            "--components", "2", "--seed", "3", "--quiet"]
    assert main(argv) == 0
    return out, argv


def test_cli_search_writes_a_searched_emulator(cli_output, tiny_dataset):
    from sciope_abs.abstraction.emulator import Emulator

    out, _ = cli_output
    for f in ("model.keras", "genotype.json", "card.json", "config.json", "genotype.html", "search.json"):
        assert (out / f).is_file(), f
    em = Emulator.load(out)
    g = Genotype.from_dict(em.genotype)
    assert g.ops_used() <= set(SUBSET) - {"zero"}                     # the subset is respected
    info = em.card["search"]
    assert info["ops"] == SUBSET and info["settings"]["cells"] == 2
    assert len(info["alpha_history"]) == 4 and len(info["stage_losses"]["heat_up"]) == 1
    assert [s["phase"] for s in info["stage_losses"]["search"]] == ["weights", "arch"] * 2
    assert info["param_counts"]["final"] < info["param_counts"]["supernet"]
    assert info["genotype"] == em.genotype and em.card["dataset_hash"] == tiny_dataset[0].content_hash()
    # alpha history is (n_edges, n_ops) probability tables
    a = np.asarray(info["alpha_history"][-1])
    assert a.shape == (len(info["edges"]), len(SUBSET)) and np.allclose(a.sum(axis=1), 1, atol=1e-4)
    html = (out / "genotype.html").read_text()
    assert "Bokeh" in html and all(op in html for op in g.ops_used())
    # counts out: integer, non-negative, conserved G1 + G2 = 1
    x = em.simulate(np.array([[8.0], [12.0]]), n_traj=4, seed=0)
    assert x.shape == (2, 4, 3, 5) and np.all(x == np.round(x)) and x.min() >= 0
    np.testing.assert_array_equal(x[:, :, 1] + x[:, :, 2], 1)


def test_rebuild_from_saved_genotype_reproduces_the_saved_model(cli_output):
    from sciope_abs.abstraction.network import build_mdn

    out, _ = cli_output
    saved = keras.saving.load_model(out / "model.keras", safe_mode=True, compile=False)
    g = Genotype.from_json(out / "genotype.json")
    card = json.loads((out / "card.json").read_text())
    mdn = build_mdn(g.build_body(), card["search"]["settings"]["n_components"], 3,
                    card["search"]["settings"]["component"], input_dim=g.input_dim)
    mdn.set_weights(saved.get_weights())
    x = np.random.default_rng(0).normal(size=(9, g.input_dim)).astype("float32")
    np.testing.assert_allclose(np.asarray(mdn(x)), np.asarray(saved(x)), rtol=1e-6, atol=1e-6)


def test_cli_search_is_resumable(cli_output, capsys):
    from sciope_abs.cli import main

    out, argv = cli_output
    stamp = (out / "model.keras").stat().st_mtime_ns
    assert main(argv) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (out / "model.keras").stat().st_mtime_ns == stamp
    assert main(argv[:-1] + ["--cells", "0", "--quiet"]) == 1          # bad input: one-line error
    assert "cells must be a positive integer" in capsys.readouterr().err
    assert main(["search", str(out / "missing.zarr"), "--out", str(out), "--quiet"]) == 1
    assert "not found" in capsys.readouterr().err


def test_search_is_reproducible_under_a_seed(cli_output, tiny_dataset):
    """The API call with the CLI's settings and seed gives the CLI's emulator exactly."""
    from sciope_abs.abstraction.emulator import Emulator

    out, _ = cli_output
    em = search(tiny_dataset[0], cells=2, cell_size=1, expansion=2, ops=SUBSET, epochs=(1, 4, 2), turn=1,
                batch_size=64, n_components=2, seed=3, progress=False)
    saved = Emulator.load(out)
    assert em.genotype == saved.genotype
    assert em.card["search"]["alpha_history"] == saved.card["search"]["alpha_history"]
    for wa, wb in zip(em.keras_model.get_weights(), saved.keras_model.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_init_supernet_inherits_the_trained_weights_scratch_does_not(tiny_dataset):
    """Same seed, no fine-tuning: both runs derive the same genotype; only the start differs.
    The supernet's weights already fit the data, fresh ones do not."""
    import tensorflow as tf

    from sciope_abs.abstraction.mixture import mixture_nll
    from sciope_abs.abstraction.training import training_pairs

    ds = tiny_dataset[0]
    # an all-Normal head, so the validation loss below is the network's own (the categorical
    # low-copy head that discrete='auto' picks for G1, G2 scores its classes on another scale)
    kw = dict(cells=1, cell_size=1, expansion=2, ops=["dense", "swish"], epochs=(6, 2, 0), turn=1,
              batch_size=64, n_components=2, seed=4, progress=False, discrete=None)
    inherited, fresh = search(ds, init="supernet", **kw), search(ds, init="scratch", **kw)
    assert inherited.genotype == fresh.genotype
    assert inherited.card["search"]["settings"]["init"] == "supernet"
    assert fresh.card["training"]["init"] == "scratch"
    _, scaling, _, (x_va, y_va) = training_pairs(ds, "diag_normal", 2)
    xv, yv = scaling.encode(x_va, y_va)

    def nll(em):
        return float(mixture_nll(tf.constant(yv), em.keras_model(xv), 2, len(ds.species), em.component))

    # the argmax supernet's validation loss is what the inherited network starts from
    assert nll(inherited) == pytest.approx(inherited.card["search"]["stage_losses"]["supernet_val_loss"], abs=0.5)
    assert nll(inherited) < nll(fresh) - 0.5


def test_init_best_keeps_the_start_with_the_lower_validation_loss(tiny_dataset):
    ds = tiny_dataset[0]
    kw = dict(cells=1, cell_size=1, expansion=2, ops=["dense", "swish"], epochs=(6, 2, 3), turn=1,
              batch_size=64, n_components=2, seed=4, progress=False)
    best = search(ds, init="best", **kw)
    cand = best.card["search"]["stage_losses"]["finetune_candidates"]
    assert set(cand) == {"scratch", "supernet"} and all(np.isfinite(v) for v in cand.values())
    chosen = best.card["search"]["settings"]["init_chosen"]
    assert chosen == min(cand, key=cand.get)
    assert best.card["history"]["best_val_loss"] == pytest.approx(cand[chosen])
    # each candidate is the run that init=<that start> gives on its own (same seeds)
    alone = search(ds, init=chosen, **kw)
    assert alone.card["history"]["best_val_loss"] == pytest.approx(cand[chosen])


# --------------------------------------------------------------------------- automatic size
def test_default_size_follows_the_dataset_size():
    from sciope_abs.abstraction.nas.searching import default_size

    assert default_size(70_000) == {"cells": 2, "cell_size": 2, "expansion": 20} == default_size(10**6)
    assert default_size(17_500)["expansion"] == 10 and default_size(100)["expansion"] == 4


def test_search_rejects_bad_size_arguments_before_any_work():
    class NotADataset:
        """Never read: the size arguments are checked first."""

    with pytest.raises(ValueError, match="size must be 'fixed' or 'auto'"):
        search(NotADataset(), size="large")
    with pytest.raises(ValueError, match="time_budget must be a positive number"):
        search(NotADataset(), size="auto", time_budget=0)
    with pytest.raises(ValueError, match="max_rounds must be a positive integer"):
        search(NotADataset(), size="auto", max_rounds=0)


@pytest.mark.slow
def test_auto_size_moves_by_the_train_validation_gap_and_keeps_the_best(tiny_dataset):
    """Five tiny searches (~30 s on an idle machine)."""
    ds = tiny_dataset[0]
    kw = dict(cells=1, cell_size=1, expansion=2, ops=["dense", "swish"], epochs=(1, 2, 2), turn=1,
              batch_size=64, n_components=2, seed=4, progress=False)
    em = search(ds, size="auto", max_rounds=2, overfit_gap=10.0, **kw)   # a gap never that large: grow
    hist = em.card["search"]["size_history"]
    assert [h["move"] for h in hist] == ["start", "grow"] and len(hist) == 2
    assert hist[0]["size"] == {"cells": 1, "cell_size": 1, "expansion": 2} and hist[1]["size"]["expansion"] == 3
    best = min(hist, key=lambda h: h["val_loss"])
    assert [h["chosen"] for h in hist] == [h is best for h in hist]
    assert em.card["search"]["settings"]["expansion"] == best["size"]["expansion"]
    assert int(em.keras_model.count_params()) == best["param_counts"]["final"]     # the kept round's network
    assert hist[0]["param_counts"]["final"] < hist[1]["param_counts"]["final"]
    # a tiny threshold reads any positive gap as "validation much worse than train": shrink
    em2 = search(ds, size="auto", max_rounds=2, overfit_gap=1e-6, **{**kw, "expansion": 3})
    h0, h1 = em2.card["search"]["size_history"]
    assert h1["move"] == ("shrink" if h0["val_loss"] - h0["train_loss"] > 1e-6 else "grow")
    assert h1["size"]["expansion"] == (2 if h1["move"] == "shrink" else 4)
    # a budget shorter than one search stops after the first round
    em3 = search(ds, size="auto", max_rounds=3, time_budget=1e-3, overfit_gap=10.0, **kw)
    assert len(em3.card["search"]["size_history"]) == 1
    assert "time_budget" in em3.card["search"]["size_stop_reason"]


def test_search_module_is_not_shadowed_by_the_function():
    import importlib
    import sys

    from sciope_abs.abstraction import nas, search

    module = importlib.import_module("sciope_abs.abstraction.nas.searching")
    assert callable(search) and search is nas.search is module.search
    assert "sciope_abs.abstraction.nas.search" not in sys.modules
