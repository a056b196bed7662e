"""The emulator's rollout as one compiled loop.

All ``n_steps`` steps of a chunk of trajectories run inside one ``tf.function``: a
``tf.while_loop`` whose body is the batched network call, the mixture draw, the mapping back to
counts and the exact projection onto the conservation laws; each step's counts are written to a
``tf.TensorArray`` and the chunk is copied to the host once.

Noise is counter-based: Philox-4x32-10 (Salmon et al. 2011, the generator behind
``tf.random.stateless_*``) keyed per parameter point by ``point_seeds(seed, n)[i]`` and counted
by (trajectory index within the point, step, block), so a point's trajectories depend neither on
the other points of the batch nor on the chunk size.  Per row and step it gives one uniform
(component choice), ``S`` standard normals (inverse normal CDF) and, with laws, ``S`` uniforms
that break ties of the projection.  A block's words do not depend on how many blocks follow, so
the loop draws the tie uniforms only where a law apportions over two or more kept species, and
computes the key schedule once per chunk; the values it uses are those of
:func:`host_step_noise`.

The projection is :func:`sciope_abs.crn.conservation.project_counts` for laws with unit
weights and disjoint supports (gene-state groups, pairs): the law's species but its last keep
their counts unless they exceed the total, then they are scaled down (floor, then largest
remainder first, ties by the noise) and the last species takes the remainder.  It is computed in
float64 and gives ``project_counts``' result wherever no tie decides.  Other law structures are
not supported here (:func:`compiled_plan` says why) and the emulator falls back to its
step-by-step path.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["ROLLOUT_METHODS", "COUNT_CAP", "compiled_plan", "point_keys", "host_step_noise", "key_schedule", "philox4x32", "uniforms_from_bits",
           "project_laws_tf", "CompiledRollout"]

ROLLOUT_METHODS = ("compiled", "stepwise")
#: counts are capped here so a diverging rollout cannot overflow float32
COUNT_CAP = 1e9

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = 0xFFFFFFFF
#: default bound on the rows of one chunk's device buffers (bytes)
DEFAULT_CHUNK_BYTES = 64 * 2 ** 20


def compiled_plan(W: np.ndarray) -> tuple[list[tuple[list[int], int]] | None, str]:
    """Per law ``(kept species, pivot)`` for the compiled projection, or ``(None, reason)``.

    Supported: weights 0/1 and laws with disjoint supports (every species in at most one law);
    the pivot is the law's last species, as in ``project_counts``.
    """
    W = np.asarray(W)
    if W.size == 0:
        return [], ""
    if not np.isin(W, (0, 1)).all():
        return None, "a conservation law has a weight other than 0 or 1"
    if ((W > 0).sum(axis=0) > 1).any():
        return None, "a species belongs to more than one conservation law"
    plan = []
    for row in W:
        members = [int(j) for j in np.flatnonzero(row > 0)]
        plan.append((members[:-1], members[-1]))
    return plan, ""


def point_keys(seeds: Sequence[np.random.SeedSequence]) -> np.ndarray:
    """Philox keys of the points, shape ``(n, 2)`` uint32 (two words of each seed's state)."""
    if not len(seeds):
        return np.zeros((0, 2), dtype=np.uint32)
    return np.stack([np.asarray(s.generate_state(2, dtype=np.uint32)) for s in seeds])


def key_schedule(key: Any) -> list:
    """The 10 round keys of Philox-4x32-10 for keys (2 tensors (m,) uint64 of 32-bit words):
    ``(k0 + r W0, k1 + r W1) mod 2^32`` for rounds ``r = 0 .. 9`` (computed once per chunk)."""
    import tensorflow as tf

    mask = tf.constant(_MASK32, tf.uint64)
    k0, k1 = key
    return [(k0, k1) if not r else (tf.bitwise.bitwise_and(k0 + tf.constant(r * _W0, tf.uint64), mask),
                                    tf.bitwise.bitwise_and(k1 + tf.constant(r * _W1, tf.uint64), mask))
            for r in range(10)]


def philox4x32(counter: Any, key: Any) -> Any:
    """Philox-4x32-10 of counters (4 tensors (m,) uint64 holding 32-bit words; scalars broadcast)
    under keys (2 tensors (m,) uint64, or their :func:`key_schedule`); returns 4 tensors (m,)
    uint64 of 32-bit words."""
    import tensorflow as tf

    mask = tf.constant(_MASK32, tf.uint64)
    m0, m1 = tf.constant(_M0, tf.uint64), tf.constant(_M1, tf.uint64)
    c0, c1, c2, c3 = counter
    for k0, k1 in (key if len(key) == 10 else key_schedule(key)):
        p0, p1 = m0 * c0, m1 * c2
        hi0, lo0 = tf.bitwise.right_shift(p0, 32), tf.bitwise.bitwise_and(p0, mask)
        hi1, lo1 = tf.bitwise.right_shift(p1, 32), tf.bitwise.bitwise_and(p1, mask)
        c0, c1, c2, c3 = (tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(hi1, c1), k0), lo1,
                          tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(hi0, c3), k1), lo0)
    return c0, c1, c2, c3


