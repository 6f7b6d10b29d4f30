"""Structured, time-varying background (kernels.background) and its rendering (kernels.render).

Tolerances are 5 standard errors. Where realisations are correlated within a field (the smooth
field), the standard error comes from the spread over independent realisations; per-pixel
temporal means are tested with a chi-square over pixels using the camera's known variance.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels.background import background_map, field_autocorrelation, smooth_field, temporal_factor
from kernels.camera import Camera
from kernels.photophysics import place_emitters, single_events
from kernels.psf import GaussianPSF
from kernels.render import Scene, render_chunk, render_expected
from kernels.rng import generator, key_words

Z5 = 5.0


def lag_products(field: np.ndarray, lags) -> np.ndarray:
    """mean(f(p) f(p + r)) along x and y, for each lag r (no normalization: the process variance is 1)."""
    out = []
    for r in lags:
        x = (field[:, : field.shape[1] - r] * field[:, r:]).mean()
        y = (field[: field.shape[0] - r, :] * field[r:, :]).mean()
        out.append(0.5 * (x + y))
    return np.array(out)


def test_field_autocorrelation_is_the_documented_gaussian():
    length, lags, k = 4.0, [0, 2, 4, 8], 40
    rng = np.random.default_rng(1)
    c = np.array([lag_products(smooth_field(rng, (128, 160), length), lags) for _ in range(k)])
    mean, se = c.mean(axis=0), c.std(axis=0, ddof=1) / np.sqrt(k)
    rho = np.exp(-np.square(lags) / (2 * length**2))  # lag 0: unit variance
    assert np.all(np.abs(mean - rho) < Z5 * se), (mean, rho, se)


def test_length_scale_recovered_from_the_autocorrelation():
    # length estimate from the pooled correlation at lag r: r / sqrt(-2 ln rho(r)); jackknife SE over fields
    length, r, k = 6.0, 6, 30
    rng = np.random.default_rng(2)
    c = np.array([lag_products(smooth_field(rng, (160, 160), length), [0, r]) for _ in range(k)])

    def estimate(rows):
        m = rows.mean(axis=0)
        return r / np.sqrt(-2.0 * np.log(m[1] / m[0]))

    full = estimate(c)
    jack = np.array([estimate(np.delete(c, i, axis=0)) for i in range(k)])
    se = np.sqrt((k - 1) / k * np.sum((jack - jack.mean()) ** 2))
    assert abs(full - length) < Z5 * se, (full, se)
    assert se < 0.05 * length  # the test can tell length from length/sqrt(2) (the filter sigma)
    # the helper's normalized autocorrelation agrees with the products
    f = smooth_field(np.random.default_rng(3), (64, 64), 3.0)
    np.testing.assert_allclose(field_autocorrelation(f, 4), lag_products(f, range(5)) / lag_products(f, [0])[0])


def test_field_is_reproducible_and_validated():
    a = smooth_field(np.random.default_rng(4), (30, 50), 2.5)
    b = smooth_field(np.random.default_rng(4), (30, 50), 2.5)
    assert a.shape == (30, 50) and a.dtype == np.float64 and a.tobytes() == b.tobytes()
    with pytest.raises(ValueError):
        smooth_field(np.random.default_rng(0), (10, 10), 0.5)


def test_background_map_formula():
    field = np.array([[0.0, 1.0], [-2.0, 0.5]])
    m = background_map(50.0, (2, 2), field=field, amplitude=0.6)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, np.float32(50.0 * np.maximum(1 + 0.6 * field, 0)))
    image = np.array([[1.0, 3.0], [0.0, 4.0]])
    np.testing.assert_allclose(background_map(10.0, (2, 2), image=image), 10.0 * image / 2.0, rtol=1e-7)
    np.testing.assert_array_equal(background_map(7.0, (3, 4)), np.full((3, 4), 7.0, np.float32))
    for bad in (dict(image=-image), dict(image=np.zeros((2, 2))), dict(field=np.zeros((3, 3)))):
        with pytest.raises(ValueError):
            background_map(10.0, (2, 2), **bad)


def test_temporal_factor_bleaching_and_fluctuation():
    t = np.arange(0, 50)
    np.testing.assert_allclose(temporal_factor(t, bleach_tau_frames=20.0), np.exp(-t / 20.0), rtol=1e-15)
    np.testing.assert_array_equal(temporal_factor(t), 1.0)
    key = key_words(1, "temporal")
    frames = np.arange(4000)
    rngs = [generator(key, "background", frame=int(f)) for f in frames]
    sigma = 0.2
    f = temporal_factor(frames, fluctuation=sigma, rngs=rngs)
    logs = np.log(f)
    n = logs.size
    # log f ~ N(-sigma^2/2, sigma^2): mean and variance within 5 SE (SE of a variance: s^2 sqrt(2/(n-1)))
    assert abs(logs.mean() + sigma**2 / 2) < Z5 * sigma / np.sqrt(n)
    assert abs(logs.var(ddof=1) - sigma**2) < Z5 * sigma**2 * np.sqrt(2 / (n - 1))
    # mean 1 exactly (log-normal); SE from the sample
    assert abs(f.mean() - 1.0) < Z5 * f.std(ddof=1) / np.sqrt(n)
    # per-frame streams: any subset of frames gives the same factors
    part = temporal_factor(frames[1234:1240], fluctuation=sigma, rngs=rngs_for(key, frames[1234:1240]))
    np.testing.assert_array_equal(part, f[1234:1240])
    with pytest.raises(ValueError):
        temporal_factor(frames[:3], fluctuation=0.1)


def rngs_for(key, frames):
    return [generator(key, "background", frame=int(f)) for f in frames]


def _scene(camera, n=0, frames=200, shape=(24, 32), base=30.0, amplitude=0.4, tau=None, fluct=0.0,
           structured=True):
    key = key_words(11, "background-test")
    emitters = place_emitters(generator(key, "emitters"), n, shape, 100.0, 16.0, 0.0, 3000.0, 0.0)
    events = single_events(generator(key, "blinking"), n, frames, 3.0)
    bmap = None
    if structured:
        bmap = background_map(base, shape, smooth_field(generator(key, "background-field"), shape, 3.0), amplitude)
    return Scene(key=key, roi_shape=shape, pixel_size_nm=100.0, background_photons=base, emitters=emitters,
                 events=events, psf=GaussianPSF(sigma_nm=130.0, radius_px=4), camera=camera,
                 background_map=bmap, background_bleach_tau_frames=tau, background_fluctuation=fluct)


def test_per_pixel_temporal_mean_is_the_expected_map():
    # sCMOS, no emitters: pixel p in frame t has mean o + g·QE·map[p]·f(t) and variance
    # g²·QE·map[p]·f(t) + σ_ADU² + 1/12 (read noise of 3 ADU makes rounding's bias negligible)
    qe, s, read, base = 0.9, 0.5, 1.5, 30.0
    cam = Camera(qe=qe, e_per_adu=s, readout_noise_e=read, baseline_adu=100.0)
    frames = 300
    scene = _scene(cam, frames=frames, tau=400.0, fluct=0.1)
    movie, _ = render_chunk(scene, 0, frames)
    f = temporal_factor(np.arange(frames), 400.0, 0.1, rngs_for(scene.key, range(frames)))
    bmap = scene.background_map.astype(np.float64)
    g = 1 / s
    mean = 100.0 + g * qe * bmap * f.mean()
    var = (g**2 * qe * bmap[None] * f[:, None, None] + (read * g) ** 2 + 1 / 12).sum(axis=0) / frames**2
    chi2 = (((movie.mean(axis=0) - mean) ** 2) / var).sum()
    n = bmap.size
    assert abs(chi2 - n) < Z5 * np.sqrt(2 * n), chi2
    # the map is really structured (the test would not pass with the constant base)
    assert bmap.std() > 0.2 * base
    const = 100.0 + g * qe * base * f.mean()
    assert (((movie.mean(axis=0) - const) ** 2) / var).sum() > n + Z5 * np.sqrt(2 * n)


def test_poisson_once_per_pixel_with_map_and_spots():
    # ideal sCMOS (no read noise, 1 e/ADU, QE 1): recorded - baseline = n_e exactly, so the residual
    # (x - b - λ) has variance λ if the expected image (map + spots) is drawn through Poisson once
    cam = Camera(qe=1.0, e_per_adu=1.0, readout_noise_e=0.0, baseline_adu=100.0)
    frames = 40
    scene = _scene(cam, n=40, frames=frames, tau=100.0)
    movie, _ = render_chunk(scene, 0, frames)
    lam, _ = render_expected(scene, 0, frames)
    lam = lam.astype(np.float64)
    f = temporal_factor(np.arange(frames), 100.0)
    background = scene.background_map[None] * f.astype(np.float32)[:, None, None]  # render's float32 product
    resid2 = (movie - 100.0 - lam) ** 2
    for name, where in (("signal", lam > background + 20.0), ("background", lam == background)):
        l = lam[where]
        assert l.size > 500, name
        # E (n - λ)² = λ, Var (n - λ)² = λ + 2λ²
        assert abs(resid2[where].sum() - l.sum()) < Z5 * np.sqrt((l + 2 * l**2).sum()), name


@pytest.mark.parametrize("structured", [True, False])
def test_varying_background_renders_the_same_whatever_the_chunks(structured):
    cam = Camera(readout_noise_e=2.0)
    scene = _scene(cam, n=30, frames=12, tau=30.0, fluct=0.2, structured=structured)
    whole, truth = render_chunk(scene, 0, 12)
    parts = [render_chunk(scene, a, b) for a, b in ((0, 5), (5, 12))]
    assert np.concatenate([p[0] for p in parts]).tobytes() == whole.tobytes()
    assert np.concatenate([p[1] for p in parts]).tobytes() == truth.tobytes()
    photons, _ = render_expected(scene, 3, 4)
    f = temporal_factor([3], 30.0, 0.2, rngs_for(scene.key, [3]))[0]
    bg = scene.background_map * np.float32(f) if structured else np.float32(30.0 * f)
    assert np.count_nonzero(photons[0] == bg) > 0.5 * photons[0].size  # the background is the frame's own


def test_constant_background_with_bleaching_keeps_the_level_per_frame():
    # no map: each frame's background is the scalar base·f(t), drawn by the exact per-level table
    cam = Camera(qe=1.0, e_per_adu=1.0, readout_noise_e=2.0, baseline_adu=100.0)
    frames = 60
    scene = _scene(cam, frames=frames, shape=(64, 64), base=50.0, tau=30.0, structured=False)
    movie, _ = render_chunk(scene, 0, frames)
    f = temporal_factor(np.arange(frames), 30.0)
    per_frame = movie.reshape(frames, -1).astype(np.float64)
    mean = 100.0 + 50.0 * f
    var = 50.0 * f + 4.0 + 1 / 12
    z = (per_frame.mean(axis=1) - mean) / np.sqrt(var / per_frame.shape[1])
    assert np.all(np.abs(z) < Z5), z
