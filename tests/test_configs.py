"""One source of hyper-parameters (issue 14 step 2): the settings dataclasses are what the API, the
CLI, the YAML pipeline and the model card read; one spec -> object factory for `sciope-abs infer`
and the pipeline."""
import ast
import dataclasses
import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

from sciope_abs.abstraction.config import DatasetConfig, SearchConfig, TrainConfig
from sciope_abs.pipeline import PipelineConfig
from sciope_abs.pipeline.config import SECTION_DEFAULTS, emulator_config

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = {"model": "x16", "vary_params": ["a11", "a21"], "observed": {"truth": {"a11": 110.0, "a21": 420.0}}}


def _args(argv):
    from sciope_abs.cli import build_parser

    return build_parser().parse_args(argv)


# --------------------------------------------------------------------------- one set of defaults
def test_cli_train_defaults_are_the_dataclass_defaults():
    from sciope_abs.cli._options import config_from_args
    from sciope_abs.cli.train import _hidden

    args = _args(["train", "ds.zarr", "--out", "emu"])
    assert config_from_args(TrainConfig, args, hidden=_hidden(args.hidden)) == TrainConfig()
    args = _args(["train", "ds.zarr", "--out", "emu", "--lr", "0.01", "--hidden", "8,4", "--components", "3"])
    got = config_from_args(TrainConfig, args, hidden=_hidden(args.hidden))
    assert got == TrainConfig(learning_rate=0.01, hidden=(8, 4), n_components=3)


def test_cli_search_defaults_are_the_dataclass_defaults():
    from sciope_abs.cli._options import config_from_args

    args = _args(["search", "ds.zarr", "--out", "emu"])
    # the size is the dataset's default_size, as in the API and the pipeline (no fixed 2, 2, 20)
    assert (args.cells, args.cell_size, args.expansion) == (None, None, None)
    assert config_from_args(SearchConfig, args, ops=None, epochs=tuple(args.epochs)) == SearchConfig()
    args = _args(["search", "ds.zarr", "--out", "emu", "--arch-lr", "0.1", "--epochs", "1", "2", "3"])
    got = config_from_args(SearchConfig, args, ops=None, epochs=tuple(args.epochs))
    assert got == SearchConfig(arch_learning_rate=0.1, epochs=(1, 2, 3))


def test_cli_dataset_defaults_are_the_dataclass_defaults():
    args = _args(["dataset", "x16", "--settings", "4", "--traj", "2"])
    d = DatasetConfig()
    assert (args.dt, args.n_steps, args.solver) == (d.dt, d.n_steps, d.solver)
    assert tuple(float(v) for v in args.split.split(",")) == d.split


def test_pipeline_defaults_are_the_dataclass_defaults():
    cfg = PipelineConfig.from_dict(MINIMAL)
    assert emulator_config(cfg) == SearchConfig()
    assert cfg.dataset == DatasetConfig().to_dict() == SECTION_DEFAULTS["dataset"]
    trained = PipelineConfig.from_dict({**MINIMAL, "emulator": {"method": "train", "train": {"epochs": 7}}})
    assert emulator_config(trained) == TrainConfig(epochs=7)
    searched = PipelineConfig.from_dict({**MINIMAL, "emulator": {"search": {"epochs": [1, 2, 3], "lags": [1, 2]}}})
    assert emulator_config(searched) == SearchConfig(epochs=(1, 2, 3), lags=(1, 2))


def test_api_defaults_are_the_dataclass_defaults():
    pytest.importorskip("tensorflow")
    from sciope_abs.abstraction.dataset import build_dataset
    from sciope_abs.abstraction.nas import SEARCH_DEFAULTS, search
    from sciope_abs.abstraction.training import TRAIN_DEFAULTS, train

    assert TRAIN_DEFAULTS == dataclasses.asdict(TrainConfig())
    assert SEARCH_DEFAULTS == dataclasses.asdict(SearchConfig())
    for fn in (train, search):
        params = inspect.signature(fn).parameters
        assert params["config"].default is None          # None = the dataclass's defaults
        hyper = set(TrainConfig.field_names() if fn is train else SearchConfig.field_names())
        assert not hyper & set(params), f"{fn.__name__} repeats config fields in its signature"
    params = inspect.signature(build_dataset).parameters
    for name in ("dt", "n_steps", "solver", "split"):
        assert tuple(np.atleast_1d(params[name].default)) == tuple(np.atleast_1d(DatasetConfig.default(name)))
    from sciope_abs.abstraction.components.categorical import MAX_SUPPORT

    assert TrainConfig.default("max_support") == SearchConfig.default("max_support") == MAX_SUPPORT


