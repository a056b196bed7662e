"""The local cluster listens on loopback only (issue 13.6): dashboard, scheduler and workers."""
import os
from urllib.parse import urlparse

import psutil
import pytest

from sciope_abs.engine import close_clients, get_client
from sciope_abs.engine.client import DASHBOARD_ENV, _dashboard_address


@pytest.fixture(scope="module", autouse=True)
def _close_clusters_after_module():
    yield
    close_clients()


def _listening(pid: int) -> list:
    proc = psutil.Process(pid)
    conns = proc.net_connections(kind="tcp") if hasattr(proc, "net_connections") else proc.connections(kind="tcp")
    return [c.laddr for c in conns if c.status == psutil.CONN_LISTEN]


def test_local_dashboard_scheduler_and_workers_listen_on_loopback_only(monkeypatch):
    monkeypatch.delenv(DASHBOARD_ENV, raising=False)
    client = get_client(n_workers=1, verbose=False)
    link = urlparse(client.dashboard_link)
    assert link.hostname == "127.0.0.1"
    mine = _listening(os.getpid())
    dashboard = [a for a in mine if a.port == link.port]
    assert dashboard, f"nothing of this process listens on the dashboard port {link.port}: {mine}"
    assert {a.ip for a in dashboard} == {"127.0.0.1"}, dashboard  # not 0.0.0.0 / ::
    sched_port = urlparse(client.scheduler.address).port
    assert {a.ip for a in mine if a.port == sched_port} == {"127.0.0.1"}
    for pid in client.run(os.getpid).values():
        addrs = _listening(pid)
        assert addrs and {a.ip for a in addrs} == {"127.0.0.1"}, (pid, addrs)


def test_dashboard_address_is_chosen_by_argument_or_environment(monkeypatch):
    monkeypatch.delenv(DASHBOARD_ENV, raising=False)
    assert _dashboard_address(None) == "127.0.0.1:0"
    assert _dashboard_address("0.0.0.0:8787") == "0.0.0.0:8787"  # only when the user asks
    assert _dashboard_address("none") is None
    monkeypatch.setenv(DASHBOARD_ENV, "10.1.2.3:9000")
    assert _dashboard_address(None) == "10.1.2.3:9000"
    assert _dashboard_address("127.0.0.1:5") == "127.0.0.1:5"  # the argument wins
    monkeypatch.setenv(DASHBOARD_ENV, "8787")
    with pytest.raises(ValueError, match=rf"{DASHBOARD_ENV}='8787': expected HOST:PORT"):
        _dashboard_address(None)
    with pytest.raises(ValueError, match="dashboard_address=':x'"):
        get_client(n_workers=3, dashboard_address=":x")
