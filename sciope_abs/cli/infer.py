"""``sciope-abs infer CONFIG.yaml`` / ``sciope-abs infer --resume RUN_DIR``: ABC inference from a
config file, writing a run directory (config copy, posterior, history, plot)."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CONFIG_HELP = """\
CONFIG (YAML) keys:
  model: toggle_switch          library model name (sciope_abs.crn.list_models()) or an SBML file
  solver: auto                  auto | fast_ssa | ssa | tau | hybrid | ode | numpy_ssa
  species: [U, V]               observed species (default: all, declared order)
  n_traj: 20                    trajectories simulated per proposal
  observed:                     one of
    synthetic: {truth: {alpha1: 1.5, mu: 0.6}, n_traj: 20, seed: 1}
                                  simulate the data at a known truth (other parameters: model
                                  defaults); the truth is marked on the plot
    file: data.npy                traces (r, S, T) or (1, r, S, T), or a summary vector (F,)
    file: sims.zarr               a store from sciope_abs.store.save_simulations;
    index: 0                      its point `index` is the data set
  prior:                        the pipeline's grammar (sciope_abs.pipeline.specs, one factory);
                                one entry per inferred parameter (their order = theta's columns):
    alpha1: {uniform: [0.1, 2.0]}
    beta: {loguniform: [0.2, 4.0]}
    mu: {normal: [1.0, 0.3], low: 0.0}
                                or Uniform(low*v, high*v) around values v:
    uniform_around: {low: 0.1, high: 2.0, params: [alpha1, mu], around: model}
                                  around: model (defaults) | truth (synthetic truth) | {name: v}
  summaries: [mean, std, {name: autocorrelation, lags: [1, 2]}]
                                names from sciope_abs.summaries.SUMMARIES (concatenated)
  distance: adaptive            euclidean | manhattan | adaptive
  method: smc                   rejection | smc
  settings: {...}               keyword arguments of the method's infer(), the fields of
                                sciope_abs.inference.config.SMCConfig / RejectionConfig (a key
                                not given takes the method's default, e.g. smc: 500 particles):
                                  rejection: n_samples, tolerance | quantile, max_simulations,
                                             max_time, batch_size
                                  smc: n_particles, quantile, target_tolerance,
                                       min_acceptance_rate, max_rounds, max_simulations,
                                       max_time, batch_size, epsilon ({name: list, values:
                                       [...]} | {name: acceptance_rate, target_rate: 0.1})
  seed: 0                       seed of the inference (same seed, same posterior)
  scheduler: null               Dask scheduler address, "sync" (in-process) or null (local cluster)
  run_dir: runs/toggle          output folder (default: CONFIG's name + "_run"; --out overrides)

RUN_DIR gets: config.yaml (copy), observed.npy, posterior.npz (Posterior.load), history.json,
posterior.csv, summary.txt, posterior.html (Bokeh), and for smc the per-round run store in smc/
(JSON + npz, no pickle; sciope_abs.inference.History), from which `sciope-abs infer --resume
RUN_DIR` continues an interrupted run to the same answer.  The whole config is checked before
RUN_DIR is written; a folder whose run never started (an error before its first round) is
reused by the next `sciope-abs infer CONFIG --out RUN_DIR`.
See examples/infer_toggle.yaml.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "infer", help="ABC inference (rejection or SMC-ABC) from a YAML config, resumable",
        description="Infer kinetic parameters of a reaction network from observed (or synthetic) data "
                    "with ABC rejection or SMC-ABC, parallel on Dask.",
        epilog=CONFIG_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="YAML config file (keys below)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None,
                   help="continue the run in RUN_DIR (or report it if it is complete)")
    p.add_argument("--out", metavar="RUN_DIR", default=None, help="output folder (overrides run_dir)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address or 'sync' (overrides the config's scheduler)")
    p.add_argument("--progress", action="store_true", help="show a progress bar per round")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------- config pieces
def _load_yaml(path: Path) -> dict:
    from ..pipeline.config import read_yaml

    cfg = read_yaml(path)
    if not isinstance(cfg, dict):
        raise ValueError(f"config {path} must be a mapping of keys (see `sciope-abs infer --help`)")
    known = {"model", "solver", "species", "n_traj", "observed", "prior", "summaries", "distance", "method",
             "settings", "seed", "scheduler", "run_dir", "timespan"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known: {sorted(known)}")
    for key in ("model", "observed", "prior", "summaries"):
        if key not in cfg:
            raise ValueError(f"config is missing the key {key!r} (see `sciope-abs infer --help`)")
    return cfg


def _observed(spec: Any, simulator, crn, base: Path) -> tuple[np.ndarray, dict | None]:
    """The observed array and the synthetic truth (or None)."""
    if not isinstance(spec, dict):
        raise ValueError("observed must be a mapping: {synthetic: {truth: ...}} or {file: PATH}")
    if ("synthetic" in spec) == ("file" in spec):
        raise ValueError("observed needs exactly one of synthetic: and file:")
    if "synthetic" in spec:
        syn = dict(spec["synthetic"] or {})
        truth = {k: float(v) for k, v in dict(syn.get("truth") or {}).items()}
        unknown = [k for k in truth if k not in crn.parameters]
        if unknown:
            raise ValueError(f"synthetic truth names unknown parameters {unknown} of model {crn.name!r}")
        theta = np.array([[truth.get(p, crn.parameters[p]) for p in simulator.param_names]])
        full_truth = {p: float(theta[0, j]) for j, p in enumerate(simulator.param_names)}
        x = simulator.simulate(theta, n_traj=int(syn.get("n_traj", 1)), seed=int(syn.get("seed", 0)))
        if not np.isfinite(x).all():
            raise ValueError("the synthetic data set failed to simulate (NaN traces)")
        return x[0], full_truth
    path = Path(str(spec["file"]))
    if not path.is_absolute():
        path = base / path
    if not path.exists():
        raise FileNotFoundError(f"observed data file {path} not found")
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    from ..store import is_store, load_simulations

    if is_store(path):
        ss = load_simulations(path)
        idx = int(spec.get("index", 0))
        if not 0 <= idx < ss.traces.shape[0]:
            raise ValueError(f"observed index {idx} out of range: the store holds {ss.traces.shape[0]} points")
        if tuple(ss.species) != tuple(simulator.species):
            pos = [list(ss.species).index(s) for s in simulator.species if s in ss.species]
            if len(pos) != len(simulator.species):
                raise ValueError(f"the store's species {list(ss.species)} lack some of {list(simulator.species)}")
            return ss.traces[idx][:, pos, :], None
        return ss.traces[idx], None
    raise ValueError(f"observed file {path} must be a .npy array or a zarr store of simulations")


def build_summary(spec: Any, simulator: Any, prior: Any = None, *, seed: int = 0, n_traj: int = 1, client: Any = None, load_from: Any = None) -> Any:
    """The summary of the ``summaries:`` entry (:func:`sciope_abs.pipeline.specs.build_summary`).
    ``{name: learned, arch: cnn, n_pilot: ...}`` and ``{name: semiauto, base: [...]}`` entries are
    fitted on a pilot from ``prior`` (or loaded from ``load_from``, a run folder), see
    :func:`sciope_abs.inference.learned.resolve_learned_specs`."""
    from ..inference.learned import resolve_learned_specs
    from ..pipeline.specs import build_summary as _build_summary

    try:
        if prior is not None:
            spec = resolve_learned_specs(spec, simulator, prior, seed=seed, n_traj=n_traj, client=client,
                                         load_from=load_from)
    except TypeError as exc:
        raise ValueError(f"summaries: {exc}") from None
    return _build_summary(spec, simulator.species)


def _build(cfg: dict, base: Path, run_dir: Path | None = None, client: Any = None):
    """Simulator, prior, summary, distance, observed array, truth from a config dict (the objects
    from :mod:`sciope_abs.pipeline.specs`, the factory the pipeline uses too)."""
    from ..pipeline.specs import build_distance, build_model, build_prior, build_timespan
    from ..simulators import make_simulator

    crn = build_model(cfg["model"])
    truth_spec = ((cfg.get("observed") or {}).get("synthetic") or {}).get("truth") if isinstance(
        cfg.get("observed"), dict) else None
    truth_spec = {k: _number(v, f"observed.synthetic.truth.{k}") for k, v in (truth_spec or {}).items()}
    prior = build_prior(cfg["prior"], crn=crn, truth=truth_spec or None)
    simulator = make_simulator(crn, param_names=prior.names, species=cfg.get("species"),
                               timespan=build_timespan(cfg.get("timespan")), solver=cfg.get("solver", "auto"))
    summary = build_summary(cfg["summaries"], simulator, prior, seed=_integer(cfg.get("seed", 0), "seed"),
                            n_traj=_integer(cfg.get("n_traj", 1), "n_traj"), client=client, load_from=run_dir)
    distance = build_distance(cfg.get("distance", "euclidean"))
    observed, truth = _observed(cfg["observed"], simulator, crn, base)
    return simulator, prior, summary, distance, observed, truth


def _number(v: Any, key: str) -> float:
    if isinstance(v, bool):
        raise ValueError(f"{key}: expected a number, got {v!r}")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{key}: could not convert {v!r} to a number") from None


def _integer(v: Any, key: str) -> int:
    x = _number(v, key)
    if not float(x).is_integer():
        raise ValueError(f"{key}: expected an integer, got {v!r}")
    return int(x)


def _settings(cfg: dict, method: str) -> dict:
    """The method's settings: keys and kinds checked against its settings dataclass
    (:class:`~sciope_abs.inference.config.SMCConfig` / ``RejectionConfig``: one line naming
    ``settings.key``), SMC's ranges by ``SMCABC.check_config`` before any run.  Only the keys the
    user gave are returned (the rest are the method's signature defaults, the same dataclass)."""
    from ..inference.config import RejectionConfig, SMCConfig

    given = cfg.get("settings") or {}
    if not isinstance(given, dict):
        raise ValueError(f"settings must be a mapping of the method's options, got {given!r}")
    cls = SMCConfig if method == "smc" else RejectionConfig
    unknown = sorted(set(given) - set(cls.field_names()))
    if unknown:
        raise ValueError(f"settings {unknown} are not options of method {method!r}; "
                         f"allowed: {sorted(cls.field_names())}")
    config = cls.from_mapping(given, "settings")
    settings = {k: getattr(config, k) for k in given}
    bs = settings.get("batch_size")
    if bs is not None and bs != "auto":
        settings["batch_size"] = _integer(bs, "settings.batch_size")
    if method == "rejection" and "tolerance" not in settings and "quantile" not in settings:
        raise ValueError("rejection settings need tolerance: or quantile:")
    if isinstance(config, SMCConfig):
        from ..inference.smc import SMCABC

        try:
            SMCABC.check_config(config)
        except ValueError as exc:
            raise ValueError(f"settings: {exc}") from None
    return settings


# --------------------------------------------------------------------------- outputs
def _write_outputs(run_dir: Path, post, truth: dict | None) -> None:
    post.save(run_dir / "posterior.npz")
    (run_dir / "history.json").write_text(json.dumps(post.history, indent=1, default=float))
    post.to_pandas().to_csv(run_dir / "posterior.csv", index=False)
    lines = [f"method: {post.method}", f"message: {post.message}", f"samples: {len(post)} (ESS {post.ess:.1f})",
             f"simulations: {post.n_simulations} (used {post.n_simulations_used}, discarded "
             f"{post.n_simulations_discarded} of a cut-off round)", f"tolerance: {post.tolerance:g}", ""]
    if len(post):
        table = post.describe()
        if truth:
            table["truth"] = [truth.get(n, np.nan) for n in post.names]
        lines.append(table.to_string())
    (run_dir / "summary.txt").write_text("\n".join(lines) + "\n")
    if len(post):
        from ..viz.html import save_html

        save_html(post.plot(truth=truth if truth else None), run_dir / "posterior.html", f"posterior ({post.method})",
                  inline=False)


#: what a run folder holds before its run has started (a folder holding only these is reusable)
_RUN_FILES = {"config.yaml", "run.json", "observed.npy", "truth.json", "smc"}


def _started(run_dir: Path) -> bool:
    """Whether the folder holds results: a posterior or at least one finished SMC round."""
    from ..inference import History

    if (run_dir / "posterior.npz").exists():
        return True
    smc = run_dir / "smc"
    if not History.exists(smc):
        return False
    try:
        return History.load(smc).last_round >= 0
    except (ValueError, FileNotFoundError):
        return True  # something we cannot read: never overwritten


def _check_reusable(run_dir: Path, clear: bool = False) -> None:
    """A new run goes into an empty folder, or one whose earlier attempt never started (whose
    files are removed with ``clear=True``)."""
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return
    names = {p.name for p in run_dir.iterdir()}
    if not names <= _RUN_FILES or _started(run_dir):
        raise ValueError(f"run directory {run_dir} is not empty; continue it with --resume {run_dir} "
                         "or choose another with --out")
    if not clear:
        return
    for name in names:
        p = run_dir / name
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def _run_meta(run_dir: Path) -> dict:
    f = run_dir / "run.json"
    if not f.exists():
        return {}
    try:
        return json.loads(f.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError(f"{f} is not a readable JSON file") from None


def _set_status(run_dir: Path, status: str, error: str = "") -> None:
    meta = _run_meta(run_dir)
    meta.update(status=status, error=error)
    (run_dir / "run.json").write_text(json.dumps(meta))


def _open_resume(run_dir: Path) -> tuple[dict, Path]:
    """The config and its folder of a run to resume (refusing a run that never started)."""
    from ..inference import History

    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise FileNotFoundError(f"{run_dir} is not an infer run directory (no config.yaml)")
    meta = _run_meta(run_dir)
    if meta.get("status") == "failed" and not _started(run_dir) and not History.exists(run_dir / "smc"):
        raise ValueError(f"nothing to resume in {run_dir}: the last attempt failed before the run started "
                         f"({meta.get('error', '')}); fix the config and start again with "
                         f"`sciope-abs infer CONFIG --out {run_dir}`")
    if meta.get("status") == "failed" and not _started(run_dir):
        raise ValueError(f"nothing to resume in {run_dir}: no round finished before the last attempt failed "
                         f"({meta.get('error', '')}); start it again with `sciope-abs infer CONFIG --out {run_dir}`")
    base = Path(meta["config_dir"]) if "config_dir" in meta else run_dir
    return _load_yaml(cfg_path), base


def run(args: argparse.Namespace) -> int:
    from ..inference import Posterior

    if (args.config is None) == (args.resume is None):
        raise ValueError("give either CONFIG.yaml or --resume RUN_DIR")
    resume = args.resume is not None
    if resume:
        run_dir = Path(args.resume)
        if (run_dir / "posterior.npz").exists() and (run_dir / "config.yaml").exists():
            post = Posterior.load(run_dir / "posterior.npz")
            log.info(f"{run_dir}: the run is complete ({post.message})")
            log.info((run_dir / "summary.txt").read_text() if (run_dir / "summary.txt").exists() else repr(post))
            return 0
        cfg, base = _open_resume(run_dir)
    else:
        cfg_file = Path(args.config)
        cfg = _load_yaml(cfg_file)
        base = cfg_file.resolve().parent
        run_dir = Path(args.out or cfg.get("run_dir") or f"{cfg_file.with_suffix('')}_run")
        _check_reusable(run_dir)

    # the whole config is checked, and the objects built, before the run folder is written
    method = str(cfg.get("method", "smc")).lower()
    if method not in ("rejection", "smc"):
        raise ValueError(f"method must be 'rejection' or 'smc', got {method!r}")
    settings = _settings(cfg, method)
    n_traj = _integer(cfg.get("n_traj", 1), "n_traj")
    seed = _integer(cfg.get("seed", 0), "seed")
    client = args.scheduler or cfg.get("scheduler") or None
    abc, truth = _method_object(method, _build(cfg, base, run_dir if resume else None, client), n_traj, client)
    if not resume:
        _check_reusable(run_dir, clear=True)
        run_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cfg_file, run_dir / "config.yaml")
        (run_dir / "run.json").write_text(json.dumps({"config_dir": str(base), "config": str(cfg_file)}))
        from ..inference.learned import save_learned_parts

        save_learned_parts(cfg["summaries"], abc.summary, run_dir)   # fitted learned summaries (issue 15)
    _set_status(run_dir, "running")
    try:
        post = _infer(run_dir, abc, settings, seed, resume, args.progress)
    except BaseException as exc:
        _set_status(run_dir, "failed", " ".join(f"{type(exc).__name__}: {exc}".split()))
        raise
    if truth:
        (run_dir / "truth.json").write_text(json.dumps(truth))
    _write_outputs(run_dir, post, truth)
    _set_status(run_dir, "done")
    log.info(f"wrote {run_dir}: {post.message}")
    log.info((run_dir / "summary.txt").read_text())
    sys.stdout.flush()
    return 0


def _method_object(method: str, objects: tuple, n_traj: int, client: Any):
    """The ABCRejection / SMCABC object (its observed summary computed: a bad summary spec fails
    here, before the run folder is written) and the synthetic truth."""
    from ..inference import SMCABC, ABCRejection

    simulator, prior, summary, distance, observed, truth = objects
    cls = ABCRejection if method == "rejection" else SMCABC
    return cls(simulator, prior, summary, distance, observed=observed, n_traj=n_traj, client=client), truth


def _infer(run_dir: Path, abc: Any, settings: dict, seed: int, resume: bool, progress: bool):
    """Run (or resume) the method; returns the posterior."""
    from ..inference import History

    np.save(run_dir / "observed.npy", np.asarray(abc.observed, dtype=np.float64))
    if abc.method == "rejection":
        return abc.infer(seed=seed, progress=progress, **settings)
    smc_dir = run_dir / "smc"
    if resume and History.exists(smc_dir):
        log.info(f"resuming SMC-ABC from {smc_dir}")
        return abc.resume(smc_dir, progress=progress)
    if smc_dir.exists():
        shutil.rmtree(smc_dir)  # a store whose round 0 never finished: start over (same seed, same answer)
    return abc.infer(seed=seed, run_dir=smc_dir, progress=progress, **settings)
