"""Grid of agents: the exact composite network, the exact diffusion step, the emulated grid.

Evidence for issue 17: ``compose_grid`` copies species and reactions per node and adds the hop
reactions, and its SSA conserves bees per node and pheromone up to degradation; the diffusion
step reproduces the exact hopping law (mean and variance, and the composite SSA's own); a grid
of one node is the single-agent emulator's rollout for the same seed.
"""
import numpy as np
import pytest
from scipy.linalg import expm

from sciope_abs.crn import GridSpec, colony_totals, compose_grid, grid_initial_state, load_model
from sciope_abs.simulators import make_simulator

BEES = load_model("bees")


# ---------------------------------------------------------------------------- composition
def test_compose_2x2_has_four_copies_plus_the_hop_reactions():
    g = compose_grid(BEES, (2, 2), shared={"P": 0.2})
    assert g.n_species == 4 * BEES.n_species
    # reflecting 2x2: every node has 2 neighbours -> 8 ordered pairs
    assert len(g.reactions) == 4 * len(BEES.reactions) + 8
    assert g.species[:4] == ("Bee_0_0", "BeeA_0_0", "BeeD_0_0", "P_0_0") and g.species[-1] == "P_1_1"
    assert g.parameters["D_P"] == 0.2 and g.parameters["stinging_rate"] == BEES.parameters["stinging_rate"]
    r = {x.name: x for x in g.reactions}
    assert r["become_aggressive_1_0"].propensity.count("Bee_1_0") == 1
    assert "P_1_0" in r["become_aggressive_1_0"].propensity and "P_0_0" not in r["become_aggressive_1_0"].propensity
    assert r["hop_P_0_0_E"].reactants == {"P_0_0": 1} and r["hop_P_0_0_E"].products == {"P_0_1": 1}
    hops = [x for x in g.reactions if x.name.startswith("hop_")]
    assert len(hops) == 8 and all(x.rate == "D_P" for x in hops)
    # periodic 3x3: 4 neighbours each; a 1-wide periodic side has no self-hop
    assert len(compose_grid(BEES, (3, 3), {"P": 1.0}, boundary="periodic").reactions) == 9 * 4 + 36
    assert len(compose_grid(BEES, (1, 3), {"P": 1.0}, boundary="periodic").reactions) == 3 * 4 + 6


def test_compose_builds_a_gillespy2_model_with_the_same_sizes():
    from sciope_abs.simulators.gillespy_model import to_gillespy_model

    g = compose_grid(BEES, (2, 2), shared={"P": 0.2})
    m = to_gillespy_model(g, g.timespan(0.5, 4))
    assert len(m.listOfSpecies) == 16 and len(m.listOfReactions) == 24


def _exact(g, timespan, solver):
    return make_simulator(g, param_names=(), species=g.species, timespan=timespan, solver=solver)


# GillesPy2's NumPy SSA needs no compilation; the compiled SSA compiles the composite kernel once
# (tens of seconds on a cold cache)
@pytest.mark.parametrize("solver", ["numpy_ssa", pytest.param("fast_ssa", marks=pytest.mark.slow)])
def test_composite_ssa_conserves_bees_per_node_and_pheromone_up_to_degradation(solver):
    g = compose_grid(BEES, (2, 2), shared={"P": 0.5})
    spec = GridSpec(BEES, (2, 2), {"P": 0.5})
    x0 = grid_initial_state(spec, {"Bee": 8}, {"P": {(0, 0): 6}, "BeeA": {(1, 1): 2}})
    ts = g.timespan(0.5, 20)
    for degradation in (BEES.parameters["p_degradation_rate"], 0.0):
        sim = _exact(g.with_parameters(p_degradation_rate=degradation), ts, solver)
        x = sim.simulate(np.zeros((1, 0)), n_traj=40, seed=2, initial_state=x0)[0]   # (r, 16, T)
        nodes = x.reshape(40, 4, 4, len(ts))
        bees = nodes[:, :, :3].sum(axis=2)                                             # (r, node, T)
        np.testing.assert_array_equal(bees, np.repeat(bees[..., :1], len(ts), axis=-1))
        tot = colony_totals(x, spec)                                                   # (r, 4, T)
        budget = tot[:, 3] - 2 * tot[:, 2]             # P - 2 BeeD: every sting adds 2 P, 1 BeeD
        steps = np.diff(budget, axis=-1)
        if degradation == 0.0:
            np.testing.assert_array_equal(steps, 0.0)
        else:
            assert (steps <= 0).all() and (steps < 0).any()
        assert (nodes[:, 1:, 3].max(axis=-1) > 0).any()   # pheromone reached nodes it was not seeded at


