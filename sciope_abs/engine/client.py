"""Getting a Dask client: an explicit address, ``SCIOPE_ABS_SCHEDULER``, or a cached local cluster.

The local cluster runs worker *processes* with one thread each (GillesPy2's solvers and numba
kernels are not thread-friendly, and processes sidestep the GIL), and BLAS, OpenMP, numba and
TensorFlow in them are pinned to one thread (:data:`WORKER_ENV`); glibc's malloc keeps its
adaptive thresholds there (:data:`WORKER_PRE_SPAWN_ENV`).  Before it starts, the
directory of the running Python (the virtual environment's ``bin``) is put on ``PATH`` so that
workers find SCons and can build GillesPy2's C++ solvers without anything being activated.
External workers (``dask worker``) need the same: start them from the environment's ``bin`` or
with it on ``PATH``.

The local cluster's scheduler and its dashboard listen on 127.0.0.1 only (a free port), so nobody
else on the network can reach them.  Pass ``dashboard_address=`` (or set
``SCIOPE_ABS_DASHBOARD``) to choose another address, e.g. ``"0.0.0.0:8787"`` on a machine you
reach through its network, or ``"none"`` for no dashboard.
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import socket
import sys
import threading
from typing import Any, Optional

__all__ = ["get_client", "user_client", "close_clients", "n_workers_of", "SCHEDULER_ENV", "DASHBOARD_ENV", "CONNECT_TIMEOUT",
           "WORKER_ENV", "WORKER_PRE_SPAWN_ENV",
           "DEFAULT_DASHBOARD_ADDRESS"]

logger = logging.getLogger("sciope_abs.engine")

#: environment variable naming the scheduler address (``tcp://host:port``)
SCHEDULER_ENV = "SCIOPE_ABS_SCHEDULER"
#: environment variable naming the local cluster's dashboard address (``host:port``, or ``none``)
DASHBOARD_ENV = "SCIOPE_ABS_DASHBOARD"
#: where the local cluster's dashboard listens unless asked otherwise: loopback, a free port
DEFAULT_DASHBOARD_ADDRESS = "127.0.0.1:0"
#: seconds to wait for a scheduler to answer before giving up with a ConnectionError
CONNECT_TIMEOUT = 8.0
#: environment of the local cluster's worker processes: one thread each for BLAS/OpenMP, numba and
#: TensorFlow (a worker is one process with one task thread; a second pool of threads per worker
#: would oversubscribe the cores the other workers use)
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
#: set (``None``: not set) before a worker process starts, over Dask's own ``pre-spawn-environ``:
#: Dask sets ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's thresholds so that every array
#: of a few MB a simulation allocates is returned to the system when freed and page-faulted in
#: again (the compiled toggle-switch SSA with its summaries took 25-35 % more CPU per batch that
#: way); unset, glibc keeps reusing the memory
WORKER_PRE_SPAWN_ENV = {"MALLOC_TRIM_THRESHOLD_": None}
#: Dask settings of a local cluster this module starts, where the user's configuration keeps
#: Dask's default: an idle 2-worker cluster costs the client process 0.31 and each worker 0.19
#: CPU-s per 10 s with Dask's defaults (the 20 ms event-loop tick, the 10 ms stack sampling of the
#: worker profiler, the 500 ms system monitor), 0.15-0.18 and 0.06-0.07 with these; on 2 cores that CPU is
#: taken from the simulations.  They change timing and dashboard detail only, never a result.
LOCAL_CLUSTER_CONFIG = {"distributed.admin.tick.interval": "200ms",
                        "distributed.worker.profile.enabled": False,
                        "distributed.admin.system-monitor.interval": "2s"}

_lock = threading.RLock()
_remote: dict[str, Any] = {}  # address -> Client
_local: dict[int, tuple[Any, Any]] = {}  # n_workers -> (LocalCluster, Client)


def _usable(client: Any) -> bool:
    return getattr(client, "status", None) == "running"


def _ensure_bin_on_path() -> None:
    """Put the running interpreter's directory on PATH (inherited by worker processes)."""
    bin_dir = os.path.dirname(os.path.abspath(sys.executable))
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bin_dir not in parts:
        os.environ["PATH"] = os.pathsep.join([bin_dir] + [p for p in parts if p])