def test_mixture_fields_agree_between_train_and_search():
    shared = set(TrainConfig.field_names()) & set(SearchConfig.field_names()) - {"epochs"}
    assert {"n_components", "component", "batch_size", "learning_rate", "patience", "lags"} <= shared
    for name in shared:
        assert TrainConfig.default(name) == SearchConfig.default(name), name


# --------------------------------------------------------------------------- YAML keys and kinds
@pytest.mark.parametrize("section, bad, match", [
    ("emulator", {"search": {"epoch": [1, 2, 3]}},
     r"^unknown key\(s\) \['epoch'\] in section 'emulator.search' \(did you mean 'epochs'\?\)"),
    ("emulator", {"method": "train", "train": {"hiden": [8]}},
     r"^unknown key\(s\) \['hiden'\] in section 'emulator.train' \(did you mean 'hidden'\?\)"),
    ("infer", {"n_particle": 5}, r"^unknown key\(s\) \['n_particle'\] in section 'infer' \(did you mean"),
    ("dataset", {"n_setings": 5}, r"^unknown key\(s\) \['n_setings'\] in section 'dataset' \(did you mean"),
    ("emulator", {"method": "train", "train": {"hidden": 8}}, r"^emulator.train.hidden must be a list, got 8$"),
    ("emulator", {"search": {"init": "warm"}}, r"^emulator.search.init must be one of \['scratch'"),
    ("emulator", {"search": {"turn": "often"}}, r"^emulator.search.turn: could not convert 'often'"),
    ("emulator", {"search": {"patience": None}}, r"^emulator.search.patience cannot be null$"),
    ("emulator", {"search": {"lags": "1,2"}}, r"^emulator.search.lags must be a list"),
])
def test_a_mistyped_yaml_key_is_one_line_naming_it(section, bad, match):
    with pytest.raises(ValueError, match=match) as info:
        PipelineConfig.from_dict({**MINIMAL, section: bad})
    assert "\n" not in str(info.value)


def test_nullable_fields_accept_null_and_yaml_strings_are_numbers():
    cfg = PipelineConfig.from_dict({**MINIMAL, "emulator": {"search": {"clipnorm": None, "learning_rate": "1e-3",
                                                                       "cells": None}}})
    c = emulator_config(cfg)
    assert c.clipnorm is None and c.learning_rate == 1e-3 and isinstance(c.learning_rate, float)
    assert cfg.emulator["search"]["learning_rate"] == "1e-3"   # the user's section (its hash) is kept as given


