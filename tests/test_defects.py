"""Camera defects (kernels.defects + the hooks in kernels.camera): maps, CIC, saturation.

Tolerances are 5 standard errors: binomial for fractions, sigma/sqrt(2n) for standard deviations
of normal samples, chi-square over pixels or bins against the documented distributions.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kernels.camera import Camera, _table_applies, expose, expose_sparse
from kernels.defects import cic_cdf, cic_electrons, cic_mean_e, defect_maps, stage_gain

Z5 = 5.0
CHI2_P = 5.7e-7  # two-sided 5-sigma normal tail


def test_defect_map_fractions_and_stds():
    shape = (300, 400)
    n = shape[0] * shape[1]
    m = defect_maps(np.random.default_rng(1), shape, hot_fraction=0.01, hot_dark_e=25.0, dead_fraction=0.004,
                    dsnu_adu=1.7, prnu=0.02)
    for name, p in (("hot", 0.01), ("dead", 0.004)):
        k = np.count_nonzero(m[name])
        assert abs(k / n - p) < Z5 * np.sqrt(p * (1 - p) / n), name
    assert not np.any(m["hot"] & m["dead"])
    np.testing.assert_array_equal(m["dark_e"], np.where(m["hot"], 25.0, 0.0).astype(np.float32))
    assert np.all(m["response"][m["dead"]] == 0)
    live = m["response"][~m["dead"]].astype(np.float64)
    for values, sd, mean in ((m["dsnu_adu"].astype(np.float64).ravel(), 1.7, 0.0), (live, 0.02, 1.0)):
        assert abs(values.mean() - mean) < Z5 * sd / np.sqrt(values.size)
        assert abs(values.std(ddof=1) - sd) < Z5 * sd / np.sqrt(2 * (values.size - 1))
    assert all(m[k].shape == shape for k in m) and m["dsnu_adu"].dtype == np.float32
    off = defect_maps(np.random.default_rng(1), shape)
    assert not off["hot"].any() and not off["dead"].any()
    assert np.all(off["response"] == 1) and np.all(off["dsnu_adu"] == 0) and np.all(off["dark_e"] == 0)


def test_neutral_maps_change_no_byte():
    # maps that hold no defect: same frames as without them, on the table path and the full chain
    shape = (40, 50)
    lam = np.full(shape, 20.0, np.float32)
    lam[10:14, 20:25] = 300.0
    neutral = dict(dark_e=np.zeros(shape), response=np.ones(shape), dsnu_adu=np.zeros(shape))
    for kind in ("scmos", "emccd"):
        plain, maps = Camera(kind=kind, readout_noise_e=3.0), Camera(kind=kind, readout_noise_e=3.0, **neutral)
        for bg in (None, 20.0):
            a = expose(plain, lam, np.random.default_rng(2), background=bg)
            b = expose(maps, lam, np.random.default_rng(2), background=bg)
            assert a.tobytes() == b.tobytes(), (kind, bg)
    assert _table_applies(Camera(**neutral), 20.0)


def frames_of(camera, lam, n, background=None, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([expose(camera, lam, rng, background=background) for _ in range(n)]).astype(np.float64)


@pytest.mark.parametrize("background", [None, 30.0])  # full chain / table path with the defects in the chain
def test_hot_and_dead_pixels_in_frames(background):
    shape, qe, s, read = (64, 64), 0.8, 0.5, 1.2
    maps = defect_maps(np.random.default_rng(3), shape, hot_fraction=0.02, hot_dark_e=40.0, dead_fraction=0.02)
    cam = Camera(qe=qe, e_per_adu=s, readout_noise_e=read, baseline_adu=100.0,
                 dark_e=maps["dark_e"], response=maps["response"])
    assert _table_applies(cam, 30.0)  # sparse defects keep the fast path for the other pixels
    lam = np.full(shape, 30.0, np.float32)
    movie = frames_of(cam, lam, 200, background)
    g, n = 1 / s, movie.shape[0]
    mean_e = qe * 30.0 * maps["response"] + maps["dark_e"]
    want = 100.0 + g * mean_e
    var = g**2 * mean_e + (read * g) ** 2 + 1 / 12
    for name, where in (("hot", maps["hot"]), ("dead", maps["dead"]), ("normal", ~(maps["hot"] | maps["dead"]))):
        chi2 = (((movie.mean(axis=0)[where] - want[where]) ** 2) / (var[where] / n)).sum()
        k = np.count_nonzero(where)
        assert abs(chi2 - k) < Z5 * np.sqrt(2 * k), (name, chi2, k)
    # dead pixels: the baseline whatever the light
    assert abs(movie[:, maps["dead"]].mean() - 100.0) < Z5 * np.sqrt(var[maps["dead"]][0] / movie[:, maps["dead"]].size)


def test_sparse_path_equals_full_image_with_defects():
    shape = (32, 48)
    maps = defect_maps(np.random.default_rng(4), shape, hot_fraction=0.03, hot_dark_e=10.0, dead_fraction=0.01)
    cam = Camera(readout_noise_e=2.0, dark_e=maps["dark_e"], response=maps["response"])
    lam = np.full(shape, 15.0, np.float32)
    index = np.array([5, 77, 300, 301, 900])
    lam.reshape(-1)[index] = [40.0, 100.0, 15.5, 1e3, 60.0]
    a = expose(cam, lam, np.random.default_rng(5), background=15.0)
    b = expose_sparse(cam, shape, np.random.default_rng(5), 15.0, index, lam.reshape(-1)[index])
    assert a.tobytes() == b.tobytes()


def test_dsnu_and_prnu_per_pixel_means():
    # dense maps: every pixel through the chain; mean = b + dsnu + g·QE·λ·response
    shape, qe, s, read, lam0 = (48, 48), 0.9, 2.0, 3.0, 200.0
    maps = defect_maps(np.random.default_rng(6), shape, dsnu_adu=2.0, prnu=0.05)
    cam = Camera(qe=qe, e_per_adu=s, readout_noise_e=read, baseline_adu=100.0,
                 dsnu_adu=maps["dsnu_adu"], response=maps["response"])
    assert not _table_applies(cam, lam0)
    movie = frames_of(cam, np.full(shape, lam0, np.float32), 100, background=lam0)
    g, n = 1 / s, movie.shape[0]
    mean_e = qe * lam0 * maps["response"].astype(np.float64)
    want = 100.0 + maps["dsnu_adu"] + g * mean_e
    var = g**2 * mean_e + (read * g) ** 2 + 1 / 12
    chi2 = (((movie.mean(axis=0) - want) ** 2) / (var / n)).sum()
    k = want.size
    assert abs(chi2 - k) < Z5 * np.sqrt(2 * k), chi2
    # without the patterns the same movie is far off (the test sees them)
    flat = 100.0 + g * qe * lam0
    assert (((movie.mean(axis=0) - flat) ** 2) / (var / n)).sum() > k + Z5 * np.sqrt(2 * k)


def test_stage_gain_and_cic_mean():
    G, N = 300.0, 536
    g = stage_gain(G, N)
    q = G ** (1 / N) - 1
    np.testing.assert_allclose(g, (1 + q) ** np.arange(1, N + 1), rtol=1e-12)
    assert g[-1] == pytest.approx(G, rel=1e-12)
    # geometric series: (1/N) Σ (1+q)^m = (1+q)((1+q)^N - 1) / (N q)
    assert cic_mean_e(G, N) == pytest.approx((1 + q) * (G - 1) / (N * q), rel=1e-12)


def test_cic_events_rate_and_partial_gain_distribution():
    G, N, p = 300.0, 536, 0.002
    rng = np.random.default_rng(7)
    n_pix, frames = 512 * 512, 40
    counts, outputs = [], []
    for _ in range(frames):
        index, e = cic_electrons(rng, n_pix, p, G, N)
        assert np.all(np.diff(index) > 0) and index.min() >= 0 and index.max() < n_pix
        counts.append(index.size)
        outputs.append(e)
    k, n = sum(counts), n_pix * frames
    assert abs(k / n - p) < Z5 * np.sqrt(p * (1 - p) / n)
    x = np.concatenate(outputs).astype(np.float64)
    assert np.all(x >= 1) and np.all(x == np.round(x))
    chi2_against(x, lambda v: cic_cdf(v, G, N))
    # full gain for every event (no partial amplification) is rejected by the same test
    full = np.random.default_rng(8).geometric(1 / G, size=x.size).astype(np.float64)
    with pytest.raises(AssertionError):
        chi2_against(full, lambda v: cic_cdf(v, G, N))


def chi2_against(x, cdf):
    """Chi-square of integer samples x >= 1 against a CDF, on bins with >= 20 expected counts."""
    edges = np.unique(np.round(np.geomspace(1, x.max() + 2, 40)))  # bins [e_i, e_{i+1})
    prob = np.diff(np.concatenate([[0.0], cdf(edges[1:-1] - 1), [1.0]]))
    obs = np.histogram(x, bins=np.concatenate([[1], edges[1:-1], [np.inf]]))[0]
    exp = prob * x.size
    # pool bins from the top until every expected count >= 20
    o, e = list(obs), list(exp)
    i = len(e) - 1
    while i > 0:
        if e[i] < 20:
            e[i - 1] += e.pop(i)
            o[i - 1] += o.pop(i)
        i -= 1
    o, e = np.array(o), np.array(e)
    chi2 = ((o - e) ** 2 / e).sum()
    assert stats.chi2.sf(chi2, len(e) - 1) > CHI2_P, (chi2, len(e))


def test_cic_in_zero_photon_emccd_frames():
    # no read noise, 1 e/ADU: recorded - baseline = the CIC electrons exactly (>= 1 where an event is)
    G, N, p = 300.0, 536, 0.002
    cam = Camera(kind="emccd", em_gain=G, readout_noise_e=0.0, e_per_adu=1.0, baseline_adu=100.0,
                 cic_probability=p, em_stages=N)
    movie = frames_of(cam, np.zeros((256, 256), np.float32), 60)
    spurious = movie - 100.0
    x = spurious[spurious > 0]
    n = spurious.size
    assert abs(x.size / n - p) < Z5 * np.sqrt(p * (1 - p) / n)
    chi2_against(x, lambda v: cic_cdf(v, G, N))
    # without CIC: exactly the baseline
    assert np.all(frames_of(Camera(kind="emccd", readout_noise_e=0.0, e_per_adu=1.0), np.zeros((16, 16), np.float32), 3) == 100)


def test_full_well_clips_on_both_paths():
    # full chain: λ far above the well, no read noise -> every pixel at the well
    cam = Camera(readout_noise_e=0.0, e_per_adu=1.0, baseline_adu=100.0, full_well_e=1000.0)
    np.testing.assert_array_equal(expose(cam, np.full((32, 32), 5000.0, np.float32), np.random.default_rng(9)), 1100)
    # table path at λ = well: P(value = 1100) = P(Poisson(1000) >= 1000), nothing above
    assert _table_applies(cam, 1000.0)
    img = expose(cam, np.full((256, 256), 1000.0, np.float32), np.random.default_rng(10), background=1000.0)
    assert img.max() == 1100
    p = stats.poisson.sf(999, 1000.0)
    k, n = np.count_nonzero(img == 1100), img.size
    assert abs(k / n - p) < Z5 * np.sqrt(p * (1 - p) / n)
    # EMCCD: the well limits the charge before the register (mean = G · well)
    em = Camera(kind="emccd", em_gain=100.0, readout_noise_e=0.0, e_per_adu=50.0, baseline_adu=100.0, full_well_e=50.0)
    v = expose(em, np.full((128, 128), 400.0, np.float32), np.random.default_rng(11)).astype(np.float64)
    # Gamma(50, 100)/50 ADU: mean 100, var 50·100²/50² = 200 (+1/12)
    assert abs(v.mean() - 200.0) < Z5 * np.sqrt((200 + 1 / 12) / v.size)


def test_adc_limit_clips_with_defects():
    maps = defect_maps(np.random.default_rng(12), (32, 32), hot_fraction=0.1, hot_dark_e=1e5, dsnu_adu=5.0)
    cam = Camera(bit_depth=12, dark_e=maps["dark_e"], dsnu_adu=maps["dsnu_adu"])
    img = expose(cam, np.full((32, 32), 10.0, np.float32), np.random.default_rng(13), background=10.0)
    assert img.max() == 4095 and np.all(img[maps["hot"]] == 4095)


def test_validation():
    for bad in (dict(cic_probability=1.5), dict(em_stages=0), dict(full_well_e=0.0),
                dict(response=-np.ones((2, 2))), dict(dark_e=np.full((2, 2), -1.0)),
                dict(dark_e=np.zeros((2, 2)), dsnu_adu=np.zeros((3, 3)))):
        with pytest.raises(ValueError):
            Camera(**bad)
    with pytest.raises(ValueError):
        defect_maps(np.random.default_rng(0), (4, 4), hot_fraction=0.7, dead_fraction=0.5)
