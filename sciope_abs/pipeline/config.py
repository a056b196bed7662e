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
    fidelity: {n_particles: 20, n_traj: 100, threshold: 1.5}
    ssa_infer: {enabled: false}      # the same SMC-ABC with the exact simulator, for comparison
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PipelineConfig", "SECTION_DEFAULTS", "load_config"]

SECTION_DEFAULTS: dict[str, dict] = {
    "dataset": {"n_settings": 80, "n_traj": 20, "dt": None, "n_steps": None, "solver": "auto",
                "split": [0.7, 0.15, 0.15]},
    "emulator": {"method": "search", "search": {}, "train": {}},
    "evaluate": {"n_settings": 8, "n_traj": 200, "lags": [1, 3, 5], "bins": 100},
    "observed": {"truth": {}, "initial_state": None, "n_traj": 20, "seed": 1},
    "infer": {"n_traj": 20, "n_particles": 300, "quantile": 0.5, "max_rounds": 5, "min_acceptance_rate": 0.02,
              "max_simulations": None, "max_time": None, "batch_size": "auto", "scheduler": "sync"},
    "fidelity": {"n_particles": 20, "n_traj": 100, "threshold": 1.5, "kind": "l1", "bins": 100},
    "ssa_infer": {"enabled": False, "scheduler": None},
}
_TOP = {"name", "model", "vary_params", "species", "seed", "scheduler", "prior", "summaries", "distance",
        *SECTION_DEFAULTS}
_EMULATOR_METHODS = ("search", "train")


def _positive_int(section: str, key: str, v: Any, allow_none: bool = False) -> None:
    if v is None and allow_none:
        return
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{section}.{key} must be a positive integer, got {v!r}")


def read_yaml(path) -> object:
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

    def __post_init__(self) -> None:
        for sec, defaults in SECTION_DEFAULTS.items():
            given = getattr(self, sec) or {}
            if not isinstance(given, dict):
                raise ValueError(f"config section {sec!r} must be a mapping, got {given!r}")
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
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.scheduler is not None and not isinstance(self.scheduler, str):
            raise ValueError(f"scheduler must be an address, 'sync' or null, got {self.scheduler!r}")
        d = self.dataset
        _positive_int("dataset", "n_settings", d["n_settings"])
        _positive_int("dataset", "n_traj", d["n_traj"])
        _positive_int("dataset", "n_steps", d["n_steps"], allow_none=True)
        if d["dt"] is not None and (isinstance(d["dt"], bool) or not isinstance(d["dt"], (int, float)) or d["dt"] <= 0):
            raise ValueError(f"dataset.dt must be a positive number, got {d['dt']!r}")
        e = self.emulator
        if e["method"] not in _EMULATOR_METHODS:
            raise ValueError(f"emulator.method must be one of {list(_EMULATOR_METHODS)}, got {e['method']!r}")
        for k in _EMULATOR_METHODS:
            if not isinstance(e[k], dict):
                raise ValueError(f"emulator.{k} must be a mapping of keyword arguments, got {e[k]!r}")
        v = self.evaluate
        _positive_int("evaluate", "n_settings", v["n_settings"])
        _positive_int("evaluate", "n_traj", v["n_traj"])
        if not isinstance(v["lags"], list) or not v["lags"]:
            raise ValueError(f"evaluate.lags must be a non-empty list of steps, got {v['lags']!r}")
        o = self.observed
        if not isinstance(o["truth"], dict) or not o["truth"]:
            raise ValueError("observed.truth must map the varied rates to their true values")
        missing = [p for p in self.vary_params if p not in o["truth"]]
        extra = [p for p in o["truth"] if p not in self.vary_params]
        if missing or extra:
            raise ValueError(f"observed.truth must give exactly vary_params {self.vary_params}; "
                             f"missing {missing}, not varied {extra}")
        if o["initial_state"] is not None and not isinstance(o["initial_state"], dict):
            raise ValueError(f"observed.initial_state must map species to counts, got {o['initial_state']!r}")
        _positive_int("observed", "n_traj", o["n_traj"])
        i = self.infer
        _positive_int("infer", "n_traj", i["n_traj"])
        _positive_int("infer", "n_particles", i["n_particles"])
        _positive_int("infer", "max_rounds", i["max_rounds"])
        if not 0 < float(i["quantile"]) < 1:
            raise ValueError(f"infer.quantile must lie in (0, 1), got {i['quantile']!r}")
        f = self.fidelity
        _positive_int("fidelity", "n_particles", f["n_particles"])
        _positive_int("fidelity", "n_traj", f["n_traj"])
        if not float(f["threshold"]) > 0:
            raise ValueError(f"fidelity.threshold must be > 0, got {f['threshold']!r}")
        if not isinstance(self.ssa_infer["enabled"], bool):
            raise ValueError(f"ssa_infer.enabled must be true or false, got {self.ssa_infer['enabled']!r}")
        if self.prior is not None:
            if not isinstance(self.prior, dict):
                raise ValueError("prior must map each varied rate to {uniform: [low, high]} (or be null)")
            if sorted(self.prior) != sorted(self.vary_params):
                raise ValueError(f"prior must name exactly vary_params {self.vary_params}, got {sorted(self.prior)}")

    # ------------------------------------------------------------------ I/O
    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
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
    def from_yaml(cls, path) -> "PipelineConfig":
        return cls.from_dict(read_yaml(path))

    def to_dict(self) -> dict:
        keys = ["name", "model", "vary_params", "species", "seed", "scheduler", "prior", "summaries", "distance",
                *SECTION_DEFAULTS]
        return {k: copy.deepcopy(getattr(self, k)) for k in keys}

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(json.loads(json.dumps(self.to_dict())), sort_keys=False)


def load_config(config) -> PipelineConfig:
    """A :class:`PipelineConfig` from itself, a dict, or a YAML path."""
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, dict):
        return PipelineConfig.from_dict(config)
    if isinstance(config, (str, Path)):
        return PipelineConfig.from_yaml(config)
    raise ValueError(f"config must be a PipelineConfig, a dict or a YAML path, got {type(config).__name__}")
