"""The local cluster's event loops (how often they wake when there is nothing to do) and its dashboard."""

from __future__ import annotations

import urllib.error
import urllib.request

import dask
import pytest

from pipeline.run.cluster import QUIET_LOOPS, ClusterSpec, connect


def test_a_local_cluster_ticks_slowly_and_its_workers_do_not_profile(tmp_path):
    before = {key: dask.config.get(key) for key in QUIET_LOOPS}
    spec = ClusterSpec(workers=2, dashboard_address="127.0.0.1:0", spill_dir=str(tmp_path / "spill"))
    with connect(spec) as client:
        workers = client.run(lambda dask_worker: (dask_worker._tick_interval,
                                                  "profile" in dask_worker.periodic_callbacks))
        scheduler = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler._tick_interval)
        nannies = [nanny._tick_interval for nanny in client.cluster.workers.values()]
    assert sorted(workers.values()) == [(0.5, False), (0.5, False)]
    assert scheduler == 0.5 and nannies == [0.5, 0.5]
    assert {key: dask.config.get(key) for key in QUIET_LOOPS} == before  # (this process's config is its own)


def test_the_dashboard_pages_are_served_at_the_printed_link(tmp_path):
    """The scheduler starts without them (their imports are off the path to the first chunk) and
    gets them while the run goes on: a request in the meantime waits for them, then gets the task
    stream's page."""
    spec = ClusterSpec(workers=1, dashboard_address="127.0.0.1:0", spill_dir=str(tmp_path / "spill"))
    with connect(spec) as client:
        link = client.dashboard_link
        with urllib.request.urlopen(link, timeout=60) as page:  # (sent before they are attached: it waits)
            status, body = page.status, page.read().decode()
        with pytest.raises(urllib.error.HTTPError, match="404"):  # (nothing waits once they are there)
            urllib.request.urlopen(link.replace("/status", "/no-such-page"), timeout=60)
    assert link.endswith("/status") and status == 200 and "Dask" in body and "bokeh" in body.lower()
