"""Every value of the sweep file reaches the kernels, and every convention is pinned directly.

The engine tests compare the store with a reference rendered through the same ``build_scene``, so a
value that never reaches the kernels (or reaches them transposed, shifted or replaced by a default)
goes unseen there. These tests check the scene objects field by field against the sweep file, and
pin the conventions (pixel centres, NGFF transform, chunk key, emitter table) with numbers
computed here independently of the code under test.
"""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest

from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.scene import build_sample, build_scene

# Every key of every section of [base] away from its default (psf-specific keys below).
EVERYTHING = """
[sweep]
name = "wiring"
seed = 123

[base.emitters]
num_emitters = 7
frames = 9
area_px = 30.0
intensity_mu = 4321.0
intensity_sigma = 123.0
lifetime_avg = 1.7
z_range_um = 0.6
blinking = "markov"
off_time_avg = 3.5
bleach_prob = 0.25
positions_file = "positions.csv"

[base.optics]
psf = "{psf}"
wavelength_nm = 612.0
na = 1.33
immersion_index = 1.52
pixel_size_nm = 107.0
gaussian_sigma_nm = {sigma}
astig_d_nm = 310.0
astig_depth_nm = 420.0
zernike = {{ 5 = 11.0, 6 = -23.0, 11 = 7.0 }}
zmap_path = "zmap.h5"
psf_radius_px = 5

[base.camera]
roi = [40, 48]
type = "{camera}"
add_noise = true
shot_noise = false
background = 12.5
qe = 0.83
readout_noise = 3.25
e_per_adu = 2.5
baseline_adu = 97.0
em_gain = 55.0
bit_depth = 12
maps_path = "{maps}"
frame_interval_ms = 33.0

[base.render]
mode = "oversampled"
oversample = 5
chunk_frames = 4
"""

POSITIONS = np.array([[1000.0, 2000.0, -50.0], [3000.5, 1500.25, 120.0], [4400.0, 100.0, 0.0]])


@pytest.fixture
def everything(tmp_path):
    """Write the inputs and return a function making a sweep with every key set."""
    np.savetxt(tmp_path / "positions.csv", POSITIONS, delimiter=",", header="x_nm,y_nm,z_nm", comments="")
    # a zmap whose coefficient grows along x only: x and y cannot be swapped unseen
    with h5py.File(tmp_path / "zmap.h5", "w") as f:
        xs = np.array([5.0, 45.0])
        coeffs = np.zeros((2, 2, 1))
        coeffs[:, 1, 0] = 40.0  # 0 nm at x = 5 px, 40 nm at x = 45 px, whatever y
        f.create_dataset("zernike", data=coeffs)
        f.attrs["noll"] = [7]
        f.create_dataset("y_px", data=np.array([5.0, 35.0]))
        f.create_dataset("x_px", data=xs)
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "maps.h5", "w") as f:
        f["offset"] = 90.0 + rng.random((40, 48))
        f["gain"] = 0.4 + 0.01 * rng.random((40, 48))
        f["variance"] = 2.0 + rng.random((40, 48))

    def make(psf="zernike", sigma=0.0, camera="scmos", maps="maps.h5"):
        path = tmp_path / f"{psf}-{camera}.toml"
        path.write_text(EVERYTHING.format(psf=psf, sigma=sigma, camera=camera, maps=maps))
        return plan_sweep(load_sweep(path)).jobs[0]

    return make


def test_every_key_reaches_the_scene(everything):
    job = everything()
    scene = build_scene(job)
    psf, cam = scene.psf, scene.camera
    # optics and render
    assert (psf.wavelength_nm, psf.na, psf.immersion_index, psf.pixel_size_nm, psf.radius_px) == (612.0, 1.33, 1.52, 107.0, 5)
    assert dict(psf.global_coeffs_nm) == {5: 11.0, 6: -23.0, 11: 7.0} and psf.noll == (7,)
    assert (psf.mode, psf.oversample) == ("oversampled", 5)
    # camera
    assert (cam.kind, cam.add_noise, cam.shot_noise, cam.qe, cam.readout_noise_e, cam.e_per_adu) == \
        ("scmos", True, False, 0.83, 3.25, 2.5)
    assert (cam.baseline_adu, cam.em_gain, cam.bit_depth) == (97.0, 55.0, 12)
    with h5py.File(job.config.camera.maps_path) as f:
        assert np.array_equal(cam.offset_adu, f["offset"][()].astype(np.float32))
        assert np.array_equal(cam.gain_adu_per_e, f["gain"][()].astype(np.float32))
        assert np.array_equal(cam.variance_adu2, f["variance"][()].astype(np.float32))
    # scene
    assert scene.roi_shape == (40, 48) and scene.pixel_size_nm == 107.0 and scene.background_photons == 12.5
    # emitters: exactly the file's rows (num_emitters and area_px do not apply), flux from mu/sigma
    em = scene.emitters
    assert np.array_equal(np.column_stack([em.x_nm, em.y_nm, em.z_nm]), POSITIONS)
    assert np.all(np.abs(em.flux_photons - 4321.0) < 10 * 123.0) and np.std(em.flux_photons) > 0
    # the field-dependent coefficient at each emitter: bilinear in x (pixels) only, clamped
    x_px = POSITIONS[:, 0] / 107.0
    expected = np.clip((x_px - 5.0) / 40.0, 0.0, 1.0) * 40.0
    np.testing.assert_allclose(scene.coeffs_nm[:, 0], expected, rtol=0, atol=1e-9)
    # job-level: frames, chunks, time step
    assert job.frames == 9 and job.chunks == [(0, 4), (4, 8), (8, 9)] and job.frame_interval_s == 0.033


