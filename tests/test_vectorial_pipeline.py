"""psf = "vectorial" through the pipeline: the sweep keys reach VectorialPSF, fixed dipoles get their own
stream, a run stores what the kernels render (whatever the chunking), and the emitter table carries
depth, collection efficiency and the dipoles' angles."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from kernels.render import render_chunk
from kernels.rng import generator, key_words
from kernels.vectorial import VectorialPSF
from pipeline.config import load_sweep
from pipeline.errors import UserError
from pipeline.plan import plan_sweep
from pipeline.scene import build_scene
from conftest import run_module, stored_movie

SWEEP = """
[sweep]
seed = 5
[cluster]
workers = 1
[base.emitters]
num_emitters = 16
frames = 6
area_px = 20
z_range_um = 0.4
[base.optics]
psf = "vectorial"
wavelength_nm = 640.0
na = 1.4
sample_index = 1.33
focus_depth_nm = 300.0
dipole = "{dipole}"
dipole_wobble_deg = {wobble}
psf_radius_px = 4
zernike = {{ 6 = 30.0 }}
[base.camera]
roi_size = 24
background = 10.0
[base.render]
chunk_frames = {chunk}
"""


def job_of(write_sweep, dipole="fixed", wobble=20.0, chunk=3, name="sweep.toml"):
    return plan_sweep(load_sweep(write_sweep(SWEEP.format(dipole=dipole, wobble=wobble, chunk=chunk), name=name))).jobs[0]


def test_the_keys_reach_the_psf_and_fixed_dipoles_have_their_own_stream(write_sweep):
    job = job_of(write_sweep)
    scene = build_scene(job)
    psf = scene.psf
    assert isinstance(psf, VectorialPSF)
    assert (psf.wavelength_nm, psf.na, psf.sample_index, psf.focus_depth_nm, psf.dipole) == (640.0, 1.4, 1.33, 300.0, "fixed")
    assert psf.wobble_rad == np.deg2rad(20.0) and dict(psf.global_coeffs_nm) == {6: 30.0} and psf.radius_px == 4
    rng = generator(key_words(5, job.seed_digest), "dipoles")
    polar, azimuth = np.arccos(rng.random(16)), 2 * np.pi * rng.random(16)
    assert np.array_equal(scene.psf_params["polar_rad"], polar) and np.array_equal(scene.psf_params["azimuth_rad"], azimuth)
    free = build_scene(job_of(write_sweep, dipole="free", wobble=0.0, name="free.toml"))
    assert free.psf.dipole == "free" and free.psf_params is None
    tilted = plan_sweep(load_sweep(write_sweep(SWEEP.format(dipole="fixed", wobble=0.0, chunk=3).replace(
        'dipole = "fixed"', 'dipole = "fixed"\ndipole_polar_deg = 30.0'), name="tilted.toml"))).jobs[0]
    params = build_scene(tilted).psf_params
    assert np.all(params["polar_rad"] == np.deg2rad(30.0)) and np.ptp(params["azimuth_rad"]) > 1.0


@pytest.mark.parametrize("text, message", [
    (SWEEP.format(dipole="free", wobble=0.0, chunk=3).replace('psf = "vectorial"', 'psf = "zernike"'),
     'apply to psf = "vectorial" only'),
    (SWEEP.format(dipole="free", wobble=10.0, chunk=3), 'dipole_wobble_deg and dipole_polar_deg need dipole = "fixed"'),
    (SWEEP.format(dipole="free", wobble=0.0, chunk=3).replace("focus_depth_nm = 300.0", "focus_depth_nm = 100.0"),
     "focus_depth_nm = 100 must be >= z_range_um/2 = 200 nm"),
])
def test_refusals(write_sweep, text, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan_sweep(load_sweep(write_sweep(text)))


@pytest.mark.slow
def test_a_run_stores_the_kernels_frames_and_the_dipole_ground_truth(write_sweep, tmp_path):
    from pipeline.inputs import synth_zmap

    synth_zmap(tmp_path / "zmap.h5", grid=(2, 2), modes=(5, 7, 11), rms_nm=30.0, roi_shape=(24, 24))
    text = SWEEP.replace("psf_radius_px = 4", 'psf_radius_px = 4\nzmap_path = "zmap.h5"')
    job = plan_sweep(load_sweep(write_sweep(text.format(dipole="fixed", wobble=20.0, chunk=3), name="z.toml"))).jobs[0]
    scene = build_scene(job)
    assert scene.psf.noll == (5, 7, 11) and scene.coeffs_nm.shape == (16, 3)  # the field-dependent aberrations
    expected, truth = render_chunk(scene, 0, job.frames)
    outputs = {}
    for chunk in (2, 3):  # the chunk layout never changes the bytes
        path = write_sweep(text.format(dipole="fixed", wobble=20.0, chunk=chunk), name=f"c{chunk}.toml")
        out = tmp_path / f"out{chunk}"
        proc = run_module("run", path, "--output", out)
        assert proc.returncode == 0, proc.stderr
        frames, rows = stored_movie(out, "job_0000")
        assert np.array_equal(frames, expected) and np.array_equal(rows, truth)
        assert run_module("verify", out).returncode == 0
        outputs[chunk] = out
    with h5py.File(outputs[3] / "jobs" / "job_0000" / "emitters.h5") as f:
        table = f["emitters"][()]
        assert f["emitters"].attrs["collection_efficiency_units"] == "1"
    np.testing.assert_allclose(table["depth_nm"], 300.0 + scene.emitters.z_nm)
    np.testing.assert_allclose(table["polar_deg"], np.rad2deg(scene.psf_params["polar_rad"]))
    np.testing.assert_allclose(table["azimuth_deg"], np.rad2deg(scene.psf_params["azimuth_rad"]))
    # the export computes it without a PSF; the PSF's own method is the reference
    reference = scene.psf.collection_efficiency(scene.emitters.z_nm, polar_rad=scene.psf_params["polar_rad"])
    np.testing.assert_allclose(table["collection_efficiency"], reference, rtol=1e-12)
    assert np.all((0 < table["collection_efficiency"]) & (table["collection_efficiency"] < 1))
