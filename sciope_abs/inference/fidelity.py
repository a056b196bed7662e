"""Fidelity check of an emulator-driven inference: does the emulator still match SSA where the
posterior lives?

A sample of ``n_particles`` parameter vectors is drawn from the posterior by weighted resampling.
For each particle three ensembles of ``n_traj`` trajectories start from the same initial state:
one from the emulator and two independent ones from the exact (SSA) simulator.  For every
compared species and every time point after the first, the histogram distance
(:func:`sciope_abs.abstraction.histograms.histogram_distance`, L1 by default, shared bins) is
computed emulator vs SSA and SSA vs SSA (the *self-distance*, the margin of finite sampling);
each particle's value is the mean over species and time points.

When a summary is given, the posterior-predictive distance of the summaries is reported too:
the distance of each particle's emulator (and SSA) summaries to the observed summaries, on the
scale of the SSA summaries' spread (median absolute deviation over the particles), so the two
columns can be compared directly.

The rule (documented, deliberately simple): the check **passes** when the mean emulator distance
is at most ``threshold`` (default 1.5) times the mean SSA self-distance over the particles.  A
failing check sets ``passed = False``, writes the reason into ``message`` and emits a
:class:`FidelityWarning`; it never passes silently.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._checks import check_positive_int
from ..seeding import SeedLike, as_seed_sequence

__all__ = ["FidelityReport", "FidelityWarning", "check_fidelity", "DEFAULT_THRESHOLD"]

#: the pass rule: mean emulator-vs-SSA distance <= DEFAULT_THRESHOLD x mean SSA self-distance
DEFAULT_THRESHOLD = 1.5


class FidelityWarning(UserWarning):
    """The emulator is measurably further from SSA than SSA is from itself on the posterior."""


@dataclass
class FidelityReport:
    """Result of :func:`check_fidelity`.

    Attributes
    ----------
    particles : array (m, d)
        The re-simulated parameter vectors.
    param_names : list of str
    species : list of str
        The compared species.
    emulator_distance, self_distance : arrays (m,)
        Per particle: mean histogram distance emulator vs SSA, and SSA vs SSA.
    per_time : dict of arrays (m, k, T-1)
        ``"emulator"`` and ``"self"`` distances per species and time point.
    predictive_emulator, predictive_ssa : arrays (m,) or None
        Scaled distance of each particle's emulator / SSA summaries to the observed summaries.
    threshold : float
    passed : bool
    message : str
    meta : dict
        Sizes, kind of distance, seed.
    """

    particles: np.ndarray
    param_names: list
    species: list
    emulator_distance: np.ndarray
    self_distance: np.ndarray
    per_time: dict
    predictive_emulator: np.ndarray | None
    predictive_ssa: np.ndarray | None
    threshold: float
    passed: bool
    message: str
    meta: dict = field(default_factory=dict)
    samples: dict | None = None

    # ------------------------------------------------------------------ numbers
    @property
    def mean_emulator_distance(self) -> float:
        return float(np.nanmean(self.emulator_distance))

    @property
    def mean_self_distance(self) -> float:
        return float(np.nanmean(self.self_distance))

    @property
    def ratio(self) -> float:
        """Mean emulator distance / mean SSA self-distance (1 = as good as SSA)."""
        s = self.mean_self_distance
        return float(self.mean_emulator_distance / s) if s > 0 else float("inf")

    def to_pandas(self) -> Any:
        """One row per particle: parameters, both distances, their ratio, predictive distances."""
        import pandas as pd

        df = pd.DataFrame(self.particles, columns=self.param_names)
        df["emulator_distance"] = self.emulator_distance
        df["self_distance"] = self.self_distance
        with np.errstate(divide="ignore", invalid="ignore"):
            df["ratio"] = self.emulator_distance / self.self_distance
        if self.predictive_emulator is not None:
            df["predictive_emulator"] = self.predictive_emulator
            df["predictive_ssa"] = self.predictive_ssa
        return df

    def summary(self) -> str:
        lines = [f"fidelity check: {'PASSED' if self.passed else 'FAILED'} - {self.message}",
                 f"  {len(self.particles)} particles x {self.meta.get('n_traj')} trajectories, species "
                 f"{self.species}, {self.meta.get('kind', 'l1').upper()} histogram distance",
                 f"  emulator vs SSA {self.mean_emulator_distance:.4f}, SSA self-distance "
                 f"{self.mean_self_distance:.4f}, ratio {self.ratio:.2f} (threshold {self.threshold:g})"]
        if self.predictive_emulator is not None and self.predictive_ssa is not None:
            lines.append(f"  posterior-predictive summary distance: emulator {np.nanmean(self.predictive_emulator):.3f}, "
                         f"SSA {np.nanmean(self.predictive_ssa):.3f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        def arr(v):
            return None if v is None else [None if not np.isfinite(x) else float(x) for x in np.ravel(v)]

        return {"param_names": list(self.param_names), "species": list(self.species),
                "particles": np.asarray(self.particles).tolist(),
                "emulator_distance": arr(self.emulator_distance), "self_distance": arr(self.self_distance),
                "predictive_emulator": arr(self.predictive_emulator), "predictive_ssa": arr(self.predictive_ssa),
                "mean_emulator_distance": self.mean_emulator_distance, "mean_self_distance": self.mean_self_distance,
                "ratio": self.ratio if np.isfinite(self.ratio) else None, "threshold": self.threshold,
                "passed": bool(self.passed), "message": self.message, "meta": self.meta}

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``fidelity.json`` (and ``fidelity_samples.npz`` when samples are kept) into ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "fidelity.json").write_text(json.dumps(self.to_dict(), indent=1))
        arrays = {f"per_time_{k}": v for k, v in self.per_time.items()}
        if self.samples:
            arrays.update({f"samples_{k}": v for k, v in self.samples.items()})
        np.savez_compressed(path / "fidelity_arrays.npz", **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FidelityReport":
        path = Path(path)
        jf = path / "fidelity.json"
        if not jf.exists():
            raise FileNotFoundError(f"no fidelity report at {path}")
        d = json.loads(jf.read_text())
        per_time, samples = {}, {}
        af = path / "fidelity_arrays.npz"
        if af.exists():
            with np.load(af) as z:
                for k in z.files:
                    if k.startswith("per_time_"):
                        per_time[k[len("per_time_"):]] = z[k]
                    elif k.startswith("samples_"):
                        samples[k[len("samples_"):]] = z[k]

        def arr(v):
            return None if v is None else np.array([np.nan if x is None else x for x in v], dtype=np.float64)

        return cls(np.asarray(d["particles"], dtype=np.float64).reshape(len(d["emulator_distance"]), -1),
                   d["param_names"], d["species"], arr(d["emulator_distance"]), arr(d["self_distance"]), per_time,
                   arr(d["predictive_emulator"]), arr(d["predictive_ssa"]), d["threshold"], d["passed"],
                   d["message"], d.get("meta", {}), samples or None)

    def __repr__(self) -> str:
        return (f"FidelityReport(passed={self.passed}, particles={len(self.particles)}, "
                f"emulator={self.mean_emulator_distance:.4f}, self={self.mean_self_distance:.4f}, "
                f"ratio={self.ratio:.2f})")


def _mad_scale(s: np.ndarray) -> np.ndarray:
    ok = s[np.isfinite(s).all(axis=1)]
    if ok.shape[0] < 2:
        return np.ones(s.shape[1])
    mad = np.median(np.abs(ok - np.median(ok, axis=0)), axis=0) * 1.4826
    sd = ok.std(axis=0)
    scale = np.where(mad > 0, mad, sd)
    return np.where(scale > 0, scale, 1.0)


def _check_inputs(posterior, emulator, ssa_simulator, species: Sequence[str] | None, kind: str, threshold: float
                  ) -> tuple[list, np.ndarray, list, list, list]:
    """Check the distance options and both simulators against the posterior and each other; return
    the parameter names, the time grid, the emulator's and SSA's species and the compared species."""
    from ..abstraction.histograms import DISTANCE_KINDS

    if kind not in DISTANCE_KINDS:
        raise ValueError(f"kind must be one of {DISTANCE_KINDS}, got {kind!r}")
    if not float(threshold) > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    if len(posterior) == 0:
        raise ValueError("check_fidelity: the posterior is empty (no accepted particles)")
    for name, sim in (("emulator", emulator), ("ssa_simulator", ssa_simulator)):
        for attr in ("simulate", "species", "timespan", "param_names"):
            if not hasattr(sim, attr):
                raise ValueError(f"check_fidelity: {name} is not a Simulator (no {attr})")
    names = list(posterior.names)
    for name, sim in (("emulator", emulator), ("ssa_simulator", ssa_simulator)):
        if list(sim.param_names) != names:
            raise ValueError(f"check_fidelity: {name} takes parameters {list(sim.param_names)}, "
                             f"the posterior has {names}")
    t_emu = np.asarray(emulator.timespan, dtype=np.float64)
    t_ssa = np.asarray(ssa_simulator.timespan, dtype=np.float64)
    if t_emu.shape != t_ssa.shape or not np.allclose(t_emu, t_ssa, rtol=1e-9, atol=1e-12):
        raise ValueError(f"check_fidelity: the emulator's time grid ({t_emu.size} points up to {t_emu[-1]:g}) "
                         f"differs from the SSA simulator's ({t_ssa.size} points up to {t_ssa[-1]:g})")
    emu_sp, ssa_sp = list(emulator.species), list(ssa_simulator.species)
    comp = [s for s in emu_sp if s in ssa_sp] if species is None else list(species)
    missing = [s for s in comp if s not in emu_sp or s not in ssa_sp]
    if missing or not comp:
        raise ValueError(f"check_fidelity: species {missing or comp} are not produced by both simulators "
                         f"(emulator {emu_sp}, SSA {ssa_sp})")
    return names, t_emu, emu_sp, ssa_sp, comp


def _histogram_distances(a: np.ndarray, b1: np.ndarray, b2: np.ndarray, kind: str, bins
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per particle, species and time point (arrays (m, r, k, T-1) in, (m, k, T-1) out): the histogram
    distance emulator ``a`` vs SSA ``b1``, and SSA ``b2`` vs SSA ``b1``; NaN where an ensemble failed."""
    from ..abstraction.histograms import histogram_distance

    m, _, k, T1 = a.shape
    d_emu = np.full((m, k, T1), np.nan)
    d_self = np.full((m, k, T1), np.nan)
    for i in range(m):
        for j in range(k):
            for t in range(T1):
                y1, y2, x = b1[i, :, j, t], b2[i, :, j, t], a[i, :, j, t]
                if np.isfinite(y1).all() and np.isfinite(y2).all():
                    d_self[i, j, t] = histogram_distance(y2, y1, kind, bins)
                    if np.isfinite(x).all():
                        d_emu[i, j, t] = histogram_distance(x, y1, kind, bins)
    return d_emu, d_self