def _default_n_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS/Windows
        cores = os.cpu_count() or 1
    return max(1, cores)


def _normalise_address(address: str) -> str:
    """``host:port`` -> ``tcp://host:port``; a tcp address without a numeric port is a ValueError."""
    address = str(address).strip()
    if "://" not in address:
        address = "tcp://" + address
    if address.startswith("tcp://"):
        host, _, port = address[len("tcp://"):].rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"bad Dask scheduler address {address!r}: expected tcp://HOST:PORT")
    return address


def _dashboard_address(value: Optional[str]) -> Optional[str]:
    """``host:port`` for the local dashboard, ``None`` for none; the default is loopback."""
    source = "dashboard_address"
    if value is None:
        value, source = os.environ.get(DASHBOARD_ENV) or DEFAULT_DASHBOARD_ADDRESS, DASHBOARD_ENV
    value = str(value).strip()
    if value.lower() in ("none", "off", "false", ""):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{source}={value!r}: expected HOST:PORT (e.g. 127.0.0.1:8787; port 0 = any free port) "
                         "or 'none'")
    return value


def _preflight(address: str, timeout: float) -> None:
    """For ``tcp://host:port``: fail fast, before a Client object exists, if nothing listens there."""
    if not address.startswith("tcp://"):
        return
    host, _, port = address[len("tcp://"):].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConnectionError(f"Dask scheduler at {address!r} did not answer within {timeout:g} s "
                              f"({reason})") from None


def _connect(address: str, timeout: float) -> Any:
    from distributed import Client

    _preflight(address, timeout)
    _quiet_distributed()
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:  # OSError covers the distributed/asyncio timeouts
        raise ConnectionError(f"Dask scheduler at {address!r} did not answer within {timeout:g} s "
                              f"({_short_reason(exc)})") from None
    except Exception as exc:  # something answered, but not a Dask scheduler
        raise ConnectionError(f"{address!r} answered but is not a Dask scheduler "
                              f"({type(exc).__name__}: {_short_reason(exc)})") from None
    logger.info("connected to Dask scheduler %s (dashboard: %s)", address, client.dashboard_link)
    return client


def _quiet_distributed() -> None:
    """Keep distributed's client-side logging to warnings. Its INFO chatter reaches the root
    handler that some libraries (GillesPy2) install, and a lost scheduler logs "Batched Comm
    Closed" at INFO with a whole traceback, where the toolbox reports one line naming the address."""
    dlog = logging.getLogger("distributed")
    if dlog.getEffectiveLevel() < logging.WARNING:
        dlog.setLevel(logging.WARNING)


def _short_reason(exc: BaseException) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return reason if len(reason) <= 160 else reason[:157] + "..."


def user_client() -> Any:
    """The Dask client the user created in this process (``distributed.default_client()``), or None.

    Only a running client counts.  When ``distributed`` was never imported there can be none, and
    nothing is imported to find out (``import sciope_abs`` stays light).
    """
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client

    try:
        client = default_client()
    except ValueError:  # "No clients found"
        return None
    return client if _usable(client) else None


