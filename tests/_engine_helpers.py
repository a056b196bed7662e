"""Picklable helpers for the engine tests that count things through files (workers are processes)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


class CountingSquare:
    """``x -> x * x``; every serialisation (pickling, wherever it happens) appends a line to ``log``."""

    def __init__(self, log: str) -> None:
        self.log = str(log)

    def __call__(self, x):
        return x * x

    def __reduce__(self):
        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return (CountingSquare, (self.log,))


def pickles(log) -> int:
    path = Path(log)
    return len(path.read_text().split()) if path.exists() else 0


def kill_worker_on(args):
    """``(i, bad, log)``: append ``i`` to ``log``; item ``bad`` then kills its worker process."""
    i, bad, log = args
    with open(log, "a") as fh:
        fh.write(f"{i}\n")
    if i == bad:
        os._exit(13)
    return 10 * i


def worker_address(x):
    from distributed import get_worker

    return get_worker().address


def seeded_sum(batch, seed):
    """A batch's sum plus one normal draw from its seed."""
    return float(np.sum(batch)) + float(np.random.default_rng(seed).normal())


class CountingGaussian:
    """The Gaussian toy simulator (``mu``), counting its serialisations in ``log``."""

    def __init__(self, log: str, T: int = 8) -> None:
        from _toy_models import GaussianSimulator

        self.log = str(log)
        self.T = int(T)
        self._sim = GaussianSimulator(T=self.T)
        self.param_names = self._sim.param_names
        self.species = self._sim.species
        self.timespan = self._sim.timespan

    def simulate(self, theta, **kwargs):
        return self._sim.simulate(theta, **kwargs)

    def __reduce__(self):
        with open(self.log, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        return (CountingGaussian, (self.log, self.T))


class SlowToPickle:
    """``x -> x + 1``; pickling it takes ``delay`` seconds (like an emulator saved through Keras)."""

    def __init__(self, delay: float = 0.3) -> None:
        self.delay = float(delay)

    def __call__(self, x):
        return x + 1

    def __reduce__(self):
        import time

        time.sleep(self.delay)
        return (SlowToPickle, (self.delay,))


def _refuse_to_load():
    raise RuntimeError("this object cannot be loaded on a worker")


class LoadsNowhere:
    """Pickles fine on the client, fails to unpickle (like a class whose module the workers lack)."""

    def __call__(self, x):
        return x

    def __reduce__(self):
        return (_refuse_to_load, ())


def tests_cluster(n_workers: int = 2):
    """A real LocalCluster client whose worker processes import the toy models from ``tests/``."""
    import sys

    from sciope_abs.engine import get_client

    here = str(Path(__file__).parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = here + (os.pathsep + old if old else "")
    try:
        client = get_client(n_workers=n_workers, verbose=False)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    client.run(lambda p=here: sys.path.insert(0, p) if p not in sys.path else None)
    return client