def test_bad_grid_input_is_refused_with_a_named_error():
    with pytest.raises(ValueError, match="shared species 'Q'"):
        compose_grid(BEES, (2, 2), {"Q": 0.1})
    with pytest.raises(ValueError, match="grid shape"):
        compose_grid(BEES, (0, 2), {"P": 0.1})
    with pytest.raises(ValueError, match="boundary"):
        compose_grid(BEES, (2, 2), {"P": 0.1}, boundary="open")
    with pytest.raises(ValueError, match="diffusion rate"):
        compose_grid(BEES, (2, 2), {"P": -1.0})
    spec = GridSpec(BEES, (2, 2), {"P": 0.1})
    with pytest.raises(ValueError, match="outside the 2x2 grid"):
        grid_initial_state(spec, {"Bee": 1}, {"P": {(2, 0): 3}})
    with pytest.raises(ValueError, match="per_node"):
        grid_initial_state(spec, {"Bee": -1})


def test_layout_places_bees_everywhere_and_pheromone_at_chosen_or_random_nodes():
    spec = GridSpec(BEES, (3, 4), {"P": 0.1})
    x = grid_initial_state(spec, {"Bee": 10}, {"P": {(2, 3): 5, (0, 1): 1}}).reshape(12, 4)
    assert (x[:, 0] == 10).all() and x[:, 3].sum() == 6 and x[11, 3] == 5 and x[1, 3] == 1
    a = grid_initial_state(spec, {"Bee": 10}, random_sources={"P": (3, 4)}, seed=7).reshape(12, 4)
    b = grid_initial_state(spec, {"Bee": 10}, random_sources={"P": (3, 4)}, seed=7).reshape(12, 4)
    np.testing.assert_array_equal(a, b)
    assert sorted(a[:, 3].tolist()) == [0] * 9 + [4] * 3


# ---------------------------------------------------------------------------- diffusion
def _law(spec, n0, D, h):
    K = expm(spec.full_generator(D) * h)             # one molecule's exact transition law
    mean = n0 @ K
    var = (n0[:, None] * K * (1 - K)).sum(axis=0)    # sum over independent molecules
    return mean, var, K


@pytest.mark.parametrize("boundary", ["reflecting", "periodic"])
def test_diffusion_step_reproduces_the_exact_hopping_law(boundary):
    from sciope_abs.abstraction.grid import diffusion_kernels, diffusion_step

    spec = GridSpec(BEES, (3, 4), {"P": 0.3}, boundary)
    n0 = np.zeros(12, dtype=np.int64)
    n0[0], n0[5], n0[11] = 40, 25, 7
    D, h, B = 0.3, 0.8, 4000
    counts = np.tile(n0.reshape(1, 3, 4), (B, 1, 1))
    out = diffusion_step(counts, diffusion_kernels(spec, D, h), np.random.default_rng(0)).reshape(B, 12)
    np.testing.assert_array_equal(out.sum(axis=1), n0.sum())                      # conservation
    mean, var, K = _law(spec, n0, D, h)
    se_mean = np.sqrt(var / B)
    assert np.all(np.abs(out.mean(axis=0) - mean) <= 5 * se_mean + 1e-9)
    se_var = var * np.sqrt(2.0 / (B - 1)) + 1e-9
    assert np.all(np.abs(out.var(axis=0, ddof=1) - var) <= 5 * se_var)
    # power: the one-hop law (leave with 1 - exp(-k h), land on a neighbour) is rejected
    deg = -np.diag(spec.full_generator(D)) / D
    one_hop = np.diag(np.exp(-deg * D * h)) + (spec.full_generator(D) > 0) * ((1 - np.exp(-deg * D * h)) / deg)[:, None]
    assert np.max(np.abs(n0 @ one_hop - mean) / (5 * se_mean + 1e-9)) > 1


