"""A synthetic X16-shaped Markov chain with a known transition kernel, for fast emulator tests.

State (G1, G2, P1) with G1 + G2 = 4.  Per step: G1 moves up or down by one with probability
``p_switch`` each (staying in 0..4), G2 = 4 - G1, and P1 is drawn fresh from
Poisson(lambda(G1)) with ``lambda = (a11 G1 + a21 G2) / (b1 + a12 G1)`` (X16's quasi-steady
state), so the next P1 does not depend on the current one.  Simulating it costs microseconds,
unlike SSA, and its exact one-step law lets tests check what an emulator learned.
"""
from __future__ import annotations

import numpy as np

from sciope_abs.crn import load_model


def p1_mean(g1, model, a11=None) -> np.ndarray:
    p = model.parameters
    g1 = np.asarray(g1, dtype=np.float64)
    a11 = p["a11"] if a11 is None else np.asarray(a11, dtype=np.float64)
    return (a11 * g1 + p["a21"] * (4 - g1)) / (p["b1"] + p["a12"] * g1)


def simulate_chain(init, a11, n_traj, n_steps, rng, model, p_switch=0.1) -> np.ndarray:
    """Traces (n, n_traj, 3, n_steps + 1) from initial states (n, 3) and rates a11 (n,)."""
    init = np.asarray(init, dtype=np.int64)
    n = len(init)
    out = np.empty((n, n_traj, 3, n_steps + 1))
    g1 = np.repeat(init[:, 0:1], n_traj, axis=1).astype(np.int64)
    p1 = np.repeat(init[:, 2:3], n_traj, axis=1).astype(np.int64)
    a = np.repeat(np.asarray(a11, dtype=np.float64)[:, None], n_traj, axis=1)
    out[:, :, 0, 0], out[:, :, 1, 0], out[:, :, 2, 0] = g1, 4 - g1, p1
    for t in range(1, n_steps + 1):
        u = rng.random(g1.shape)
        g1 = g1 + ((u < p_switch) & (g1 < 4)) - ((u > 1 - p_switch) & (g1 > 0))
        p1 = rng.poisson(p1_mean(g1, model, a))
        out[:, :, 0, t], out[:, :, 1, t], out[:, :, 2, t] = g1, 4 - g1, p1
    return out


def synthetic_dataset(n_settings=40, n_traj=10, n_steps=5, seed=0, vary=("a11",)):
    """An ``AbstractionDataset`` of the synthetic chain on the X16 model (splits 60/20/20 by setting)."""
    from sciope_abs.abstraction.dataset import AbstractionDataset

    model = load_model("x16")
    rng = np.random.default_rng(seed)
    init = model.sample_initial_states(n_settings, seed=rng)
    rates = model.sample_rates(n_settings, vary, seed=rng) if vary else np.empty((n_settings, 0))
    a11 = rates[:, 0] if vary else np.full(n_settings, model.parameters["a11"])
    traces = simulate_chain(init, a11, n_traj, n_steps, rng, model)
    n_tr, n_va = int(0.6 * n_settings), int(0.2 * n_settings)
    order = rng.permutation(n_settings)
    splits = {"train": order[:n_tr], "val": order[n_tr:n_tr + n_va], "test": order[n_tr + n_va:]}
    return AbstractionDataset(model, vary, model.dt, n_steps, traces, init, rates, splits)
