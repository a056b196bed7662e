"""The pipeline configuration: one YAML file, validated into a :class:`PipelineConfig`.

Every section has defaults; unknown keys and bad values raise a one-line ``ValueError`` naming
the key.  Example (``examples/pipeline_demo.yaml`` is the demo's)::

    name: x16_demo
    model: x16
    vary_params: [a11, a21]          # rates the emulator is conditioned on and ABC infers
    species: [P1]                    # observed species (default: the model's observed)
    seed: 0
    scheduler: null                  # Dask address, "sync", or null (local cluster)
    dataset:  {n_settings: 80, n_traj: 20, dt: 20.0, n_steps: 5, solver: auto}
    emulator: {method: search, search: {...}}    # or method: train, train: {...}
    evaluate: {n_settings: 8, n_traj: 200, lags: [1, 3, 5]}
    observed: {truth: {a11: 110, a21: 420}, initial_state: {G1: 2, G2: 2, P1: 500}, n_traj: 20, seed: 1}
    prior: null                      # default: uniform over the rates' trained ranges
    summaries: [mean, std, quantiles]
    distance: adaptive
    infer:    {n_traj: 20, n_particles: 300, quantile: 0.5, max_rounds: 5, scheduler: sync}
                                     # epsilon: {name: acceptance_rate, target_rate: 0.1} replaces quantile
                                     # simulator: emulator (default) | ssa | auto (the cheaper per proposal)
    fidelity: {n_particles: 20, n_traj: 100, threshold: 1.5}
    ssa_infer: {enabled: false}      # the same SMC-ABC with the exact simulator, for comparison
    refine: {max_rounds: 0}          # > 0: refine the emulator around a posterior that fails the check
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
import os
from pathlib import Path
from typing import Any

from .._checks import check_nonneg_int, check_positive_int
from .._config import Config, as_number, number_in, option
from ..abstraction.config import DatasetConfig, EvaluationConfig, SearchConfig, TrainConfig
from ..inference.config import SMCConfig
from .refine import REFINE_DEFAULTS, check_refine_section

__all__ = ["PipelineConfig", "SECTION_DEFAULTS", "load_config", "EvaluateSection", "InferSection",
           "FidelitySection", "SsaInferSection", "emulator_config", "as_number"]

#: values of ``infer.simulator``: the cheaper per proposal (measured), the emulator, the exact SSA
INFER_SIMULATORS = ("auto", "emulator", "ssa")


#: the ``evaluate:`` section (histogram distances emulator vs SSA on held-out settings): the
#: settings of ``evaluate()``, with its defaults
EvaluateSection = EvaluationConfig


@dataclass(frozen=True)
class InferSection(SMCConfig):
    """The ``infer:`` section (SMC-ABC with the emulator; ``ssa_infer`` reuses it with the SSA):
    the fields of :class:`~sciope_abs.inference.config.SMCConfig` with its defaults (those of
    ``SMCABC.infer``), plus the pipeline's own (``n_traj``, ``scheduler``, ``simulator``)."""

    n_traj: int = option(20, "trajectories per proposal")
    scheduler: str | None = option("sync", "Dask address, sync, or null (the pipeline's client)", none=True)
    simulator: str = option("emulator", "emulator, ssa, or auto (the cheaper per proposal)",
                            choices=INFER_SIMULATORS)

    def smc_config(self) -> SMCConfig:
        """The SMC-ABC settings of the section (its fields without the pipeline's own)."""
        return SMCConfig(**{name: getattr(self, name) for name in SMCConfig.field_names()})


@dataclass(frozen=True)
class FidelitySection(Config):
    """The ``fidelity:`` section (re-simulate posterior particles with SSA)."""

    n_particles: int = option(20, "posterior particles re-simulated")
    n_traj: int = option(100, "trajectories per particle and simulator")
    threshold: float = option(1.5, "largest emulator / SSA-self distance ratio that passes")
    kind: str = option("l1", "histogram distance: l1 or iou", choices=("l1", "iou"))
    bins: Any = option(100, "histogram bins, or auto", "any")