def test_keyword_overrides_and_unknown_keywords():
    c = SearchConfig().override(epochs=[1, 2, 3], lags=[1, 2])
    assert c.epochs == (1, 2, 3) and c.lags == (1, 2) and hash(c) == hash(SearchConfig(epochs=(1, 2, 3), lags=(1, 2)))
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['epoch'\]"):
        SearchConfig().override(epoch=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        SearchConfig().epochs = (1, 1, 1)


def test_search_takes_a_config_and_refuses_its_bad_values_before_any_data():
    pytest.importorskip("tensorflow")
    from sciope_abs.abstraction.nas import search

    class NotADataset:
        pass

    with pytest.raises(ValueError, match="init must be"):
        search(NotADataset(), SearchConfig(init="warm"))
    with pytest.raises(ValueError, match="init must be"):
        search(NotADataset(), SearchConfig(), init="warm")      # an override replaces the config's field
    with pytest.raises(ValueError, match="dataset must be an AbstractionDataset"):
        search(NotADataset(), SearchConfig(init="warm"), init="scratch")
    with pytest.raises(TypeError, match="'cels'"):
        search(NotADataset(), cels=2)


def test_train_records_its_config_and_overrides_equal_the_config():
    pytest.importorskip("tensorflow")
    sys.path.insert(0, str(Path(__file__).parent))
    from _synthetic_kernel import synthetic_dataset

    from sciope_abs.abstraction.training import train

    ds = synthetic_dataset(n_settings=8, n_traj=3, n_steps=3, seed=0)
    config = TrainConfig(hidden=(8,), n_components=2, epochs=2, batch_size=64)
    a = train(ds, config, seed=5, progress=False)
    b = train(ds, seed=5, progress=False, hidden=[8], n_components=2, epochs=2, batch_size=64)
    assert a.card["config"] == config.to_dict() == b.card["config"]
    assert a.card["config"]["hidden"] == [8] and a.card["training"]["epochs"] == 2
    for wa, wb in zip(a.keras_model.get_weights(), b.keras_model.get_weights()):
        np.testing.assert_array_equal(wa, wb)


# --------------------------------------------------------------------------- one spec -> object factory
PRIOR = {"k1": {"uniform": [0.5, 2.0]}, "k2": {"loguniform": [0.1, 10.0]},
         "k3": {"normal": [1.0, 0.3], "low": 0.0}}


def _prior_facts(prior):
    theta = np.asarray(prior.sample(200, np.random.default_rng(4)), dtype=float)
    return list(prior.names), theta, np.asarray(prior.log_prob(theta))


def test_cli_infer_and_the_pipeline_build_the_same_prior_from_the_same_spec(monkeypatch, tmp_path):
    from sciope_abs.cli import infer as cli_infer
    from sciope_abs.crn import load_model
    from sciope_abs.pipeline import specs
    from sciope_abs.pipeline.stages import build_prior

    crn = load_model("toggle_switch")
    names = list(crn.parameters)[:3]
    spec = {n: PRIOR[k] for n, k in zip(names, PRIOR)}
    seen = []
    real = specs.build_prior
    monkeypatch.setattr(specs, "build_prior", lambda *a, **k: seen.append(a[0]) or real(*a, **k))
    np.save(tmp_path / "obs.npy", np.zeros((1, 1, 3)))        # a file: nothing is simulated
    cfg = {"model": "toggle_switch", "species": ["U"], "prior": spec, "summaries": ["mean"],
           "observed": {"file": "obs.npy"}, "timespan": {"start": 0, "stop": 2, "num": 3}}
    _, from_cli, *_ = cli_infer._build(cfg, tmp_path)
    assert seen == [spec]                                  # the CLI goes through the shared factory
    pipe_cfg = PipelineConfig.from_dict({"model": "toggle_switch", "vary_params": names, "prior": spec,
                                         "observed": {"truth": {n: 1.0 for n in names}}})
    from_pipeline = build_prior(pipe_cfg, np.full((3, 2), np.inf), crn=crn)
    for got, want in zip(_prior_facts(from_cli), _prior_facts(from_pipeline)):
        np.testing.assert_array_equal(got, want)


def test_uniform_around_means_the_same_in_both_and_keeps_the_pipeline_order():
    from sciope_abs.crn import load_model
    from sciope_abs.pipeline.specs import build_prior
    from sciope_abs.priors import JointPrior

    crn = load_model("x16")
    spec = {"uniform_around": {"low": 0.5, "high": 1.5, "params": ["a21", "a11"]}}
    cli = build_prior(spec, crn=crn)                               # the CLI: the spec's order
    pipe = build_prior(spec, names=["a11", "a21"], crn=crn)        # the pipeline: vary_params' order
    assert cli.names == ["a21", "a11"] and pipe.names == ["a11", "a21"]
    want = JointPrior.uniform_around({"a11": crn.parameters["a11"], "a21": crn.parameters["a21"]}, 0.5, 1.5)
    np.testing.assert_array_equal(pipe.bounds, want.bounds)
    np.testing.assert_array_equal(cli.bounds, want.bounds[::-1])
    PipelineConfig.from_dict({**MINIMAL, "prior": spec})           # accepted by the pipeline's check too


@pytest.mark.parametrize("spec, match", [
    ({"a11": {"uniform": [5, 1]}, "a21": {"uniform": [1, 2]}}, r"^prior.a11.uniform must have low < high"),
    ({"a11": {"uniform": [1, 5], "low": 0}, "a21": {"uniform": [1, 2]}}, r"^prior.a11 needs exactly one of"),
    ({"a11": {"normal": [1, -1]}, "a21": {"uniform": [1, 2]}}, r"^prior.a11.normal must have std > 0"),
    ({"a11": {"loguniform": [0, 1]}, "a21": {"uniform": [1, 2]}}, r"^prior.a11.loguniform must have 0 < low"),
    ({"a11": {"uniform": [1, 2]}}, r"^prior must name exactly \['a11', 'a21'\]"),
    ({"uniform_around": {"low": 2, "high": 1}}, r"^prior.uniform_around must have 0 <= low < high"),
    ({"uniform_around": {"lo": 0.5}}, r"^unknown key\(s\) \['lo'\] in prior.uniform_around"),
])
def test_prior_errors_are_one_line_and_the_same_in_both(spec, match):
    from sciope_abs.crn import load_model
    from sciope_abs.pipeline.specs import build_prior

    with pytest.raises(ValueError, match=match) as info:
        PipelineConfig.from_dict({**MINIMAL, "prior": spec})
    assert "\n" not in str(info.value)
    if "uniform_around" not in spec and len(spec) == 2:
        with pytest.raises(ValueError, match=match):
            build_prior(spec, crn=load_model("x16"))      # what `sciope-abs infer` calls


def test_distance_and_summary_specs_build_the_registry_objects():
    from sciope_abs.pipeline.specs import build_distance, build_summary

    assert type(build_distance("adaptive")).__name__ == type(build_distance({"name": "adaptive"})).__name__
    with pytest.raises(ValueError, match=r"^distance: "):
        build_distance({"p": 2})
    s = build_summary(["mean", "std"], ["A", "B"])
    assert s(np.ones((2, 3, 2, 5))).shape == (2, len(s.names)) and len(s.names) == 4
    with pytest.raises(ValueError, match=r"^summaries: unknown summary 'nope'"):
        build_summary(["nope"], ["A"])


# --------------------------------------------------------------------------- short functions
@pytest.mark.parametrize("path, name", [("sciope_abs/abstraction/nas/searching.py", "search"),
                                        ("sciope_abs/abstraction/training.py", "train"),
                                        ("sciope_abs/pipeline/refine.py", "refine_emulator")])
def test_the_entry_functions_are_short(path, name):
    tree = ast.parse((ROOT / path).read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    assert fn.end_lineno - fn.lineno + 1 <= 80


# --------------------------------------------------------------------------- inference and evaluation settings
def _signature_defaults(fn, names):
    params = inspect.signature(fn).parameters
    return {n: params[n].default for n in names}


def test_smc_and_rejection_signature_defaults_are_the_dataclass_defaults():
    from sciope_abs.inference import SMCABC, ABCRejection
    from sciope_abs.inference.config import RejectionConfig, SMCConfig

    assert _signature_defaults(SMCABC.infer, SMCConfig.field_names()) == SMCConfig().kwargs()
    assert _signature_defaults(ABCRejection.infer, RejectionConfig.field_names()) == RejectionConfig().kwargs()
    # the API's values (the pipeline and the CLI follow them; the demo states its own)
    assert (SMCConfig().n_particles, SMCConfig().min_acceptance_rate, SMCConfig().max_rounds) == (500, 0.01, 10)


def test_pipeline_infer_defaults_are_smcabc_defaults():
    from sciope_abs.inference.config import SMCConfig
    from sciope_abs.pipeline.config import InferSection

    cfg = PipelineConfig.from_dict(MINIMAL)
    own = {"n_traj", "scheduler", "simulator"}
    assert set(InferSection.field_names()) == set(SMCConfig.field_names()) | own
    assert {k: v for k, v in cfg.infer.items() if k not in own} == SMCConfig().to_dict()
    assert InferSection.from_mapping(cfg.infer, "infer").smc_config() == SMCConfig()
    given = PipelineConfig.from_dict({**MINIMAL, "infer": {"n_particles": 40, "target_tolerance": 0.5}})
    assert InferSection.from_mapping(given.infer, "infer").smc_config() == SMCConfig(n_particles=40,
                                                                                    target_tolerance=0.5)


def test_the_demo_states_its_own_infer_and_evaluate_sizes():
    """The demo keeps its numbers (and stage hashes) whatever the API's defaults are."""
    import yaml

    demo = yaml.safe_load((ROOT / "sciope_abs" / "data" / "pipeline_demo.yaml").read_text())
    assert {k: demo["infer"][k] for k in ("n_particles", "quantile", "max_rounds", "min_acceptance_rate")} == \
        {"n_particles": 300, "quantile": 0.5, "max_rounds": 5, "min_acceptance_rate": 0.02}
    assert demo["evaluate"] == {"n_settings": 6, "n_traj": 200, "lags": [1, 3, 5], "bins": 100}


def test_cli_infer_settings_are_the_dataclass_fields():
    from sciope_abs.cli.infer import _settings

    assert _settings({}, "smc") == {}                     # nothing given: SMCABC.infer's defaults
    got = _settings({"settings": {"n_particles": "40", "min_acceptance_rate": None, "max_rounds": 3,
                                  "max_time": 5}}, "smc")
    assert got == {"n_particles": 40, "min_acceptance_rate": None, "max_rounds": 3, "max_time": 5.0}
    assert _settings({"settings": {"quantile": 0.2, "n_samples": 7}}, "rejection") == {"quantile": 0.2,
                                                                                      "n_samples": 7}


@pytest.mark.parametrize("cfg, method, match", [
    ({"settings": {"n_particle": 5}}, "smc", r"^settings \['n_particle'\] are not options of method 'smc'"),
    ({"settings": {"max_rounds": "x"}}, "smc", r"^settings.max_rounds: could not convert 'x' to a number$"),
    ({"settings": {"n_particles": None}}, "smc", r"^settings.n_particles cannot be null$"),
    ({"settings": {"max_rounds": 0}}, "smc", r"^settings: max_rounds must be a positive integer"),
    ({"settings": {"quantile": 0.5, "tolerance": "near"}}, "rejection",
     r"^settings.tolerance: could not convert 'near'"),
])
def test_cli_infer_settings_errors_are_one_line_naming_the_key(cfg, method, match):
    from sciope_abs.cli.infer import _settings

    with pytest.raises(ValueError, match=match) as info:
        _settings(cfg, method)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("section, bad, match", [
    ("infer", {"min_acceptance": 0.1},
     r"^unknown key\(s\) \['min_acceptance'\] in section 'infer' \(did you mean 'min_acceptance_rate'\?\)"),
    ("infer", {"target_tolerance": -1}, r"^infer.target_tolerance must lie in \[0, inf\]"),
    ("evaluate", {"n_setting": 3},
     r"^unknown key\(s\) \['n_setting'\] in section 'evaluate' \(did you mean 'n_settings'\?\)"),
    ("evaluate", {"bins": 0}, r"^evaluate.bins must be a positive integer"),
])
def test_an_unknown_infer_or_evaluate_key_is_one_line_naming_it(section, bad, match):
    with pytest.raises(ValueError, match=match) as info:
        PipelineConfig.from_dict({**MINIMAL, section: bad})
    assert "\n" not in str(info.value)


def test_evaluate_defaults_of_api_cli_and_pipeline_are_the_dataclass_defaults():
    from sciope_abs.abstraction.config import EvaluationConfig
    from sciope_abs.abstraction.evaluation import evaluate, evaluate_many

    names = EvaluationConfig.field_names()
    for fn in (evaluate, evaluate_many):
        assert _signature_defaults(fn, names) == {n: EvaluationConfig.default(n) for n in names}
    args = _args(["evaluate", "emu_dir"])
    d = EvaluationConfig()
    assert (args.n_settings, args.n_traj, args.bins) == (d.n_settings, d.n_traj, d.bins)
    assert tuple(int(v) for v in args.lags.split(",")) == d.lags
    assert PipelineConfig.from_dict(MINIMAL).evaluate == d.to_dict() == SECTION_DEFAULTS["evaluate"]
    got = _args(["evaluate", "emu_dir", "--settings", "3", "--traj", "50", "--bins", "0"])
    assert (got.n_settings, got.n_traj, got.bins) == (3, 50, 0)


def test_the_settings_modules_import_neither_tensorflow_nor_dask():
    import subprocess

    code = ("import sys; import sciope_abs._config, sciope_abs.inference.config as i, "
            "sciope_abs.abstraction.config as a; "
            "print(sorted(m for m in ('tensorflow', 'dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_smc_run_store_and_posterior_record_the_config(tmp_path):
    sys.path.insert(0, str(Path(__file__).parent))
    from _toy_models import GaussianSimulator, MeanSummary

    from sciope_abs.distances import Euclidean
    from sciope_abs.inference import SMCABC, History
    from sciope_abs.inference.config import SMCConfig
    from sciope_abs.priors import JointPrior, Uniform

    sim = GaussianSimulator(sigma=1.0, T=8)
    obs = sim.simulate([[1.0]], n_traj=1, seed=2)[0]
    smc = SMCABC(sim, JointPrior({"mu": Uniform(-2.0, 4.0)}), MeanSummary(), Euclidean(), observed=obs,
                 client="sync")
    config = SMCConfig(n_particles=30, max_rounds=2, batch_size=30, epsilon={"name": "quantile", "quantile": 0.4})
    post = smc.infer(**config.kwargs(), seed=1, run_dir=tmp_path / "run")
    stored = History.load(tmp_path / "run").config["config"]
    assert stored == post.info["config"] == config.to_dict() | {"epsilon": stored["epsilon"]}
    assert stored["epsilon"]["name"] == "quantile" and stored["epsilon"]["quantile"] == 0.4
    assert stored["batch_size"] == 30 and stored["n_particles"] == 30 and stored["max_rounds"] == 2
    assert smc.infer(30, max_rounds=2, seed=1).info["config"]["batch_size"] == "auto"
