"""Illumination, structured background, camera defects and the new photophysics through the sweep file
(issue: realism): each key reaches the kernels, and the frames follow the configured model. The kernels'
own statistics are in tests/test_illumination.py, test_background.py, test_defects.py, test_photophysics.py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import reference_movie, run_module
from kernels.background import background_map, smooth_field, temporal_factor
from kernels.defects import defect_maps
from kernels.photophysics import four_state_events, paint_events
from kernels.render import render_chunk
from kernels.rng import generator, key_words
from pipeline.config import load_sweep
from pipeline.plan import plan_sweep
from pipeline.scene import build_sample, build_scene

BASE = """
[sweep]
name = "realism"
seed = 21

[base.emitters]
num_emitters = {emitters}
frames = {frames}
area_px = 64.0
intensity_mu = 2000.0
intensity_sigma = 200.0
z_range_um = 0.0
{emitter_keys}

[base.optics]
psf = "gaussian"
psf_radius_px = 4

[base.camera]
roi_size = 64
background = 30.0
readout_noise = 2.0
e_per_adu = 1.0
baseline_adu = 100.0
{camera_keys}

[base.render]
chunk_frames = 10
"""


def _text(extra: str = "", emitters: int = 0, frames: int = 20, emitter_keys: str = "", camera_keys: str = "") -> str:
    return BASE.format(emitters=emitters, frames=frames, emitter_keys=emitter_keys, camera_keys=camera_keys) + extra


def _job(tmp_path, extra: str, emitters: int = 0, frames: int = 20, emitter_keys: str = ""):
    path = tmp_path / "sweep.toml"
    path.write_text(_text(extra, emitters, frames, emitter_keys))
    (job,) = plan_sweep(load_sweep(path)).jobs
    return job


def _key(job):
    return key_words(job.sweep_seed, job.seed_digest)


def test_fully_on_photons_follow_the_gaussian_beam(tmp_path):
    """Mean photons of fully-on emitters vs radius = intensity_mu x the profile, within 5 standard errors."""
    waist = 2500.0
    job = _job(tmp_path, f'\n[base.illumination]\nprofile = "gaussian"\nwaist_nm = {waist}\n', emitters=4000, frames=30)
    _, truth = reference_movie(job)
    on = truth[truth["on_fraction"] == 1.0]
    r = np.hypot(on["x_nm"] - 3200.0, on["y_nm"] - 3200.0)  # the ROI centre is the default beam centre
    edges = np.linspace(0, 4000, 9)
    which = np.digitize(r, edges) - 1
    for b in range(len(edges) - 1):
        rows = which == b
        profile = np.exp(-2 * r[rows] ** 2 / waist**2)
        # photons = flux x profile, flux ~ N(2000, 200) per emitter: expected mean and its standard error
        expected = 2000.0 * profile.mean()
        se = np.sqrt(200.0**2 * (profile**2).mean() / rows.sum() + 2000.0**2 * profile.var() / rows.sum())
        assert abs(on["photons"][rows].mean() - expected) < 5 * se, (b, on["photons"][rows].mean(), expected, se)
    sample = build_sample(job)
    np.testing.assert_allclose(sample.illumination, np.exp(-2 * ((sample.emitters.x_nm - 3200) ** 2 +
                                                                   (sample.emitters.y_nm - 3200) ** 2) / waist**2))


def test_flat_illumination_is_the_default_and_changes_nothing(tmp_path):
    plain = _job(tmp_path, "", emitters=50)
    flat = _job(tmp_path, '\n[base.illumination]\nprofile = "flat"\n', emitters=50)
    assert plain.fingerprint == flat.fingerprint
    assert build_sample(plain).illumination is None


def test_activation_scales_with_the_intensity(tmp_path):
    """illumination.activation: the emitter's mean off-time is divided by its intensity (kernel's stream)."""
    job = _job(tmp_path, '\n[base.illumination]\nprofile = "gaussian"\nwaist_nm = 3000.0\nactivation = true\n',
               emitters=30, emitter_keys='blinking = "markov"\noff_time_avg = 20.0')
    sample = build_sample(job)
    from kernels.photophysics import markov_events

    want = markov_events(generator(_key(job), "blinking"), len(sample.emitters), job.frames, 2.5, 20.0, 0.0,
                         activation_scale=sample.illumination)
    np.testing.assert_array_equal(sample.events.t_on, want.t_on)
    np.testing.assert_array_equal(sample.events.emitter, want.emitter)


def test_four_state_and_paint_keys_reach_the_kernels(tmp_path):
    job = _job(tmp_path, "", emitters=40, emitter_keys='blinking = "four-state"\nlifetime_avg = 3.0\n'
                                                      'dark_time_avg = 2.0\nbleach_time_avg = 1.25\nlead_in_frames = 20.0')
    want = four_state_events(generator(_key(job), "blinking"), 40, job.frames, 3.0, None, 2.0, 1.25, lead_in_frames=20.0)
    np.testing.assert_array_equal(build_sample(job).events.t_off, want.t_off)
    job = _job(tmp_path, "", emitters=40, emitter_keys='blinking = "paint"\nbinding_rate_per_s = 0.5\nbound_time_s = 0.04')
    want = paint_events(generator(_key(job), "blinking"), 40, job.frames, 0.5, 0.04, 10.0)
    np.testing.assert_array_equal(build_sample(job).events.t_on, want.t_on)


def test_background_pixels_average_to_the_configured_map(tmp_path):
    """No emitters: every pixel's temporal mean is baseline + map x factor (chi-square over the pixels), and its
    variance is the Poisson one plus read noise (one Poisson draw per pixel: variance = mean)."""
    frames = 400
    job = _job(tmp_path, "\n[base.background]\nfield_amplitude = 0.4\nfield_length_px = 6.0\nbleach_tau_frames = 300.0\n",
               frames=frames)
    scene = build_scene(job)
    movie = np.concatenate([render_chunk(scene, t0, t1)[0] for t0, t1 in job.chunks]).astype(np.float64)
    field = smooth_field(generator(_key(job), "background-field"), (64, 64), 6.0)
    expected_map = background_map(30.0, (64, 64), field, 0.4)
    np.testing.assert_array_equal(scene.background_map, expected_map)
    factor = temporal_factor(np.arange(frames), 300.0)
    rate = expected_map[None].astype(np.float64) * factor[:, None, None]  # photons per pixel per frame, QE 1
    mean = rate.mean(axis=0)
    variance = rate.mean(axis=0) + 2.0**2 + 1 / 12  # Poisson + read noise + rounding, e_per_adu 1
    z = (movie.mean(axis=0) - 100.0 - mean) / np.sqrt(variance / frames)
    n = z.size
    assert abs((z**2).sum() - n) < 5 * np.sqrt(2 * n)
    # the temporal variance about each pixel's own mean course: ratio to the model ~1 within its standard error
    resid = movie - 100.0 - rate
    ratio = (resid**2).mean(axis=0) / (rate + 4.0 + 1 / 12).mean(axis=0)
    assert abs(ratio.mean() - 1) < 5 * np.sqrt(2 / frames / n)


def test_defect_maps_reach_the_camera_and_calibration_file(tmp_path, cli):
    text = _text('\n[base.background]\nfield_amplitude = 0.2\n[base.illumination]\nprofile = "flat-top"\nwaist_nm = 3000.0\n',
                 emitters=20, frames=12, camera_keys='type = "emccd"\ncic_probability = 0.01\nhot_fraction = 0.02\n'
                 'hot_dark_e = 50.0\ndead_fraction = 0.01\ndsnu_adu = 2.0\nprnu = 0.02\nfull_well_e = 20000.0')
    (tmp_path / "sweep.toml").write_text(text.replace("[base.emitters]", "[cluster]\nworkers = 1\n\n[base.emitters]"))
    proc = run_module("run", tmp_path / "sweep.toml", "--output", tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (job,) = plan_sweep(load_sweep(tmp_path / "sweep.toml")).jobs
    maps = defect_maps(generator(_key(job), "defects"), (64, 64), 0.02, 50.0, 0.01, 2.0, 0.02)
    camera = build_scene(job).camera
    assert camera.cic_probability == 0.01 and camera.full_well_e == 20000.0
    for name in ("dark_e", "dsnu_adu", "response"):
        np.testing.assert_array_equal(getattr(camera, name), maps[name])
    with h5py.File(tmp_path / "out" / "jobs" / job.name / "calibration.h5", "r") as f:
        for name in ("hot", "dead", "dark_e", "dsnu_adu", "response"):
            np.testing.assert_array_equal(f[name][()], maps[name])
        assert f["dsnu_adu"].attrs["units"] == "ADU"
        illumination = f["illumination"][()]
    x = (np.arange(64) + 0.5) * 100.0 - 3200.0
    r2 = x[None, :] ** 2 + x[:, None] ** 2
    np.testing.assert_allclose(illumination, np.exp(-2 * (r2 / 3000.0**2) ** 4))
    code, out, err = cli("verify", tmp_path / "out")
    assert code == 0, out + err
    # a damaged calibration file is found by verify
    path = tmp_path / "out" / "jobs" / job.name / "calibration.h5"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    code, out, err = cli("verify", tmp_path / "out")
    assert code != 0 and "calibration.h5 differs from the checksum" in out + err


def test_hot_pixels_alone_add_no_offset_pattern_per_frame(tmp_path):
    """Without dsnu_adu the all-zero offset map is not handed to the camera (a dense pass per frame for nothing)."""
    path = tmp_path / "sweep.toml"
    path.write_text(_text(camera_keys="hot_fraction = 0.01\nhot_dark_e = 50.0"))
    camera = build_scene(plan_sweep(load_sweep(path)).jobs[0]).camera
    assert camera.dsnu_adu is None and camera.dark_e is not None and camera._defect_index.size > 0


@pytest.mark.parametrize("snippet,camera_keys,message", [
    ('[base.illumination]\nprofile = "gaussian"', "", 'profile = "gaussian" needs waist_nm'),
    ('[base.illumination]\nprofile = "sigmoid"\nhalf_max_radius_nm = 5.0\nquarter_max_radius_nm = 4.0', "",
     "quarter_max_radius_nm = 4 must exceed half_max_radius_nm = 5"),
    ("", "cic_probability = 0.1", 'cic_probability applies to type = "emccd" only'),
    ("", "hot_dark_e = 3.0", "hot_dark_e needs hot_fraction > 0"),
    ("", "hot_fraction = 0.7\ndead_fraction = 0.5", "hot_fraction + dead_fraction = 1.2 exceeds 1"),
    ('[base.illumination]\nactivation = true\nprofile = "gaussian"\nwaist_nm = 10.0', "",
     'illumination.activation needs emitters.blinking = "markov" or "four-state"'),
    ('[base.render]\ncrlb = true\n[base.background]\nfield_amplitude = 0.1', "", "render.crlb assumes a uniform background"),
])
def test_inconsistent_realism_keys_are_refused(snippet, camera_keys, message, cli, tmp_path):
    text = _text("\n" + snippet + "\n", emitters=5, frames=4, camera_keys=camera_keys)
    (tmp_path / "sweep.toml").write_text(text.replace("[base.render]\nchunk_frames = 10\n", "") if "render" in snippet
                                         else text)
    code, out, err = cli("plan", tmp_path / "sweep.toml")
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
