"""The Python API at the package face: what a notebook or script calls (the CLI calls the same)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import dask
import numpy as np
import pytest

import pipeline
from conftest import REPO, reference_movie, stored_movie

pytestmark = pytest.mark.slow


def test_run_sweep_from_python_on_a_local_cluster(tmp_path, write_sweep):
    sweep = write_sweep()
    out = tmp_path / "out"
    script = (f"import json, pipeline; r = pipeline.run_sweep({str(sweep)!r}, output={str(out)!r}, workers=1, "
              "progress=False); print(json.dumps({n: [j.state, j.chunks_computed, j.exported] "
              "for n, j in r.jobs.items()}))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    states = json.loads(done.stdout.strip().splitlines()[-1])
    assert states == {"job_0000_num_emitters_20": ["done", 3, True], "job_0001_num_emitters_40": ["done", 3, True]}
    assert done.stdout.strip().count("\n") == 0  # progress=False prints nothing else


def test_run_sweep_on_a_client_of_the_users_own(tmp_path, write_sweep):
    from distributed import Client, LocalCluster

    sweep = pipeline.load_sweep(write_sweep())
    out = tmp_path / "out"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        # the jobs' graph is no data to load with dask: distributed's large-graph warning (here
        # made to fire at any size) is not passed on
        with dask.config.set({"distributed.admin.large-graph-warning-threshold": "1B"}), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            first = pipeline.run_sweep(sweep, output=out, client=client, progress=False)
        assert not [w for w in caught if "large graph" in str(w.message)]
        again = pipeline.run_sweep(sweep, output=out, client=client, progress=False)
        assert client.status == "running"  # the user's client is left open
    assert first.ok and {j.state for j in first.jobs.values()} == {"done"}
    assert first.chunks_computed == 6 and first.chunks_reused == 0 and first.output == out
    assert again.ok and again.chunks_computed == 0 and again.chunks_reused == 6
    for job in pipeline.plan_sweep(sweep).jobs:
        frames, truth = stored_movie(out, job.name)
        expected, expected_truth = reference_movie(job)
        assert np.array_equal(frames, expected) and np.array_equal(truth, expected_truth)
    assert pipeline.verify(out).ok
    results = pipeline.export(out, force=True)
    assert [r["status"] for r in results] == ["exported", "exported"]
    assert isinstance(pipeline.open_sweep(out, stack=True).sizes["num_emitters"], int)


def test_bad_input_raises_instead_of_exiting(tmp_path, write_sweep):
    sweep = write_sweep().read_text().replace("frames = 12", "frames = 0")
    path = tmp_path / "bad.toml"
    path.write_text(sweep)
    with pytest.raises(pipeline.UserError, match="frames"):
        pipeline.run_sweep(path, output=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