def test_markov_keys_reach_the_events(everything):
    """The events are exactly markov_events with the sweep's lifetime, off time and bleach probability
    (the constants of EVERYTHING, written here) on the job's "blinking" stream."""
    from kernels.photophysics import markov_events
    from kernels.rng import generator, key_words

    job = everything()
    events = build_sample(job).events
    key = key_words(123, job.seed_digest)
    expected = markov_events(generator(key, "blinking"), len(POSITIONS), 9, 1.7, 3.5, 0.25)
    for name in ("emitter", "t_on", "t_off"):
        assert np.array_equal(getattr(events, name), getattr(expected, name)), name


def test_astigmatic_and_gaussian_keys(everything):
    astig = build_scene(everything(psf="astigmatic", sigma=140.0, camera="emccd", maps="")).psf
    assert (astig.sigma0_nm, astig.focal_offset_nm, astig.depth_nm, astig.pixel_size_nm, astig.radius_px) == \
        (140.0, 310.0, 420.0, 107.0, 5)
    gauss = build_scene(everything(psf="gaussian", sigma=0.0, camera="emccd", maps="")).psf
    assert gauss.sigma_nm == 0.21 * 612.0 / 1.33  # the Airy fit, Zhang et al. 2007
    cam = build_scene(everything(psf="gaussian", camera="emccd", maps="")).camera
    assert cam.kind == "emccd" and cam.em_gain == 55.0 and cam.offset_adu is None


def test_pixel_convention_argmax_and_centroid(tmp_path, write_sweep):
    """One emitter at (x, y) = (1250, 750) nm with 100 nm pixels lies at the centre of pixel (row 7, column 12):
    the expected image peaks there and its centroid in pixel-centre coordinates ((j + 0.5) p) is (x, y)."""
    (tmp_path / "one.csv").write_text("x_nm,y_nm,z_nm\n1250,750,0\n")
    path = write_sweep("""
        [base.emitters]
        frames = 3
        lifetime_avg = 1000.0
        positions_file = "one.csv"
        intensity_sigma = 0.0
        [base.optics]
        psf = "gaussian"
        psf_radius_px = 6
        [base.camera]
        roi_size = 24
        background = 0.0
        add_noise = false
        baseline_adu = 0.0
        [base.render]
        chunk_frames = 3
    """)
    job = plan_sweep(load_sweep(path)).jobs[0]
    from kernels.render import render_chunk

    frames, truth = render_chunk(build_scene(job), 0, 3)
    frame = frames[int(np.argmax(truth["photons"]))].astype(np.float64)
    assert np.unravel_index(np.argmax(frame), frame.shape) == (7, 12)
    rows, cols = np.indices(frame.shape)
    centroid_x = ((cols + 0.5) * 100.0 * frame).sum() / frame.sum()
    centroid_y = ((rows + 0.5) * 100.0 * frame).sum() / frame.sum()
    # the patch is symmetric about the emitter: float32 rounding only
    assert abs(centroid_x - 1250.0) < 1e-3 and abs(centroid_y - 750.0) < 1e-3


def test_emitter_table_on_and_off_times(everything):
    from pipeline.exports.truth import emitter_table

    job = everything()
    sample = build_sample(job)
    table = emitter_table(sample.emitters, sample.events, job.frames)
    ev = sample.events
    for i in range(len(POSITIONS)):
        mine = ev.emitter == i
        if mine.any():
            assert table["t_on"][i] == ev.t_on[mine].min() and table["t_off"][i] == ev.t_off[mine].max()
            assert np.isfinite(table["t_off"][i]) and table["t_off"][i] > table["t_on"][i]
        else:
            assert np.isnan(table["t_on"][i]) and np.isnan(table["t_off"][i])


def test_chunk_key_hashes_first_and_last_frame():
    """design §7: key = hash(fingerprint, first frame, last frame) — the last frame, not t1."""
    from pipeline.store import chunk_key

    fp = "0123456789abcdef0123456789abcdef"
    assert chunk_key(fp, 10, 20) == hashlib.sha256(f"{fp}:10:19".encode()).hexdigest()[:32]


def test_ngff_transform_equals_the_xarray_coordinates(tmp_path, write_sweep):
    """NGFF 0.5: coordinate = scale * index + translation; must equal the pixel centres and t of xarray."""
    from pipeline.store import prepare_job, store_path

    job = plan_sweep(load_sweep(write_sweep())).jobs[0]
    prepare_job(tmp_path, job)
    attrs = json.loads((store_path(tmp_path) / job.name / "zarr.json").read_text())["attributes"]
    (dataset,) = attrs["ome"]["multiscales"][0]["datasets"]
    scale, translation = (t[k] for t, k in zip(dataset["coordinateTransformations"], ("scale", "translation")))
    pixel_um, dt = 0.1, 0.01  # the sweep's 100 nm pixels, 10 ms frames
    assert scale == [dt, pixel_um, pixel_um] and translation == [0.0, pixel_um / 2, pixel_um / 2]
    import xarray as xr

    ds = xr.open_zarr(store_path(tmp_path), group=job.name, consolidated=False)
    for axis, dim in enumerate(("t", "y", "x")):
        index = np.arange(ds.sizes[dim])
        np.testing.assert_allclose(scale[axis] * index + translation[axis], ds[dim].values, rtol=0, atol=1e-12)