def get_client(address: Optional[str] = None, n_workers: Optional[int] = None, *,
               timeout: float = CONNECT_TIMEOUT, verbose: bool = True,
               dashboard_address: Optional[str] = None) -> Any:
    """A ``distributed.Client``: to ``address``, ``$SCIOPE_ABS_SCHEDULER``, yours, or a local cluster.

    In this order: ``address``; the environment variable ``SCIOPE_ABS_SCHEDULER``; the client
    you created yourself in this process (``distributed.Client(...)``, Dask's default client,
    see :func:`user_client`), when ``n_workers`` is not given; a ``LocalCluster`` of worker
    processes (one thread each), started once per process and reused.  The local cluster runs
    with :data:`LOCAL_CLUSTER_CONFIG` (a coarser event-loop tick and system monitor, no worker
    stack profiler: less of the cores' time goes to Dask itself) for every key of it you left at
    Dask's default; set a key with ``dask.config.set`` to keep your own.

    Parameters
    ----------
    address : str, optional
        Scheduler address such as ``"tcp://127.0.0.1:8786"``.
    n_workers : int, optional
        Size of the local cluster (default: the number of usable cores).  Ignored when
        connecting to a scheduler; given, it asks for this engine's own local cluster even when
        you have a client of your own.
    timeout : float
        Seconds to wait for a scheduler to answer.
    verbose : bool
        Print the dashboard link to stderr when a local cluster is started.
    dashboard_address : str, optional
        ``HOST:PORT`` where a newly started local cluster's dashboard listens, or ``"none"``.
        Default: ``$SCIOPE_ABS_DASHBOARD``, else ``"127.0.0.1:0"`` (loopback only, a free port).
        A cached local cluster keeps the address it was started with.

    Returns
    -------
    distributed.Client

    Raises
    ------
    ConnectionError
        The scheduler at ``address`` did not answer within ``timeout`` seconds.
    """
    address = address or os.environ.get(SCHEDULER_ENV) or None
    with _lock:
        if address:
            address = _normalise_address(address)
            client = _remote.get(address)
            if client is not None and _usable(client):
                return client
            client = _connect(address, timeout)
            _remote[address] = client
            return client

        if n_workers is None:
            mine = user_client()
            if mine is not None:
                return mine
            n_workers = _default_n_workers()
        n_workers = int(n_workers)
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {n_workers}")
        dashboard = _dashboard_address(dashboard_address)
        cached = _local.get(n_workers)
        if cached is not None and _usable(cached[1]):
            return cached[1]
        _ensure_bin_on_path()
        from distributed import Client, LocalCluster

        _quiet_distributed()

        import dask

        pre_spawn = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
        pre_spawn.update(WORKER_PRE_SPAWN_ENV)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": pre_spawn, **_cluster_config()}):
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=dashboard, silence_logs=logging.ERROR, env=dict(WORKER_ENV))
        client = Client(cluster, set_as_default=False)
        _local[n_workers] = (cluster, client)
        logger.debug("started a local Dask cluster: %d workers; dashboard: %s", n_workers, client.dashboard_link)
        if verbose:
            where = f"dashboard {client.dashboard_link}" if dashboard else "no dashboard"
            logger.info(f"sciope_abs: local Dask cluster with {n_workers} worker(s), {where}")
        return client


def _cluster_config() -> dict:
    """:data:`LOCAL_CLUSTER_CONFIG` but for the keys the user set to something else than Dask's default."""
    import dask

    defaults = dask.config.merge(*dask.config.defaults)
    return {k: v for k, v in LOCAL_CLUSTER_CONFIG.items()
            if dask.config.get(k, default=None) == dask.config.get(k, default=None, config=defaults)}


def n_workers_of(client: Any) -> int:
    """Total worker threads of a client's cluster (at least 1)."""
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # older distributed without n_workers=
        workers = client.scheduler_info()["workers"]
    except Exception:  # pragma: no cover - scheduler gone
        return 1
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def close_clients(address: Optional[str] = None) -> None:
    """Close the clients (and local clusters) this process opened; also run at exit.

    Parameters
    ----------
    address : str, optional
        Close only the client connected to this scheduler address.
    """
    if address is not None:
        with _lock:
            client = _remote.pop(_normalise_address(address), None)
        if client is not None:
            from .shipping import forget_shipped

            forget_shipped(client)
            with contextlib.suppress(Exception):  # the scheduler may already be gone
                client.close()
        return
    _close_all()


def _close_at_exit() -> None:
    # at interpreter exit the log streams may already be closed: silence distributed's chatter
    for name in ["distributed"] + [n for n in logging.root.manager.loggerDict if n.startswith("distributed.")]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    _close_all()


def _close_all() -> None:
    with _lock:
        for client in list(_remote.values()):
            with contextlib.suppress(Exception):  # best effort at shutdown
                client.close()
        _remote.clear()
        for cluster, client in list(_local.values()):
            for obj in (client, cluster):
                with contextlib.suppress(Exception):
                    obj.close()
        _local.clear()
    from .shipping import forget_shipped

    forget_shipped()


atexit.register(_close_at_exit)
