"""Chunk render (kernels only): determinism across splits, ground truth consistency, expected image."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.camera import Camera, expose
from kernels.photophysics import markov_events, place_emitters, single_events, total_photons
from kernels.psf import GaussianPSF, ZernikePSF
from kernels.render import Scene, render_chunk, render_expected
from kernels.rng import generator, key_words


def _scene(psf, camera, blinking="single", frames=10, n=60, area_px=40.0):
    key = key_words(5, "render-test")
    emitters = place_emitters(generator(key, "emitters"), n, (40, 48), 100.0, area_px, 0.6, 2000.0, 300.0)
    rng = generator(key, "blinking")
    events = (single_events(rng, n, frames, 2.5) if blinking == "single"
              else markov_events(rng, n, frames, 1.5, 4.0, 0.1))
    coeffs = None
    if getattr(psf, "noll", ()):
        coeffs = np.column_stack([emitters.x_nm / 100.0, -emitters.y_nm / 200.0])  # a smooth "field"
    return Scene(key=key, roi_shape=(40, 48), pixel_size_nm=100.0, background_photons=20.0, emitters=emitters,
                 events=events, psf=psf, camera=camera, coeffs_nm=coeffs)


SCENES = {
    "gaussian-scmos-single": lambda: _scene(GaussianPSF(sigma_nm=130.0, radius_px=5), Camera(readout_noise_e=2.0)),
    "zernike-field-scmos-markov": lambda: _scene(
        ZernikePSF(wavelength_nm=670.0, na=1.4, immersion_index=1.518, radius_px=6, noll=(5, 6),
                   global_coeffs_nm=((11, 20.0),)), Camera(readout_noise_e=1.5, e_per_adu=0.5), "markov"),
    "gaussian-emccd": lambda: _scene(GaussianPSF(sigma_nm=130.0, radius_px=5), Camera(kind="emccd", e_per_adu=45.0)),
    "gaussian-expected": lambda: _scene(GaussianPSF(sigma_nm=130.0, radius_px=5), Camera(add_noise=False)),
}


@pytest.mark.parametrize("name", sorted(SCENES))
def test_split_render_is_bitwise_identical(name):
    scene = SCENES[name]()
    whole, truth = render_chunk(scene, 0, 10)
    parts = [render_chunk(scene, a, b) for a, b in ((0, 3), (3, 10))]
    assert np.concatenate([p[0] for p in parts]).tobytes() == whole.tobytes()
    assert np.concatenate([p[1] for p in parts]).tobytes() == truth.tobytes()
    single = [render_chunk(scene, f, f + 1)[0] for f in range(10)]
    assert np.concatenate(single).tobytes() == whole.tobytes()
    assert whole.dtype == (np.float32 if name.endswith("expected") else np.uint16)


@pytest.mark.parametrize("name", [n for n in sorted(SCENES) if not n.endswith("expected")])
def test_chunk_is_the_camera_on_the_expected_image(name):
    """render_chunk materializes only the lit pixels; the frames are those of the whole expected image."""
    scene = SCENES[name]()
    frames, _ = render_chunk(scene, 2, 7)
    photons, _ = render_expected(scene, 2, 7)
    for i, frame in enumerate(range(2, 7)):
        want = expose(scene.camera, photons[i], generator(scene.key, "camera", frame=frame),
                      background=scene.background_photons)
        assert frames[i].tobytes() == want.tobytes()


def test_expected_image_holds_background_plus_patches():
    # emitters at most 10 px from the centre, patches of radius 5: every patch lies inside the frame
    scene = _scene(GaussianPSF(sigma_nm=130.0, radius_px=5), Camera(), area_px=20.0)
    photons, truth = render_expected(scene, 0, 10)
    assert photons.dtype == np.float32 and photons.shape == (10, 40, 48)
    # every emitted photon lands in the frame (patches inside the ROI) up to the patch truncation
    for f in range(10):
        rows = truth[truth["frame"] == f]
        # each emitter's truncated patch mass (depends on its sub-pixel position)
        mass = scene.psf.render(rows["x_nm"] / 100.0, rows["y_nm"] / 100.0).values.sum(axis=(1, 2), dtype=np.float64)
        signal = photons[f].sum(dtype=np.float64) - 20.0 * 40 * 48
        # float32 pixels of ~20-2000 photons: rounding ~1e-7 relative per addition
        assert signal == pytest.approx((rows["photons"] * mass).sum(), rel=1e-5)
    assert len(truth) > 20


def test_truth_rows_sum_to_total_photons():
    scene = SCENES["zernike-field-scmos-markov"]()
    truth = np.concatenate([render_chunk(scene, a, a + 5)[1] for a in (0, 5)])
    per_emitter = np.bincount(truth["id"], weights=truth["photons"], minlength=len(scene.emitters))
    expected = total_photons(scene.events, scene.emitters.flux_photons, 10)
    np.testing.assert_allclose(per_emitter, expected, rtol=1e-12, atol=1e-9)
    assert np.all((truth["on_fraction"] > 0) & (truth["on_fraction"] <= 1))
    np.testing.assert_array_equal(truth["x_nm"], scene.emitters.x_nm[truth["id"]])
