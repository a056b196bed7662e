"""Would a bfloat16 network make the rollout faster?  (issue 18, part 1: "say what each gave")

The machine's CPU has AMX (``amx_bf16``), and TensorFlow's oneDNN runs a bfloat16 MatMul on it
(``brg_matmul:avx10_1_512_amx`` in ``ONEDNN_VERBOSE``).  This benchmark measures, side by side in
one process and on the same batch (1000 settings x 100 trajectories = 10^5 rows), 25 bare network
calls of the benchmark's two Gene emulators (``bench_rollout.build_emulator``: the MLP body
(150, 150, 150) and the default-size searched body) in float32 and with every body layer under
Keras' ``mixed_bfloat16`` policy (the mixture head kept in float32), plus one dense layer
(10^5 x 150 -> 150, bias, swish) in both precisions, and the head outputs' largest difference.

    python benchmarks/bench_precision.py [--rounds 3]  ->  benchmarks/results/precision.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_rollout as br  # noqa: E402


def bf16_clone(model):
    """``model`` with every layer but the mixture head under ``mixed_bfloat16``, same weights."""
    import keras

    from sciope_abs.abstraction.layers import MixtureHead

    def clone(layer):
        cfg = layer.get_config()
        cfg["dtype"] = "float32" if isinstance(layer, MixtureHead) else "mixed_bfloat16"
        return layer.__class__.from_config(cfg)

    out = keras.models.clone_model(model, clone_function=clone, recursive=True)
    out.set_weights(model.get_weights())
    return out


def dense_layer_case(rounds: int) -> dict:
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x32 = tf.constant(rng.normal(size=(100_000, 150)).astype("float32"))
    w32 = tf.constant(0.1 * rng.normal(size=(150, 150)).astype("float32"))
    b32 = tf.constant(rng.normal(size=(150,)).astype("float32"))
    xb, wb, bb = (tf.cast(t, tf.bfloat16) for t in (x32, w32, b32))
    fns = {"float32": (tf.function(lambda v: tf.nn.silu(tf.matmul(v, w32) + b32)), x32),
           "bfloat16": (tf.function(lambda v: tf.nn.silu(tf.matmul(v, wb) + bb)), xb),
           "float32_matmul_only": (tf.function(lambda v: tf.matmul(v, w32)), x32),
           "bfloat16_matmul_only": (tf.function(lambda v: tf.matmul(v, wb)), xb)}
    out = {}
    for name, (f, x) in fns.items():
        f(x)
        out[name + "_ms"] = 1000 * min(br.call_timer(f, x)(10)[0] for _ in range(rounds)) / 10
    return out


def network_case(body: str, rounds: int) -> dict:
    import tensorflow as tf

    emu = br.build_emulator(br.CACHE / ("gene_emulator" if body == "mlp" else "gene_emulator_searched"), body)
    init, rates = br._inputs(emu, 1000, 3)
    x = emu.scaler.encode_inputs(np.concatenate([np.repeat(init, 100, 0), np.repeat(rates, 100, 0)], 1))
    x = tf.constant(x, tf.float32)
    nets = {"float32": emu.keras_model, "bfloat16": bf16_clone(emu.keras_model)}
    fns = {k: tf.function(lambda v, n=n: n(v, training=False)) for k, n in nets.items()}
    outs = {k: f(x).numpy() for k, f in fns.items()}
    res: dict = {"n_parameters": int(emu.keras_model.count_params()), "rows": int(x.shape[0]), "calls": 25,
                 "head_max_abs_diff": float(np.abs(outs["float32"] - outs["bfloat16"]).max()),
                 "head_mean_rel_diff": float(np.abs(outs["float32"] - outs["bfloat16"]).mean()
                                             / np.abs(outs["float32"]).mean())}
    times: dict = {k: [] for k in fns}
    for _ in range(rounds):  # interleaved rounds, the minimum kept
        for k, f in fns.items():
            times[k].append(br.call_timer(f, x)(25))
    for k, ts in times.items():
        res[f"{k}_wall_s"] = min(t[0] for t in ts)
        res[f"{k}_cpu_s"] = min(t[1] for t in ts)
    res["bfloat16_speedup_wall"] = res["float32_wall_s"] / res["bfloat16_wall_s"]
    res["gene_1e6_bare_float32_s"] = 10 * res["float32_wall_s"]
    res["gene_1e6_bare_bfloat16_s"] = 10 * res["bfloat16_wall_s"]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "precision.json"))
    args = ap.parse_args()
    flags = open("/proc/cpuinfo").read().split() if os.path.exists("/proc/cpuinfo") else []
    res = {"cpu_has_amx_bf16": "amx_bf16" in flags, "load_average_start": list(os.getloadavg()),
           "dense_layer_1e5x150": dense_layer_case(args.rounds),
           "mlp": network_case("mlp", args.rounds), "searched": network_case("searched", args.rounds)}
    res["load_average_end"] = list(os.getloadavg())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
