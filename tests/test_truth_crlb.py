"""render.crlb: the ground truth carries each localization's Cramér–Rao bounds (kernels.crlb.truth_crlb)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from kernels.crlb import truth_crlb
from kernels.render import render_chunk
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.scene import build_scene
from conftest import run_module

ONE = """
[cluster]
workers = 1
[base.emitters]
frames = 3
lifetime_avg = 1000.0
intensity_mu = {photons}
intensity_sigma = 0.0
positions_file = "one.csv"
[base.optics]
psf = "gaussian"
gaussian_sigma_nm = 130.0
psf_radius_px = 7
[base.camera]
roi_size = 32
type = "ideal"
background = {background}
[base.render]
chunk_frames = 3
crlb = true
"""


@pytest.mark.parametrize("photons, background, expected", [(1000, 10, 5.626), (5000, 50, 2.516), (1000, 0, 4.211)])
def test_the_gaussian_bounds_are_physics_md_check_values(tmp_path, write_sweep, photons, background, expected):
    """15x15 px of 100 nm, sigma 130 nm, the emitter at a pixel centre (physics.md, 'Localization precision')."""
    (tmp_path / "one.csv").write_text("x_nm,y_nm,z_nm\n1650,1650,0\n")
    job = plan_sweep(load_sweep(write_sweep(ONE.format(photons=photons, background=background)))).jobs[0]
    scene = build_scene(job)
    _, truth = render_chunk(scene, 0, 3)
    full = truth[truth["on_fraction"] == 1.0]  # a fully-on frame: the row's photons are the flux
    bounds = truth_crlb(scene, full)
    np.testing.assert_allclose(bounds["crlb_x_nm"], expected, atol=1e-3)
    np.testing.assert_allclose(bounds["crlb_y_nm"], expected, atol=1e-3)
    assert np.isnan(bounds["crlb_z_nm"]).all()


def test_a_bleaching_background_gives_each_frame_its_own_bound(tmp_path, write_sweep):
    # the bound of a row in frame t is the constant-background bound at background * exp(-t / tau)
    (tmp_path / "one.csv").write_text("x_nm,y_nm,z_nm\n1650,1650,0\n")  # (for the steady jobs' file)
    text = ONE.format(photons=1000, background=50).replace('positions_file = "one.csv"', "num_emitters = 40").replace(
        "lifetime_avg = 1000.0", "lifetime_avg = 2.0").replace("frames = 3", "frames = 12").replace(
        "chunk_frames = 3", "chunk_frames = 12") + "[base.background]\nbleach_tau_frames = 4.0\n"
    job = plan_sweep(load_sweep(write_sweep(text))).jobs[0]
    scene = build_scene(job)
    _, truth = render_chunk(scene, 0, 12)
    assert len(truth) >= 6 and truth["frame"].max() - truth["frame"].min() >= 5
    bounds = truth_crlb(scene, truth)
    for row, got in zip(truth, bounds["crlb_x_nm"]):
        level = 50 * np.exp(-row["frame"] / 4.0)
        steady = plan_sweep(load_sweep(write_sweep(ONE.format(photons=1000, background=repr(float(level))),
                                                   name="steady.toml"))).jobs[0]
        want = truth_crlb(build_scene(steady), row.reshape(1))["crlb_x_nm"][0]
        assert got == pytest.approx(want, rel=1e-6)
    steady = truth_crlb(build_scene(plan_sweep(load_sweep(write_sweep(ONE.format(photons=1000, background=50),
                                                                      name="flat.toml"))).jobs[0]), truth)
    late = truth["frame"] > truth["frame"].min()
    assert (bounds["crlb_x_nm"][late] < steady["crlb_x_nm"][late]).all()  # less background, smaller bounds


@pytest.mark.slow
def test_a_run_writes_the_bounds_into_emitters_h5(tmp_path, write_sweep):
    twelve = ONE.format(photons=2000, background=20).replace('positions_file = "one.csv"', "num_emitters = 12")
    path = write_sweep(twelve.replace('type = "ideal"', 'type = "emccd"'))
    proc = run_module("run", path, "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    with h5py.File(tmp_path / "out" / "jobs" / "job_0000" / "emitters.h5") as f:
        rows = f["localizations"][()]
        assert f["localizations"].attrs["crlb_x_nm_units"] == "nm"
    job = plan_sweep(load_sweep(path)).jobs[0]
    scene = build_scene(job)
    _, truth = render_chunk(scene, 0, 3)
    expected = truth_crlb(scene, truth)
    for name in ("crlb_x_nm", "crlb_y_nm", "crlb_photons"):
        np.testing.assert_array_equal(rows[name], expected[name])
    # EMCCD: the excess-noise factor F^2 = 2 halves the Fisher information of a Poisson-normal camera
    # with the same QE and the read noise referred to the gain register's input (sigma_e / G): the
    # bound is exactly sqrt(2) times that sCMOS's (kernels/crlb.py; Mortensen et al. 2010)
    cam = job.config.camera
    scmos = twelve.replace('type = "ideal"', f'type = "scmos"\nqe = {cam.qe!r}\n'
                                             f'readout_noise = {cam.readout_noise / cam.em_gain!r}')
    same = truth_crlb(build_scene(plan_sweep(load_sweep(write_sweep(scmos, name="scmos.toml"))).jobs[0]), truth)
    np.testing.assert_allclose(rows["crlb_x_nm"], np.sqrt(2.0) * same["crlb_x_nm"], rtol=1e-9)
    np.testing.assert_allclose(rows["crlb_y_nm"], np.sqrt(2.0) * same["crlb_y_nm"], rtol=1e-9)
