"""Run sciope_abs work on SLURM through dask-jobqueue (``pip install dask-jobqueue``).

Usage, on the login node, in the project's environment::

    python deploy/slurm_cluster.py --jobs 4          # 4 SLURM jobs x 8 workers (deploy/jobqueue.yaml)

It starts the cluster, prints the scheduler address and dashboard, runs a small sweep on it as a
check, and keeps the cluster up until Ctrl-C; meanwhile other shells can use it with
``export SCIOPE_ABS_SCHEDULER=<address>``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="SLURM jobs to start (default 2)")
    parser.add_argument("--config", default=str(Path(__file__).with_name("jobqueue.yaml")),
                        help="dask-jobqueue YAML (default: deploy/jobqueue.yaml)")
    args = parser.parse_args()

    import dask
    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster

    dask.config.update(dask.config.config, yaml.safe_load(Path(args.config).read_text()), priority="new")
    cluster = SLURMCluster()
    cluster.scale(jobs=args.jobs)
    client = Client(cluster)
    print(f"scheduler: {cluster.scheduler_address}\ndashboard: {client.dashboard_link}")
    print(f"use it from other shells with:  export SCIOPE_ABS_SCHEDULER={cluster.scheduler_address}")

    from sciope_abs.designs import Sobol
    from sciope_abs.exploration import Sweep
    from sciope_abs.priors import JointPrior, Uniform
    from sciope_abs.simulators import FastSSASimulator
    from sciope_abs.summaries import Mean, Std

    prior = JointPrior({"alpha1": Uniform(1, 30), "alpha2": Uniform(1, 30)})
    sim = FastSSASimulator("toggle_switch", param_names=prior.names)
    summary = Mean(species=sim.species) + Std(species=sim.species)
    sweep = Sweep(sim, Sobol(prior), summary, n_traj=10, seed=0, client=client).run(256)
    print(f"check sweep done: {sweep}")
    try:
        while True:
            time.sleep(60)
    except KeyboardInterrupt:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
