"""Seeds: every random function takes ``seed`` (None, int, SeedSequence or Generator).

Parallel work derives one child ``SeedSequence`` per *item* (parameter point) before any
chunking, so the numbers depend only on the seed, never on workers or chunk sizes.
"""
from __future__ import annotations

from collections.abc import Sequence
import contextlib
import random
from typing import Iterator, Union

import numpy as np

SeedLike = Union[None, int, np.integer, np.random.SeedSequence, np.random.Generator]

__all__ = ["SeedLike", "as_seed_sequence", "as_generator", "spawn", "child_seed", "point_seeds", "int_seed",
           "python_random_seeded"]


def as_seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Normalise ``seed`` to a ``SeedSequence`` (a Generator contributes fresh entropy from itself)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2**63 - 1)))
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.SeedSequence(int(seed))
    raise ValueError(f"seed must be None, an int, a numpy SeedSequence or Generator, got {type(seed).__name__}")


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A ``numpy.random.Generator`` from any seed-like value (a Generator is returned as is)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(as_seed_sequence(seed))


def spawn(seed: SeedLike, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seed sequences of ``seed``."""
    return as_seed_sequence(seed).spawn(int(n))


def child_seed(seed: np.random.SeedSequence, *keys: int) -> np.random.SeedSequence:
    """The child of ``seed`` at path ``keys``: the same as spawning, but stateless and unbounded.

    ``child_seed(s, k)`` equals the ``k``-th child ``s.spawn(k + 1)[k]`` of a fresh ``s``, and
    ``child_seed(s, i, j)`` the ``j``-th child of that one; a role (design, simulation, ...) is
    one more key.
    """
    return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + tuple(int(k) for k in keys),
                                  pool_size=seed.pool_size)


def point_seeds(seed: SeedLike | Sequence[np.random.SeedSequence], n: int) -> list[np.random.SeedSequence]:
    """One seed sequence per parameter point.

    ``seed`` may already be a list of ``n`` per-point sequences (what the engine passes to a
    chunk), otherwise ``n`` children are spawned from it.  Point ``i`` gets the same sequence
    whether it is simulated alone in a chunk or in one call with all the others.
    """
    if isinstance(seed, Sequence):  # a list or tuple (no SeedLike value is a Sequence)
        if len(seed) != n:
            raise ValueError(f"got {len(seed)} per-point seeds for {n} points")
        return [as_seed_sequence(s) for s in seed]
    return spawn(seed, n)


def int_seed(ss: np.random.SeedSequence) -> int:
    """A 31-bit integer seed (for libraries such as GillesPy2 that take an int)."""
    return int(ss.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF)


@contextlib.contextmanager
def python_random_seeded(seed: int) -> Iterator[None]:
    """Python's :mod:`random` seeded with ``seed`` inside the block; its state is restored after.

    For libraries that draw default seeds from :mod:`random`: a Keras 3 initialiser made without
    a ``seed`` (``Dense(...)``'s ``glorot_uniform``) takes ``random.randint(1, 10**9)`` when the
    layer is made, so the layers made inside the block get the same weights for the same
    ``seed``, and the caller's own :mod:`random` sequence (and NumPy's and TensorFlow's global
    seeds, which are never touched) is as it was.  Not for concurrent use from several threads.
    """
    state = random.getstate()
    random.seed(int(seed))
    try:
        yield
    finally:
        random.setstate(state)
