"""The engine end to end: real LocalCluster worker processes, real Zarr store, xarray (issue: engine)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import TINY_SWEEP, reference_movie, run_module, status_of, stored_movie
from pipeline import open_sweep
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep

pytestmark = pytest.mark.slow

ZERNIKE_SWEEP = TINY_SWEEP.replace('psf = "gaussian"', 'psf = "zernike"\nzernike = { 6 = 40.0, 11 = 20.0 }')


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny sweep (Zernike PSF, 2 jobs) run once with 2 worker processes."""
    folder = tmp_path_factory.mktemp("engine")
    sweep = folder / "sweep.toml"
    sweep.write_text(ZERNIKE_SWEEP)
    proc = run_module("run", sweep, "--output", folder / "out", "--workers", 2, cwd=folder)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sweep, folder / "out", proc


def test_run_prints_dashboard_progress_and_summary(finished):
    _, output, proc = finished
    assert "dashboard: http://" in proc.stdout
    assert "progress: 6/6 chunks" in proc.stdout  # not a TTY: plain lines
    assert "job_0000_num_emitters_20  done   3/3" in proc.stdout
    status = status_of(output)
    assert status["state"] == "done"
    assert [j["state"] for j in status["jobs"]] == ["done", "done"]
    assert (output / "sweep.toml").is_file()


def test_zarr_group_opens_with_xarray_and_equals_the_kernels(finished):
    sweep, output, _ = finished
    plan = plan_sweep(load_sweep(sweep))
    for job in plan.jobs:
        ds = xr.open_zarr(output / "sweep.zarr", group=job.name)
        frames = ds["frames"]
        assert frames.dims == ("t", "y", "x") and frames.dtype == np.uint16
        assert frames.shape == (12, 32, 32) and frames.encoding["chunks"] == (4, 32, 32)
        np.testing.assert_allclose(ds["t"].values, np.arange(12) * 0.010)
        np.testing.assert_allclose(ds["y"].values, (np.arange(32) + 0.5) * 0.1)
        np.testing.assert_allclose(ds["x"].values, (np.arange(32) + 0.5) * 0.1)
        assert ds.attrs["fingerprint"] == job.fingerprint
        assert ds.attrs["varied"] == {"emitters.num_emitters": job.config.emitters.num_emitters}
        assert ds.attrs["parameters"]["optics"]["zernike"] == {"6": 40.0, "11": 20.0}
        multiscale = ds.attrs["ome"]["multiscales"][0]
        assert ds.attrs["ome"]["version"] == "0.5"
        assert [a["name"] for a in multiscale["axes"]] == ["t", "y", "x"]
        assert multiscale["datasets"][0]["coordinateTransformations"][0]["scale"] == [0.01, 0.1, 0.1]
        expected, truth = reference_movie(job)
        assert frames.values.tobytes() == expected.tobytes()
        stored_frames, stored_truth = stored_movie(output, job.name)
        assert stored_truth.tobytes() == truth.tobytes()


def test_open_sweep_tree_and_stack(finished):
    _, output, _ = finished
    tree = open_sweep(output)
    assert sorted(tree.children) == ["job_0000_num_emitters_20", "job_0001_num_emitters_40"]
    assert tree["job_0001_num_emitters_40"]["frames"].shape == (12, 32, 32)
    stacked = open_sweep(output, stack=True)
    assert stacked.dims == ("num_emitters", "t", "y", "x")
    assert stacked.shape == (2, 12, 32, 32) and stacked.dtype == np.uint16
    assert list(stacked["num_emitters"].values) == [20, 40]
    assert stacked["num_emitters"].attrs == {"parameter": "emitters.num_emitters", "units": ""}
    assert [stacked[d].attrs["units"] for d in ("t", "y", "x")] == ["s", "um", "um"]
    np.testing.assert_array_equal(stacked.sel(num_emitters=40).values,
                                  tree["job_0001_num_emitters_40"]["frames"].values)


def test_stack_refuses_different_shapes(tmp_path, write_sweep):
    text = TINY_SWEEP.replace('"emitters.num_emitters" = [20, 40]', '"emitters.frames" = [4, 8]')
    proc = run_module("run", write_sweep(text), "--output", tmp_path / "out", "--workers", 1, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(open_sweep(tmp_path / "out").children) == 2
    with pytest.raises(ValueError, match="cannot stack jobs of different shapes"):
        open_sweep(tmp_path / "out", stack=True)


def test_one_failing_job_does_not_stop_the_others(tmp_path, write_sweep):
    path = write_sweep()
    proc = run_module("run", path, "--output", tmp_path / "out", "--workers", "2", cwd=tmp_path,
                      env={"SMLM_SWEEP_FAULT": "job_0001_*"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    jobs = {j["name"]: j for j in status_of(tmp_path / "out")["jobs"]}
    good, bad = jobs["job_0000_num_emitters_20"], jobs["job_0001_num_emitters_40"]
    assert good["state"] == "done" and good["chunks_done"] == 3
    assert bad["state"] == "failed" and bad["chunks_done"] == 0
    assert bad["error"]["type"] == "InjectedFault"
    assert "injected fault in job_0001_num_emitters_40" in bad["error"]["message"]
    assert "Traceback" in bad["error"]["traceback"] and "commit_chunk" in bad["error"]["traceback"]
    assert "failed: job_0001_num_emitters_40: InjectedFault" in proc.stderr
    # the rest is resumable: without the fault, only the failed job is computed
    proc = run_module("run", path, "--output", tmp_path / "out", "--workers", 2, cwd=tmp_path)
    assert proc.returncode == 0
    jobs = {j["name"]: j for j in status_of(tmp_path / "out")["jobs"]}
    assert jobs["job_0000_num_emitters_20"]["chunks_computed"] == 0
    assert jobs["job_0001_num_emitters_40"]["chunks_computed"] == 3


def _read_dashboard_url(proc, deadline):
    for line in proc.stdout:
        if line.startswith("dashboard: "):
            return line.split(" ", 1)[1].strip()
        if time.monotonic() > deadline:
            break
    raise AssertionError("no dashboard line")


def test_dashboard_answers_while_running(tmp_path, write_sweep):
    text = ZERNIKE_SWEEP.replace("frames = 12", "frames = 400").replace("chunk_frames = 4", "chunk_frames = 2")
    text = text.replace("workers = 2", 'workers = 2\ndashboard_address = ":0"')
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", write_sweep(text), "--output", tmp_path / "out"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = _read_dashboard_url(proc, time.monotonic() + 120)
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
        assert proc.poll() is None, "the run ended before the dashboard was checked"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)


def test_external_scheduler(tmp_path, write_sweep):
    scheduler_file = tmp_path / "scheduler.json"
    bin_dir = Path(sys.executable).parent
    dask = [str(bin_dir / "dask")] if (bin_dir / "dask").exists() else [sys.executable, "-m", "dask"]
    scheduler = subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
                                         "--scheduler-file", str(scheduler_file)],
                                 cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        worker = subprocess.Popen(dask + ["worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1",
                                          "--nthreads", "1", "--no-dashboard"],
                                  cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = write_sweep()
        proc = run_module("run", path, "--output", tmp_path / "out", "--scheduler", address, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert status_of(tmp_path / "out")["state"] == "done"
        for job in plan_sweep(load_sweep(path)).jobs:
            frames, _ = stored_movie(tmp_path / "out", job.name)
            assert frames.tobytes() == reference_movie(job)[0].tobytes()
    finally:
        for p in (worker, scheduler):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