@dataclass(frozen=True)
class SsaInferSection(Config):
    """The ``ssa_infer:`` section (the same SMC-ABC with the exact simulator, for comparison)."""

    enabled: bool = option(False, "run it")
    scheduler: str | None = option(None, "Dask address, sync, or null (the pipeline's client)", "str")


#: each section's defaults, read from its dataclass (``emulator.search`` / ``emulator.train`` hold
#: only the user's keys: their defaults are :class:`SearchConfig` / :class:`TrainConfig`)
SECTION_DEFAULTS: dict[str, dict] = {
    "dataset": DatasetConfig().to_dict(),
    "emulator": {"method": "search", "search": {}, "train": {}},
    "evaluate": EvaluateSection().to_dict(),
    "observed": {"truth": {}, "initial_state": None, "n_traj": 20, "seed": 1},
    "infer": InferSection().to_dict(),
    "fidelity": FidelitySection().to_dict(),
    "ssa_infer": SsaInferSection().to_dict(),
    "refine": dict(REFINE_DEFAULTS),
}
#: the dataclass whose fields are a section's keys (``observed`` and ``emulator`` are checked by hand)
_SECTION_CLASSES: dict[str, type[Config]] = {"dataset": DatasetConfig, "evaluate": EvaluateSection,
                                             "infer": InferSection, "fidelity": FidelitySection,
                                             "ssa_infer": SsaInferSection}
_EMULATOR_CONFIGS: dict[str, type[Config]] = {"search": SearchConfig, "train": TrainConfig}
_TOP = {"name", "model", "vary_params", "species", "seed", "scheduler", "prior", "summaries", "distance",
        *SECTION_DEFAULTS}
_EMULATOR_METHODS = ("search", "train")


def _positive_int(section: str, key: str, v: Any, allow_none: bool = False) -> None:
    if v is None and allow_none:
        return
    check_positive_int(v, f"{section}.{key}")


