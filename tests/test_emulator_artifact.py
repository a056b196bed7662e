"""The emulator as an inference-only artifact: loading one imports nothing of training or search,
its scaler is one class whose saved files load (old ones too) or are refused with the file
named, and the picture of a genotype is drawn in ``viz`` from plain data."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from sciope_abs.abstraction.emulator import Emulator  # noqa: E402
from sciope_abs.abstraction.scaling import StateScaler  # noqa: E402

REF_EMULATOR = Path(__file__).parent / "data" / "reference" / "emulator"
ROOT = Path(__file__).resolve().parents[1]

#: what a loaded emulator must not pull in
FORBIDDEN = ("sciope_abs.abstraction.nas", "sciope_abs.abstraction.training")

_CHILD = r"""
import json, sys
import numpy as np
import sciope_abs.viz.genotype  # the Bokeh part of the genotype picture: nothing of abstraction
viz_imports = sorted(m for m in sys.modules if m.startswith("sciope_abs.abstraction"))
from sciope_abs.abstraction.emulator import Emulator
out = {"viz_imports": viz_imports, "rollouts": []}
for path in sys.argv[1:]:
    emu = Emulator.load(path)
    x = emu.simulate(np.array([[0.6], [1.4]]), n_traj=3, seed=5)
    out["rollouts"].append(x.tolist())
out["modules"] = sorted(m for m in sys.modules if m.startswith("sciope_abs"))
print("RESULT " + json.dumps(out))
"""


def _searched_emulator(tmp_path: Path) -> tuple[Path, Emulator]:
    """A genotype-bodied emulator (tiled expansion, GLU, element-wise, identity ... edges) saved
    beside its genotype, built here without running a search."""
    from sciope_abs.abstraction.nas import Genotype, build_cell_specs
    from sciope_abs.abstraction.network import build_mdn

    ref = Emulator.load(REF_EMULATOR)
    n_in = len(ref.species) + len(ref.param_names)
    specs = build_cell_specs(n_in, cells=2, cell_size=2, expansion=2, expand="tile")
    nodes = (((0, "glu"), (1, "elementwise")), ((0, "dense"), (2, "identity"))), \
            (((0, "activated_dense"),), ((1, "relu"), (2, "swish")))
    genotype = Genotype(input_dim=n_in, cells=tuple(specs), nodes=nodes, search_space=("glu", "dense"))
    keras.utils.set_random_seed(3)
    net = build_mdn(genotype.build_body(), 2, len(ref.species), "diag_normal", seed=4)
    emu = Emulator(net, ref.scaler, ref.model, ref.param_names, ref.dt, ref.n_steps, 2, "diag_normal",
                   {"note": "hand-built genotype"}, genotype=genotype.to_dict())
    path = emu.save(tmp_path / "searched")
    return path, emu


def test_loading_an_emulator_imports_nothing_of_training_or_search(tmp_path):
    path, emu = _searched_emulator(tmp_path)
    assert (path / "genotype.json").is_file()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(REF_EMULATOR)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["viz_imports"] == []
    loaded = [m for m in out["modules"] if m.startswith(FORBIDDEN)]
    assert loaded == [], f"Emulator.load imported {loaded}"
    assert "sciope_abs.abstraction.layers" in out["modules"]
    # the child's searched emulator is the one saved here: same draws for the same seed
    want = emu.simulate(np.array([[0.6], [1.4]]), n_traj=3, seed=5)
    np.testing.assert_array_equal(np.asarray(out["rollouts"][0]), want)
    assert np.asarray(out["rollouts"][1]).shape == (2, 3, 2, 6)


def test_the_emulator_keeps_one_scaler_with_its_target():
    emu = Emulator.load(REF_EMULATOR)
    assert type(emu.scaler) is StateScaler and emu.scaler.target == emu.target == "delta"
    assert not hasattr(emu, "scaling")
    saved = json.loads((REF_EMULATOR / "scaler.json").read_text())       # written before the merge
    assert "target" not in saved
    np.testing.assert_array_equal(emu.scaler.in_mean_, saved["in_mean_"])
    # the target of an emulator's scaler changes how targets are encoded, not the statistics
    x = np.array([[3.0, 1.0, 0.5], [7.0, 2.0, 0.9]])
    y = np.array([[4.0, 0.0], [6.0, 3.0]])
    state = emu.scaler.with_target("state")
    np.testing.assert_allclose(state.encode_targets(x, y), (y - saved["out_mean_"]) / saved["out_scale_"],
                               rtol=1e-6)
    np.testing.assert_allclose(emu.scaler.decode(x, emu.scaler.encode_targets(x, y)), y, atol=1e-5)
    np.testing.assert_allclose(state.decode(x, state.encode_targets(x, y)), y, atol=1e-5)
    assert state != emu.scaler and emu.scaler.with_target("delta") == emu.scaler


def test_scaler_files_of_only_the_six_statistics_load_and_bad_ones_are_refused(tmp_path):
    full = json.loads((REF_EMULATOR / "scaler.json").read_text())
    six = {k: v for k, v in full.items() if k.endswith("_")}
    a, b = StateScaler.from_dict(full), StateScaler.from_dict(six)
    assert a == b and (b.n_species_, b.n_rates_) == (2, 1)
    bad = dict(full, in_scale_=[1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="in_scale_ must be a vector of finite numbers > 0"):
        StateScaler.from_dict(bad)
    with pytest.raises(ValueError, match="unknown target kind 'log'"):
        StateScaler.from_dict(dict(full, target="log"))
    # a saved emulator whose scaler file is damaged is refused, the file named
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in REF_EMULATOR.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "scaler.json").write_text(json.dumps(dict(full, delta_scale_=[1.0, float("nan")])))
    with pytest.raises(ValueError, match=r"emulator scaler file .*scaler.json cannot be read: .*delta_scale_"):
        Emulator.load(broken)


def test_the_genotype_picture_is_plain_data_drawn_in_viz(tmp_path):
    from sciope_abs.abstraction.nas import Genotype, build_cell_specs, draw_genotype, save_genotype_html

    specs = build_cell_specs(3, cells=1, cell_size=2, expansion=2)
    g = Genotype(input_dim=3, cells=tuple(specs), nodes=((((0, "relu"),), ((1, "glu"), (2, "dense"))),),
                 search_space=("relu", "glu", "dense", "zero"))
    lay = g.layout()
    assert {e["op"] for e in lay["edges"]} == {"relu", "glu", "dense"} and len(lay["edges"]) == 3
    assert lay["ops"] == ["relu", "glu", "dense", "zero"] and "1 cell(s), width 6" in lay["title"]
    assert json.loads(json.dumps(lay)) == lay                          # plain data
    fig = draw_genotype(g.to_dict(), title="t")
    assert fig.title.text == "t" and len(fig.renderers) == 3
    html = save_genotype_html(g, tmp_path / "g.html").read_text()
    assert "Bokeh" in html and "glu" in html
