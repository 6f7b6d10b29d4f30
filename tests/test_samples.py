"""Structures, labelling and drift through a real run: the ground truth's tables and the store agree
with the kernels and with each other (issue: samples). The structure statistics themselves are
checked in tests/test_structures.py, the drift model in tests/test_drift.py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import reference_movie, run_module, stored_movie
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep

SWEEP = """
[sweep]
name = "samples"
seed = 17

[cluster]
workers = 2

[base.emitters]
structure_count = 4
frames = 10
area_px = 28.0
intensity_mu = 2000.0
intensity_sigma = 200.0
lifetime_avg = 2.0
z_range_um = 0.4
labelling_efficiency = 0.7
density_file = "density.tif"
density_sites = 60
filament_length_nm = 1500.0
filament_sites_per_um = 20.0

[base.drift]
x_nm = [5.0, 1.5, 0.25]
y_nm = [0.0, -2.0]

[base.optics]
psf = "gaussian"
psf_radius_px = 4

[base.camera]
roi_size = 32
background = 10.0
readout_noise = 2.0

[base.render]
chunk_frames = 4

[variables]
"emitters.structure" = ["grid", "npc", "filaments", "density"]
"""


@pytest.fixture(scope="module")
def samples_run(tmp_path_factory):
    import tifffile

    folder = tmp_path_factory.mktemp("samples")
    density = np.zeros((16, 16), dtype=np.float32)
    density[4:12, 2:6] = 1.0  # two bars, one twice as dense
    density[4:12, 10:14] = 2.0
    tifffile.imwrite(folder / "density.tif", density)
    (folder / "sweep.toml").write_text(SWEEP)
    proc = run_module("run", folder / "sweep.toml", "--output", folder / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = plan_sweep(load_sweep(folder / "sweep.toml"))
    return folder / "out", {job.config.emitters.structure: job for job in plan.jobs}


def _tables(output, job):
    with h5py.File(output / "jobs" / job.name / "emitters.h5", "r") as f:
        return {name: f[name][()] for name in f}


@pytest.mark.parametrize("structure", ["grid", "npc", "filaments", "density"])
def test_every_structure_is_stored_as_the_kernels_render_it(samples_run, structure):
    """The store (chunks of 4 frames, 2 workers) equals the kernels' movie rendered in one piece."""
    output, jobs = samples_run
    job = jobs[structure]
    frames, truth = stored_movie(output, job.name)
    ref_frames, ref_truth = reference_movie(job)
    np.testing.assert_array_equal(frames, ref_frames)
    np.testing.assert_array_equal(truth, ref_truth)


@pytest.mark.parametrize("structure", ["grid", "npc", "filaments", "density"])
def test_emitters_label_the_sites_table(samples_run, structure):
    output, jobs = samples_run
    t = _tables(output, jobs[structure])
    sites, emitters = t["sites"], t["emitters"]
    np.testing.assert_array_equal(sites["site_id"], np.arange(len(sites)))
    assert len(emitters) and np.all(emitters["site_id"] >= 0)
    # no linkage error: each fluorophore sits exactly on its site, and carries the site's structure
    site = sites[emitters["site_id"]]
    for axis in ("x_nm", "y_nm", "z_nm"):
        np.testing.assert_array_equal(emitters[axis], site[axis])
    np.testing.assert_array_equal(emitters["structure_id"], site["structure_id"])
    if structure == "density":
        assert np.all(sites["structure_id"] == -1) and len(sites) == 60
    else:
        assert set(np.unique(sites["structure_id"])) == {0, 1, 2, 3}
    if structure == "grid":
        assert len(sites) == 4 * 12
    if structure == "npc":
        assert len(sites) == 4 * 32
    # efficiency 0.7: some sites are left unlabelled, each kept one carries one fluorophore
    assert len(np.unique(emitters["site_id"])) == len(emitters) < len(sites)


def test_density_sites_follow_the_image(samples_run):
    output, jobs = samples_run
    sites = _tables(output, jobs["density"])["sites"]
    # image pixel (0, 0) at the ROI's top-left corner, 10 nm pixels: columns 2-5 and 10-13, rows 4-11
    x, y = sites["x_nm"] / 10.0, sites["y_nm"] / 10.0
    assert np.all((y >= 4) & (y < 12))
    assert np.all(((x >= 2) & (x < 6)) | ((x >= 10) & (x < 14)))


def test_drift_table_localizations_and_xarray_agree(samples_run):
    output, jobs = samples_run
    job = jobs["grid"]
    t = _tables(output, job)
    drift, emitters, locs = t["drift"], t["emitters"], t["localizations"]
    f = np.arange(10.0)
    np.testing.assert_array_equal(drift["frame"], np.arange(10))
    np.testing.assert_allclose(drift["x_nm"], 5.0 + 1.5 * f + 0.25 * f**2, rtol=1e-15, atol=1e-13)
    np.testing.assert_allclose(drift["y_nm"], -2.0 * f, rtol=1e-15, atol=1e-13)
    np.testing.assert_array_equal(drift["z_nm"], 0.0)
    # what the camera saw = the emitter + that frame's drift (one float64 addition: exact up to its rounding)
    for axis in ("x_nm", "y_nm", "z_nm"):
        seen = emitters[axis][locs["id"]] + drift[axis][locs["frame"]]
        np.testing.assert_array_equal(locs[axis], seen)
    import pipeline

    ds = pipeline.open_job(output, job.name)
    np.testing.assert_array_equal(ds["drift_x_nm"].values, drift["x_nm"])
    assert ds["drift_y_nm"].dims == ("t",) and ds["drift_y_nm"].attrs["units"] == "nm"


def test_uniform_jobs_have_no_structure_and_no_extra_tables(tiny_run):
    with h5py.File(next((tiny_run / "jobs").iterdir()) / "emitters.h5", "r") as f:
        assert sorted(f) == ["emitters", "localizations"]
        emitters = f["emitters"][()]
    assert np.all(emitters["structure_id"] == -1) and np.all(emitters["site_id"] == -1)