def read_yaml(path: Any) -> object:
    """Parse a YAML config file; a missing file or bad YAML is a one-line error naming the file."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"config {path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except OSError as exc:
        raise ValueError(f"config {path} cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"config {path} is not valid YAML: {' '.join(str(exc).split())}") from None


@dataclass
class PipelineConfig:
    """A validated pipeline configuration (see the module docstring for the keys)."""

    model: str
    vary_params: list
    name: str = "pipeline"
    species: list | None = None
    seed: int = 0
    scheduler: str | None = None
    prior: dict | None = None
    summaries: Any = field(default_factory=lambda: ["mean", "std", "quantiles"])
    distance: Any = "adaptive"
    dataset: dict = field(default_factory=dict)
    emulator: dict = field(default_factory=dict)
    evaluate: dict = field(default_factory=dict)
    observed: dict = field(default_factory=dict)
    infer: dict = field(default_factory=dict)
    fidelity: dict = field(default_factory=dict)
    ssa_infer: dict = field(default_factory=dict)
    refine: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for sec, defaults in SECTION_DEFAULTS.items():
            given = getattr(self, sec) or {}
            if not isinstance(given, dict):
                raise ValueError(f"config section {sec!r} must be a mapping, got {given!r}")
            if sec in _SECTION_CLASSES:
                _SECTION_CLASSES[sec].check_keys(given, sec)
            unknown = sorted(set(given) - set(defaults))
            if unknown:
                raise ValueError(f"unknown key(s) {unknown} in section {sec!r}; known: {sorted(defaults)}")
            merged = copy.deepcopy(defaults)
            merged.update(copy.deepcopy(given))
            setattr(self, sec, merged)
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        from ..crn import list_models

        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"model must be a model name or an SBML path, got {self.model!r}")
        if not self.model.lower().endswith((".xml", ".sbml")) and self.model not in list_models():
            raise ValueError(f"unknown model {self.model!r}; choose one of {list_models()} or an SBML file")
        if isinstance(self.vary_params, str):
            self.vary_params = [v.strip() for v in self.vary_params.split(",") if v.strip()]
        if not isinstance(self.vary_params, list) or not self.vary_params:
            raise ValueError("vary_params must be a non-empty list of rate names")
        if self.species is not None and (not isinstance(self.species, list) or not self.species):
            raise ValueError(f"species must be a non-empty list of species names, got {self.species!r}")
        check_nonneg_int(self.seed, "seed")
        if self.scheduler is not None and not isinstance(self.scheduler, str):
            raise ValueError(f"scheduler must be an address, 'sync' or null, got {self.scheduler!r}")
        self._validate_dataset()
        e = self.emulator
        if e["method"] not in _EMULATOR_METHODS:
            raise ValueError(f"emulator.method must be one of {list(_EMULATOR_METHODS)}, got {e['method']!r}")
        for k in _EMULATOR_METHODS:
            if not isinstance(e[k], dict):
                raise ValueError(f"emulator.{k} must be a mapping of keyword arguments, got {e[k]!r}")
        for k, cls in _EMULATOR_CONFIGS.items():   # keys and value kinds, one line naming the key
            cls.from_mapping(e[k], f"emulator.{k}")
        v = self.evaluate
        _positive_int("evaluate", "n_settings", v["n_settings"])
        _positive_int("evaluate", "n_traj", v["n_traj"])
        if v["bins"] not in ("auto", None):   # null: one bin per count, as in evaluate()
            _positive_int("evaluate", "bins", v["bins"])
        if not isinstance(v["lags"], list) or not v["lags"]:
            raise ValueError(f"evaluate.lags must be a non-empty list of steps, got {v['lags']!r}")
        for j, lag in enumerate(v["lags"]):
            _positive_int("evaluate", f"lags[{j}]", lag)
        self._validate_observed()
        self._validate_infer()
        f = self.fidelity
        _positive_int("fidelity", "n_particles", f["n_particles"])
        _positive_int("fidelity", "n_traj", f["n_traj"])
        if f["bins"] != "auto":
            _positive_int("fidelity", "bins", f["bins"])
        number_in(f, "fidelity", "threshold", 0.0, float("inf"))
        if f["kind"] not in ("l1", "iou"):
            raise ValueError(f"fidelity.kind must be 'l1' or 'iou', got {f['kind']!r}")
        if not isinstance(self.ssa_infer["enabled"], bool):
            raise ValueError(f"ssa_infer.enabled must be true or false, got {self.ssa_infer['enabled']!r}")
        for sec in ("infer", "ssa_infer"):
            sch = getattr(self, sec)["scheduler"]
            if sch is not None and not isinstance(sch, str):
                raise ValueError(f"{sec}.scheduler must be an address, 'sync' or null, got {sch!r}")
        self._validate_prior()
        check_refine_section(self.refine)

    def _validate_dataset(self) -> None:
        from ..simulators.factory import SOLVER_NAMES

        d = self.dataset
        _positive_int("dataset", "n_settings", d["n_settings"])
        _positive_int("dataset", "n_traj", d["n_traj"])
        _positive_int("dataset", "n_steps", d["n_steps"], allow_none=True)
        if d["dt"] is not None and (isinstance(d["dt"], bool) or not isinstance(d["dt"], (int, float)) or d["dt"] <= 0):
            raise ValueError(f"dataset.dt must be a positive number, got {d['dt']!r}")
        if d["solver"] not in SOLVER_NAMES:
            raise ValueError(f"dataset.solver must be one of {list(SOLVER_NAMES)}, got {d['solver']!r}")
        split = d["split"]
        if not isinstance(split, (list, tuple)) or len(split) != 3:
            raise ValueError(f"dataset.split must be three fractions [train, validation, test], got {split!r}")
        fr = [as_number(x, f"dataset.split[{j}]") for j, x in enumerate(split)]
        if any(x <= 0 for x in fr) or abs(sum(fr) - 1.0) > 1e-6:
            raise ValueError(f"dataset.split must be three positive fractions summing to 1, got {split!r}")

    def _validate_observed(self) -> None:
        o = self.observed
        if not isinstance(o["truth"], dict) or not o["truth"]:
            raise ValueError("observed.truth must map the varied rates to their true values")
        missing = [p for p in self.vary_params if p not in o["truth"]]
        extra = [p for p in o["truth"] if p not in self.vary_params]
        if missing or extra:
            raise ValueError(f"observed.truth must give exactly vary_params {self.vary_params}; "
                             f"missing {missing}, not varied {extra}")
        for p, val in o["truth"].items():
            if not as_number(val, f"observed.truth.{p}") > 0:
                raise ValueError(f"observed.truth.{p} must be > 0, got {val!r}")
        if o["initial_state"] is not None:
            if not isinstance(o["initial_state"], dict):
                raise ValueError(f"observed.initial_state must map species to counts, got {o['initial_state']!r}")
            for sp, c in o["initial_state"].items():
                x = as_number(c, f"observed.initial_state.{sp}")
                if x < 0 or not x.is_integer():
                    raise ValueError(f"observed.initial_state.{sp} must be a count >= 0, got {c!r}")
        _positive_int("observed", "n_traj", o["n_traj"])
        check_nonneg_int(o["seed"], "observed.seed")

    def _validate_infer(self) -> None:
        i = self.infer
        _positive_int("infer", "n_traj", i["n_traj"])
        _positive_int("infer", "n_particles", i["n_particles"])
        if i["n_particles"] < 2:
            raise ValueError(f"infer.n_particles must be at least 2, got {i['n_particles']!r}")
        _positive_int("infer", "max_rounds", i["max_rounds"])
        _positive_int("infer", "max_simulations", i["max_simulations"], allow_none=True)
        number_in(i, "infer", "quantile", 0.0, 1.0, hi_open=True)
        number_in(i, "infer", "min_acceptance_rate", 0.0, 1.0, allow_none=True)
        number_in(i, "infer", "max_time", 0.0, float("inf"), allow_none=True)
        number_in(i, "infer", "target_tolerance", 0.0, float("inf"), lo_open=False, allow_none=True)
        if i["simulator"] not in INFER_SIMULATORS:
            raise ValueError(f"infer.simulator must be one of {', '.join(INFER_SIMULATORS)}, got {i['simulator']!r}")
        bs = i["batch_size"]
        if bs != "auto":
            _positive_int("infer", "batch_size", bs)
        if i["epsilon"] is not None:
            from ..inference.epsilon import get_epsilon

            try:
                get_epsilon(i["epsilon"])
            except ValueError as exc:
                raise ValueError(f"infer.epsilon: {exc}") from None
        if i["min_acceptance_rate"] is None and i["max_simulations"] is None and i["max_time"] is None:
            raise ValueError("infer needs a bound on each SMC round: give min_acceptance_rate, max_simulations "
                             "or max_time")

    def _validate_prior(self) -> None:
        from .specs import check_prior_spec   # the grammar `sciope-abs infer` reads too

        check_prior_spec(self.prior, self.vary_params)

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, d: Any) -> "PipelineConfig":  # checked to be a mapping first
        if not isinstance(d, dict):
            raise ValueError("a pipeline config must be a mapping of keys")
        unknown = sorted(set(d) - _TOP)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known: {sorted(_TOP)}")
        for key in ("model", "vary_params"):
            if key not in d:
                raise ValueError(f"config is missing the key {key!r}")
        return cls(**copy.deepcopy(d))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "PipelineConfig":
        return cls.from_dict(read_yaml(path))

    def to_dict(self) -> dict:
        keys = ["name", "model", "vary_params", "species", "seed", "scheduler", "prior", "summaries", "distance",
                *SECTION_DEFAULTS]
        return {k: copy.deepcopy(getattr(self, k)) for k in keys}

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(json.loads(json.dumps(self.to_dict())), sort_keys=False)


def load_config(config: Any) -> PipelineConfig:
    """A :class:`PipelineConfig` from itself, a dict, or a YAML path."""
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, dict):
        return PipelineConfig.from_dict(config)
    if isinstance(config, (str, Path)):
        return PipelineConfig.from_yaml(config)
    raise ValueError(f"config must be a PipelineConfig, a dict or a YAML path, got {type(config).__name__}")


def emulator_config(cfg: PipelineConfig) -> Any:
    """The :class:`SearchConfig` or :class:`TrainConfig` of the ``emulator:`` section's method (its
    keys over the dataclass's defaults)."""
    method = cfg.emulator["method"]
    return _EMULATOR_CONFIGS[method].from_mapping(cfg.emulator[method], f"emulator.{method}")