def test_diffusion_step_matches_the_composite_ssa_of_pure_hopping():
    from sciope_abs.abstraction.grid import diffusion_kernels, diffusion_step

    quiet = BEES.with_parameters(stinging_rate=0.0, p_stinging_rate=0.0, become_aggressive_rate=0.0,
                                 p_degradation_rate=0.0)
    g = compose_grid(quiet, (3, 3), {"P": 0.4})
    spec = GridSpec(quiet, (3, 3), {"P": 0.4})
    x0 = grid_initial_state(spec, {}, {"P": {(0, 0): 30, (1, 1): 10}})
    B, h = 1000, 1.0
    ssa = _exact(g, np.array([0.0, h]), "numpy_ssa")
    p_ssa = ssa.simulate(np.zeros((1, 0)), n_traj=B, seed=4, initial_state=x0)[0, :, 3::4, -1]  # (B, 9)
    n0 = x0.reshape(9, 4)[:, 3]
    p_dif = diffusion_step(np.tile(n0.reshape(1, 3, 3), (B, 1, 1)), diffusion_kernels(spec, 0.4, h),
                           np.random.default_rng(5)).reshape(B, 9)
    _, var, _ = _law(spec, n0, 0.4, h)
    assert np.all(np.abs(p_ssa.mean(axis=0) - p_dif.mean(axis=0)) <= 5 * np.sqrt(2 * var / B) + 1e-9)


# ---------------------------------------------------------------------------- design
def test_grid_training_states_cover_empty_pheromone_only_and_wide_cells():
    from sciope_abs.abstraction.grid_design import DEFAULT_FRACTIONS, grid_training_states, inert_species

    assert inert_species(BEES) == ("BeeD",)
    x, kinds = grid_training_states(BEES, 2000, ("P",), seed=0)
    assert x.shape == (2000, 4) and (x >= 0).all() and set(kinds) == set(DEFAULT_FRACTIONS)
    empty = x[kinds == "empty"]
    assert (empty[:, [0, 1, 3]] == 0).all() and empty[:, 2].max() > 0      # dead bees stay
    only_p = x[kinds == "shared_only"]
    assert (only_p[:, :2] == 0).all() and (only_p[:, 3] >= 1).all()
    assert x[kinds == "wide", 3].max() > 14                                  # wider than the default 0..14
    assert x[kinds == "wide", 1].max() > 0                                   # aggressive bees at the start
    a, _ = grid_training_states(BEES, 50, seed=3)
    b, _ = grid_training_states(BEES, 50, seed=3)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown cell kind"):
        grid_training_states(BEES, 10, fractions={"full": 1.0})
    y, _ = grid_training_states(BEES, 500, highs={"Bee": 10, "BeeA": 10, "BeeD": 10, "P": 20}, seed=1)
    assert y[:, :3].max() == 10 and y[:, 3].max() == 20
    with pytest.raises(ValueError, match="highs names unknown species 'Q'"):
        grid_training_states(BEES, 10, highs={"Q": 3})