def _predictive_distances(summary, observed: np.ndarray, emu: np.ndarray, ssa: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Distances (m,) of the emulator's and SSA's summaries of traces (m, r, S, T) to the observed
    summaries, on the scale (MAD) of the SSA summaries."""
    s_emu = np.asarray(summary(emu), dtype=np.float64)
    s_ssa = np.asarray(summary(ssa), dtype=np.float64)
    if s_emu.shape[1] != observed.size:
        raise ValueError(f"check_fidelity: the summary gives {s_emu.shape[1]} features, the posterior's "
                         f"observed summaries have {observed.size}")
    scale = _mad_scale(s_ssa)
    pred_emu = np.sqrt((((s_emu - observed) / scale) ** 2).sum(axis=1))
    pred_ssa = np.sqrt((((s_ssa - observed) / scale) ** 2).sum(axis=1))
    return pred_emu, pred_ssa


def _verdict(emu_dist: np.ndarray, self_dist: np.ndarray, threshold: float, kind: str) -> tuple[bool, str]:
    """The pass rule on the per-particle distances (m,), and the message saying why."""
    m = emu_dist.size
    n_bad = int((~np.isfinite(emu_dist)).sum())
    mean_e, mean_s = float(np.nanmean(emu_dist)) if n_bad < m else np.nan, float(np.nanmean(self_dist))
    ratio = mean_e / mean_s if mean_s > 0 else np.inf
    if not np.isfinite(mean_e):
        return False, "the emulator produced no finite trajectories for the sampled particles"
    if not np.isfinite(mean_s):
        return False, "the SSA reference failed for every sampled particle"
    passed = bool(mean_e <= threshold * mean_s)
    rule = f"mean {kind.upper()} emulator vs SSA {mean_e:.4f} {'<=' if passed else '>'} {threshold:g} x SSA " \
           f"self-distance {mean_s:.4f} (ratio {ratio:.2f})"
    msg = (rule if passed else f"emulator differs from SSA on the posterior: {rule}; "
           f"do not trust the emulator-driven posterior without an SSA run")
    if n_bad:
        msg += f"; {n_bad} of {m} particles had failed emulator trajectories"
    return passed, msg


def _report_meta(m: int, n_traj: int, kind: str, bins, t_emu: np.ndarray, base: np.random.SeedSequence,
                 emulator, ssa_simulator) -> dict:
    return {"n_particles": m, "n_traj": n_traj, "kind": kind, "bins": bins if bins is None or np.isscalar(bins)
            else np.asarray(bins).tolist(), "timespan": t_emu.tolist(),
            "seed": {"entropy": str(base.entropy), "spawn_key": [int(v) for v in base.spawn_key]},
            "emulator": type(emulator).__name__, "reference": type(ssa_simulator).__name__}


def check_fidelity(posterior: Any, emulator: Any, ssa_simulator: Any, *, n_particles: int = 20, n_traj: int = 100,
                   seed: SeedLike = None, summary: Any = None, initial_state: Any = None,
                   species: Sequence[str] | None = None, threshold: float = DEFAULT_THRESHOLD, kind: str = "l1",
                   bins: Any = 100, client: Any = None,
                   progress: bool = False, keep_samples: bool = True) -> "FidelityReport":
    """Re-simulate posterior particles with the emulator and with SSA and compare them.

    Parameters
    ----------
    posterior : Posterior
        Result of an (emulator-driven) ABC run; particles are drawn by weighted resampling.
    emulator : Simulator
        The simulator the inference used (anything with ``simulate``, ``species``, ``timespan``).
    ssa_simulator : Simulator
        The exact reference, with the same ``param_names`` and time grid.
    n_particles : int
        Particles re-simulated.
    n_traj : int
        Trajectories per particle per ensemble (SSA simulates ``2 * n_traj``).
    seed : int or SeedSequence
        Drives the resampling and all three ensembles.
    summary : Summary, optional
        With it (and ``posterior.observed``), posterior-predictive summary distances are reported.
    initial_state : array (S,), optional
        The state the inference started from, in the form both simulators take (the model's full
        state); default: their defaults.
    species : sequence of str, optional
        Species compared (default: those both simulators produce).
    threshold : float
        Pass when mean emulator distance <= ``threshold`` x mean SSA self-distance.
    kind : {"l1", "iou"}
    bins : histogram binning (see ``histogram_distance``).
    client : passed to ``sciope_abs.engine.simulate_parallel`` for the SSA ensembles.
    progress : bool
    keep_samples : bool
        Keep the first particle's ensembles (for plots).

    Returns
    -------
    FidelityReport
    """
    from ..engine import simulate_parallel

    n_particles = check_positive_int(n_particles, "n_particles")
    n_traj = check_positive_int(n_traj, "n_traj")
    names, t_emu, emu_sp, ssa_sp, comp = _check_inputs(posterior, emulator, ssa_simulator, species, kind, threshold)

    ss = as_seed_sequence(seed)
    base = np.random.SeedSequence(ss.entropy, spawn_key=ss.spawn_key)
    k_pick, k_emu, k_ssa = base.spawn(3)
    particles = posterior.sample(n_particles, seed=k_pick)

    emu = np.asarray(emulator.simulate(particles, n_traj=n_traj, seed=k_emu, initial_state=initial_state),
                     dtype=np.float64)
    ssa = np.asarray(simulate_parallel(ssa_simulator, particles, n_traj=2 * n_traj, seed=k_ssa,
                                       initial_state=initial_state, client=client, progress=progress), dtype=np.float64)
    ie = [emu_sp.index(s) for s in comp]
    ir = [ssa_sp.index(s) for s in comp]
    a, b1, b2 = emu[:, :, ie, 1:], ssa[:, :n_traj][:, :, ir, 1:], ssa[:, n_traj:][:, :, ir, 1:]
    d_emu, d_self = _histogram_distances(a, b1, b2, kind, bins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        emu_dist = np.nanmean(d_emu, axis=(1, 2))
        self_dist = np.nanmean(d_self, axis=(1, 2))

    pred_emu = pred_ssa = None
    observed = getattr(posterior, "observed", None)
    if summary is not None and observed is not None:
        pred_emu, pred_ssa = _predictive_distances(summary, observed, emu, ssa[:, :n_traj])
    passed, msg = _verdict(emu_dist, self_dist, threshold, kind)
    if not passed:
        warnings.warn(f"fidelity check failed: {msg}", FidelityWarning, stacklevel=3)
    samples = None
    if keep_samples:
        samples = {"emulator": a[0].astype(np.float32), "ssa": b1[0].astype(np.float32)}
    meta = _report_meta(n_particles, n_traj, kind, bins, t_emu, base, emulator, ssa_simulator)
    return FidelityReport(particles, names, comp, emu_dist, self_dist, {"emulator": d_emu, "self": d_self},
                          pred_emu, pred_ssa, float(threshold), passed, msg, meta, samples)