def uniforms_from_bits(bits: Any) -> Any:
    """Uniforms in (0, 1), float32, from 32-bit words (uint64 tensor): the top 24 bits, centred."""
    import tensorflow as tf

    top = tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32)
    return (top + 0.5) * (1.0 / 2 ** 24)


def step_noise(keys: Any, traj: Any, t: Any, n_values: int) -> Any:
    """``(m, n_values)`` float32 uniforms of step ``t`` for rows with Philox ``keys`` (2 x (m,), or
    their :func:`key_schedule`) and trajectory indices ``traj`` (m,) uint64."""
    import tensorflow as tf

    keys = keys if len(keys) == 10 else key_schedule(keys)
    t64 = tf.cast(t, tf.uint64)                # counter words shared by all rows stay scalars:
    words = []                                 # the first round's products on them are scalars too
    for b in range(math.ceil(n_values / 4)):
        words.extend(philox4x32((traj, t64, tf.constant(b, tf.uint64), tf.constant(0, tf.uint64)), keys))
    return uniforms_from_bits(tf.stack(words[:n_values], axis=1))


def host_step_noise(keys: np.ndarray, traj: np.ndarray, t: int, S: int, ties: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The noise of step ``t`` (0-based) as numpy arrays, for the paths that step on the host.

    The same counters as the compiled loop (:func:`step_noise` keyed by ``keys`` (m, 2) uint64
    and trajectory indices ``traj`` (m,) uint64), drawn for all rows in one vectorised call: the
    component uniforms ``u`` (m,), standard normals ``eps`` (m, S) and, with ``ties``, the
    projection's tie-breaking uniforms (m, S) float64.  A row's noise depends only on its point's
    seed, its trajectory index and the step, never on the batch it is in.
    """
    import tensorflow as tf

    n_values = 1 + S + (S if ties else 0)
    keys = np.asarray(keys, dtype=np.uint64)
    noise = step_noise((tf.constant(keys[:, 0]), tf.constant(keys[:, 1])),
                       tf.constant(np.asarray(traj, dtype=np.uint64)), int(t), n_values)
    u = noise[:, 0].numpy()
    eps = tf.math.ndtri(noise[:, 1:1 + S]).numpy()
    tie = noise[:, 1 + S:].numpy().astype(np.float64) if ties else None
    return u, eps, tie


def _apportion_unit_tf(zk, T, ties):
    """Rows of ``zk`` (m, k) float64 whose sum exceeds ``T`` (m,) scaled to sum exactly ``T``:
    floor, then one more unit to the largest remainders (ties by ``ties``, then by column), as
    ``project_counts`` does for unit weights."""
    import tensorflow as tf

    k = zk.shape[1]
    mass = tf.reduce_sum(zk, axis=1)
    need = mass > T
    scale = tf.where(mass > 0, T / tf.maximum(mass, 1.0), tf.zeros_like(mass))
    v = zk * scale[:, None]
    z = tf.floor(v)

    def over(z):
        return tf.logical_and(need, tf.reduce_sum(z, axis=1) > T)

    z = tf.while_loop(lambda z: tf.reduce_any(over(z)),
                      lambda z: (tf.where(over(z)[:, None], tf.maximum(z - 1.0, 0.0), z),), (z,))[0]
    gap = T - tf.reduce_sum(z, axis=1)
    rem = v - z
    ri, rj = rem[:, :, None], rem[:, None, :]
    ni, nj = ties[:, :, None], ties[:, None, :]
    lower = tf.constant(np.tril(np.ones((k, k), dtype=bool), -1))  # [i, j]: j < i
    before = (rj > ri) | ((rj == ri) & (nj > ni)) | ((rj == ri) & (nj == ni) & lower[None])
    rank = tf.reduce_sum(tf.cast(before, tf.float64), axis=2)         # position in the order
    z = z + tf.cast(rank < gap[:, None], tf.float64)
    z = z + tf.where(rank == 0, tf.maximum(gap - k, 0.0)[:, None], tf.zeros_like(z))
    return tf.where(need[:, None], z, zk)


def project_laws_tf(y: Any, totals: Any, ties: Any, plan: Any) -> Any:
    """Counts ``y`` (m, S) float64 (rounded, >= 0) onto the laws of ``plan`` at ``totals`` (m, L).

    A law of two species (one kept, the pivot) needs no apportioning: the kept species is
    ``min(y, T)`` and the pivot ``T`` minus it, which is what :func:`_apportion_unit_tf` gives for
    one column (floor of ``y T / y`` is ``T`` or ``T - 1``, and the remainder goes back to it).
    """
    import tensorflow as tf

    cols = [y[:, j] for j in range(y.shape[1])]
    for law, (kept, pivot) in enumerate(plan):
        T = totals[:, law]
        if len(kept) == 1:
            cols[kept[0]] = tf.minimum(cols[kept[0]], T)
            cols[pivot] = T - cols[kept[0]]
        elif kept:
            zk = _apportion_unit_tf(tf.stack([cols[j] for j in kept], axis=1), T,
                                    tf.stack([ties[:, j] for j in kept], axis=1))
            for q, j in enumerate(kept):
                cols[j] = zk[:, q]
            cols[pivot] = T - tf.reduce_sum(zk, axis=1)
        else:
            cols[pivot] = T
    return tf.stack(cols, axis=1)


class CompiledRollout:
    """The compiled rollout of one emulator (built once, traced once per ``n_steps``).

    Parameters
    ----------
    emulator : Emulator
    plan : list
        :func:`compiled_plan` of the emulator's laws.
    jit_compile : bool
        XLA-compile the loop (one compilation per chunk shape; chunks are padded to a fixed size).
    chunk_bytes : int
        Bound on one chunk's device buffers; the chunk's rows follow from it.
    """

    def __init__(self, emulator: Any, plan: Any, jit_compile: bool = False, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
        self.emulator = emulator
        self.plan = plan
        self.jit_compile = bool(jit_compile)
        self.chunk_bytes = int(chunk_bytes)
        self._fns: dict[int, object] = {}

    def function(self, n_steps: int) -> Any:
        """The compiled loop of ``n_steps`` steps (traced once per ``n_steps``, any batch size)."""
        fn = self._fns.get(int(n_steps))
        if fn is None:
            fn = self._fns[int(n_steps)] = self._build(int(n_steps))
        return fn

    def _build(self, n_steps: int):
        import tensorflow as tf

        from .mixture import mixture_sample_from_noise

        emu = self.emulator
        S = len(emu.species)
        K, comp, scaling, net, plan = emu.n_components, emu.component, emu.scaler, emu.keras_model, self.plan
        # tie-breaking uniforms only where a law apportions over two or more kept species; the
        # Philox blocks of u and eps do not depend on how many blocks are drawn after them
        n_ties = S if any(len(kept) > 1 for kept, _ in plan) else 0
        n_values = 1 + S + n_ties

        p, L = len(emu.param_names), len(plan)
        spec = [tf.TensorSpec((None, S), tf.float32), tf.TensorSpec((None, p), tf.float32),
                tf.TensorSpec((None, L), tf.float64), tf.TensorSpec((None, 2), tf.uint64),
                tf.TensorSpec((None,), tf.uint64)]

        def loop(state0, rates, totals, keys, traj):
            buf = tf.TensorArray(tf.float32, size=n_steps, element_shape=tf.TensorShape([None, S]))
            schedule = key_schedule((keys[:, 0], keys[:, 1]))            # the same every step

            def body(t, prev, buf):
                noise = step_noise(schedule, traj, t, n_values)
                u, eps = noise[:, 0], tf.math.ndtri(noise[:, 1:1 + S])
                x = scaling.encode_inputs_tf(tf.concat([prev, rates], axis=1))
                z = mixture_sample_from_noise(net(x, training=False), K, S, comp, u, eps)
                y = emu.decode_tf(prev, z, totals)     # corrected onto the laws before rounding
                y = tf.clip_by_value(tf.round(tf.where(tf.math.is_finite(y), y, tf.zeros_like(y))), 0.0, COUNT_CAP)
                if plan:
                    ties = tf.cast(noise[:, 1 + S:], tf.float64) if n_ties else tf.zeros_like(y, tf.float64)
                    y = tf.cast(project_laws_tf(tf.cast(y, tf.float64), totals, ties, plan), tf.float32)
                return t + 1, y, buf.write(t, y)

            _, _, buf = tf.while_loop(lambda t, *_: t < n_steps, body, (tf.constant(0), state0, buf))
            return tf.transpose(buf.stack(), [1, 2, 0])                   # (m, S, n_steps)

        return tf.function(loop, input_signature=spec, autograph=False, jit_compile=self.jit_compile)

    def chunk_rows(self, n_rows: int, n_steps: int) -> int:
        """Rows per chunk: the buffers (~3 copies of (rows, S, n_steps) float32) within ``chunk_bytes``."""
        S = len(self.emulator.species)
        per_row = 3 * 4 * S * max(n_steps, 1) + 64 * S
        return int(max(1, min(n_rows, self.chunk_bytes // per_row)))

    def run(self, states: np.ndarray, rates: np.ndarray, totals: np.ndarray, seeds: Any, r: int, n_steps: int,
            out: np.ndarray) -> int:
        """Fill ``out`` (n, r, S, n_steps + 1) steps 1.. from ``states`` (n, S); returns the chunks run."""
        import tensorflow as tf

        n, S = states.shape
        keys = point_keys(seeds).astype(np.uint64)
        N = n * r
        flat = out.reshape(N, S, n_steps + 1)
        rows = self.chunk_rows(N, n_steps)
        n_chunks = 0
        for a in range(0, N, rows):
            idx = np.arange(a, min(a + rows, N))
            if self.jit_compile and idx.size < rows:           # one XLA shape per chunk size
                idx = np.concatenate([idx, np.full(rows - idx.size, idx[0])])
            pt = idx // r
            res = self.function(n_steps)(tf.constant(states[pt], tf.float32), tf.constant(rates[pt], tf.float32),
                           tf.constant(totals[pt], tf.float64), tf.constant(keys[pt]),
                           tf.constant((idx % r).astype(np.uint64)))
            m = min(rows, N - a)
            flat[a:a + m, :, 1:] = res.numpy()[:m]
            n_chunks += 1
        return n_chunks