def test_grid_dataset_chains_are_exact_steps_with_exchange_and_split_by_chain():
    from sciope_abs.abstraction.grid_design import build_grid_dataset

    ds = build_grid_dataset(BEES, 40, 5, seed=1, inflow=(1.0, 4.0))
    assert ds.n_settings == 200 and ds.n_steps == 1 and ds.n_traj == 1
    chain_of = {s: np.unique(ds.splits[s] // 5) for s in ("train", "val", "test")}
    assert not set(chain_of["train"]) & (set(chain_of["val"]) | set(chain_of["test"]))
    tr = ds.traces[:, 0]                                        # (settings, S, 2)
    bees = tr[:, :3].sum(axis=1)
    np.testing.assert_array_equal(bees[:, 0], bees[:, 1])      # each step is exact SSA: bees conserved
    start, end = tr[:, :, 0].reshape(40, 5, 4), tr[:, :, 1].reshape(40, 5, 4)
    np.testing.assert_array_equal(start[:, 1:, :3], end[:, :-1, :3])   # chains continue ...
    assert (start[:, 1:, 3] != end[:, :-1, 3]).any()                   # ... with pheromone exchanged


def test_visited_pool_holds_the_moving_states_of_the_exact_grid_and_feeds_the_design():
    from sciope_abs.abstraction.grid_design import exact_grid_states, grid_training_states

    spec = GridSpec(BEES, (2, 2), {"P": 0.2})
    x0 = grid_initial_state(spec, {"Bee": 5}, {"P": {(1, 1): 4}})
    pool = exact_grid_states(BEES, (2, 2), {"P": 0.2}, x0, n_traj=8, n_steps=10, seed=4)
    assert pool.ndim == 2 and pool.shape[1] == 4 and pool.dtype == np.int64
    assert ((pool[:, 3] > 0) | (pool[:, 1] > 0)).all()           # absorbing states (no P, no BeeA) left out
    assert (pool[:, :3].sum(axis=1) == 5).all()                  # 5 bees a node, as laid out
    everything = exact_grid_states(BEES, (2, 2), {"P": 0.2}, x0, n_traj=8, n_steps=10, seed=4, drop_absorbing=False)
    assert len(everything) == 8 * 11 * 4 > len(pool)
    np.testing.assert_array_equal(pool, exact_grid_states(BEES, (2, 2), {"P": 0.2}, x0, n_traj=8, n_steps=10, seed=4))
    x, kinds = grid_training_states(BEES, 400, pool=pool, seed=2)
    visited = x[kinds == "visited"]
    assert 0.55 < len(visited) / 400 < 0.85                       # VISITED_FRACTIONS: 70 %
    known = {tuple(r) for r in pool}
    assert all(tuple(r) in known for r in visited)
    with pytest.raises(ValueError, match="no pool of visited states"):
        grid_training_states(BEES, 10, fractions={"visited": 1.0})
    with pytest.raises(ValueError, match="pool must be a non-empty"):
        grid_training_states(BEES, 10, pool=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="initial_state must have shape"):
        exact_grid_states(BEES, (2, 2), {"P": 0.2}, x0[:4], n_traj=2, n_steps=2)


def test_train_for_grid_draws_only_joint_increments_seen_in_training():
    pytest.importorskip("tensorflow")
    from sciope_abs.abstraction.grid_design import build_grid_dataset, train_for_grid

    ds = build_grid_dataset(BEES, 60, 4, seed=3, highs={"Bee": 6, "BeeA": 3, "BeeD": 6, "P": 8})
    emu = train_for_grid(ds, hidden=(16,), n_components=2, epochs=2, batch_size=128, seed=1)
    comp = emu.component
    assert comp["name"] == "categorical" and comp["groups"] == [[0, 1, 2, 3]]   # one joint group
    x, y = ds.pairs("train")
    inc = np.round(y - x[:, :4]).astype(int)
    seen = {tuple(r) for r in inc}
    x0 = np.tile(np.maximum(-inc.min(axis=0), 0) + 1, (100, 1)).astype(float)  # no draw is clipped at 0
    z = emu.rollout(x0, np.zeros((100, 0)), n_steps=1, n_traj=3, seed=0)[:, :, :, -1]
    drawn = {tuple(r) for r in np.round(z - x0[:, None]).reshape(-1, 4).astype(int)}
    assert drawn <= seen and len(drawn) > 1                       # a rounded Normal mixture leaves the classes
    from sciope_abs.abstraction.grid import GridSimulator         # and a grid of one node is still its rollout

    one = GridSimulator(emu, (1, 1), {"P": 0.2}, n_steps=4, absorbing="emulate")
    np.testing.assert_array_equal(one.rollout(x0[:3], None, n_traj=4, seed=2),
                                  emu.rollout(x0[:3], None, n_steps=4, n_traj=4, seed=2, method="stepwise"))


# ---------------------------------------------------------------------------- emulated grid
@pytest.fixture(scope="module")
def emulator():
    pytest.importorskip("tensorflow")
    from sciope_abs.abstraction.grid_design import build_grid_dataset
    from sciope_abs.abstraction.training import train

    ds = build_grid_dataset(BEES, 60, 8, seed=0)
    return train(ds, hidden=(16,), n_components=2, epochs=3, batch_size=128, seed=1, progress=False)


def test_grid_of_one_node_is_the_emulator_rollout(emulator):
    from sciope_abs.abstraction.grid import GridSimulator

    x0 = np.array([[10, 1, 0, 4], [3, 0, 2, 0]])
    for boundary in ("reflecting", "periodic"):
        one = GridSimulator(emulator, (1, 1), {"P": 0.3}, boundary=boundary, n_steps=6, absorbing="emulate")
        a = one.rollout(x0, None, n_traj=9, seed=5)
        b = emulator.rollout(x0, None, n_steps=6, n_traj=9, seed=5, method="stepwise")
        np.testing.assert_array_equal(a, b)
    assert one.species == ("Bee_0_0", "BeeA_0_0", "BeeD_0_0", "P_0_0")


def test_emulated_grid_counts_seeds_and_batch_independence(emulator):
    from sciope_abs.abstraction.grid import GridSimulator
    from sciope_abs.simulators.base import Simulator

    g = GridSimulator(emulator, (2, 3), {"P": 0.3}, n_steps=4, absorbing="emulate")
    assert isinstance(g, Simulator) and g.species == compose_grid(BEES, (2, 3), {"P": 0.3}).species
    x0 = np.stack([grid_initial_state(g.spec, {"Bee": 10}, {"P": {(0, 0): 5}}),
                   grid_initial_state(g.spec, {"Bee": 4}, {"P": {(1, 2): 9}})])
    calls = emulator.n_network_calls
    x = g.rollout(x0, None, n_traj=5, seed=11)
    assert emulator.n_network_calls - calls == 4                 # one batched call per step
    assert x.shape == (2, 5, 24, 5) and (x >= 0).all()
    bees = x.reshape(2, 5, 6, 4, 5)[:, :, :, :3].sum(axis=3)      # the emulator's law, per node
    np.testing.assert_array_equal(bees, np.repeat(bees[..., :1], 5, axis=-1))
    np.testing.assert_array_equal(x, np.round(x))
    np.testing.assert_array_equal(g.rollout(x0, None, n_traj=5, seed=11), x)
    seeds = np.random.SeedSequence(11).spawn(2)
    alone = g.rollout(x0[1:], None, n_traj=5, seed=[seeds[1]])
    np.testing.assert_array_equal(alone[0], x[1])
    assert g.colony(x).shape == (2, 5, 4, 5)
    assert g.rollout(x0, None, n_traj=5, seed=11, record="colony").shape == (2, 5, 4, 5)
    with pytest.raises(ValueError, match="initial_state"):
        g.rollout(np.zeros(7), None)


def test_absorbing_cells_are_kept_and_only_moving_rows_are_emulated(emulator):
    from sciope_abs.abstraction.grid import GridSimulator

    g = GridSimulator(emulator, (2, 2), {"P": 0.3}, n_steps=5)            # absorbing="keep"
    calm = grid_initial_state(g.spec, {"Bee": 10, "BeeD": 2})             # no pheromone, no aggressive bee
    calls = emulator.n_network_calls
    x = g.rollout(calm, None, n_traj=20, seed=1)
    assert emulator.n_network_calls == calls                              # nothing could move: no call
    np.testing.assert_array_equal(x, np.repeat(x[..., :1], 6, axis=-1))
    lit = grid_initial_state(g.spec, {"Bee": 10}, {"P": {(0, 0): 8}})
    y = g.rollout(lit, None, n_traj=20, seed=1)
    assert emulator.n_network_calls > calls and (y[:, :, 3::4, -1] != y[:, :, 3::4, 0]).any()
    assert (y[0, :, 3::4, 1:].sum(axis=1) > 0).any()                      # pheromone left its seed node
    with pytest.raises(ValueError, match="absorbing"):
        GridSimulator(emulator, (2, 2), {"P": 0.3}, absorbing="never")


def test_compose_copies_conserved_pairs_per_node():
    gene = load_model("gene")
    g = compose_grid(gene, (2, 2), {"P": 0.1})
    assert g.complements == {f"{s}_{i}_{j}": (f"{o}_{i}_{j}", t) for i in range(2) for j in range(2)
                             for s, (o, t) in gene.complements.items()}
    x = g.sample_initial_states(50, seed=0).reshape(50, 4, gene.n_species)
    for s, (o, t) in gene.complements.items():
        a, b = gene.species_index([s, o])
        assert (x[:, :, a] + x[:, :, b] == t).all()


def test_cli_grid_writes_traces_and_heat_maps(tmp_path, capsys):
    from sciope_abs.cli import main

    out, html = tmp_path / "g.npz", tmp_path / "g.html"
    rc = main(["grid", "bees", "--shape", "2x3", "--shared", "P=0.3", "--per-node", "Bee=6", "--source", "P:1,2=5",
               "--steps", "4", "--traj", "3", "--solver", "numpy_ssa", "--out", str(out), "--html", str(html)])
    assert rc == 0 and "2x3 grid of bees" in capsys.readouterr().out
    with np.load(out, allow_pickle=False) as f:
        tr, species = f["traces"], list(f["species"])
    assert tr.shape == (3, 24, 5) and species == list(compose_grid(BEES, (2, 3), {"P": 0.3}).species)
    assert (tr[:, 0::4, 0] == 6).all() and tr[:, 23, 0].tolist() == [5, 5, 5]
    assert "grid_Bee" in html.read_text() and "grid_time" in html.read_text()
    assert main(["grid", "bees", "--shape", "3"]) == 1
    assert "--shape must look like ROWSxCOLS" in capsys.readouterr().err
    assert main(["grid", "bees", "--source", "P:12,0=3", "--solver", "numpy_ssa"]) == 1
    assert "outside the 10x10 grid" in capsys.readouterr().err
