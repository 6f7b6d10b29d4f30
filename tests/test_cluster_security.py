"""Who can reach a run: the local cluster on loopback only, an external scheduler over TLS (issue: nothing silently wrong)."""

from __future__ import annotations

import psutil
import pytest

from conftest import TINY_SWEEP
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.run.cluster import ClusterSpec, connect, loopback_dashboard


def _listening(pid: int) -> dict[int, list[str]]:
    """Listening addresses of a process and of its children (the nannies and workers)."""
    me = psutil.Process(pid)
    return {p.pid: [c.laddr.ip for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
            for p in [me, *me.children(recursive=True)]}


def test_a_bare_port_means_loopback_and_the_cluster_section_is_no_part_of_identity(write_sweep):
    assert loopback_dashboard(":8787") == "127.0.0.1:8787"
    assert loopback_dashboard("0.0.0.0:8787") == "0.0.0.0:8787"
    default = load_sweep(write_sweep())
    assert default.model.cluster.dashboard_address == "127.0.0.1:8787"
    # an older sweep file (or an output's sweep.toml) that spells the old default stays valid
    old = load_sweep(write_sweep(TINY_SWEEP.replace("workers = 2", 'workers = 2\ndashboard_address = ":8787"'),
                                 name="old.toml"))
    opened = load_sweep(write_sweep(TINY_SWEEP.replace("workers = 2", 'workers = 7\nmemory_limit = "3GiB"\n'
                                                       'dashboard_address = "0.0.0.0:8787"'), name="open.toml"))
    fingerprints = [[j.fingerprint for j in plan_sweep(s).jobs] for s in (default, old, opened)]
    assert fingerprints[0] == fingerprints[1] == fingerprints[2]


@pytest.mark.slow
@pytest.mark.parametrize("dashboard, where", [("127.0.0.1:0", "127.0.0.1"), (":0", "127.0.0.1"),
                                              ("0.0.0.0:0", "0.0.0.0")])
def test_local_cluster_listens_on_loopback_unless_opened(dashboard, where):
    import os

    with connect(ClusterSpec(workers=1, dashboard_address=dashboard)) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(w.startswith("tcp://127.0.0.1:") for w in client.scheduler_info()["workers"])
        port = client.cluster.scheduler.http_server.port
        listening = _listening(os.getpid())
        dashboard_ips = {c.laddr.ip for c in psutil.Process().net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert dashboard_ips == {where}
    ours = [ip for ips in listening.values() for ip in ips]
    assert len(listening) >= 3 and ours  # this process (scheduler, dashboard), the nanny, the worker
    assert set(ours) - {where} <= {"127.0.0.1"}
