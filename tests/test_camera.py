"""Camera models (kernels.camera): moments per pixel, clipping, maps, exact low-count law.

Moments are checked on frames of constant expected photons (every pixel an independent draw):
means within 5 standard errors (s/sqrt(n)); sample variances within 5 standard errors of the
sample variance, SE = sqrt((m4 - s^4)/n) (= s^2 sqrt(2/(n-1)) for Gaussian data, physics.md).
"""

import numpy as np
import pytest
from scipy import stats

from kernels.camera import Camera, expected_adu, expose

Z5 = 5.0
SHAPE = (256, 256)  # 65536 pixels per frame


def check_moments(img, mean, var, what=""):
    x = np.asarray(img, dtype=np.float64).ravel()
    n = x.size
    m, s2 = x.mean(), x.var(ddof=1)
    se_mean = np.sqrt(s2 / n)
    m4 = np.mean((x - m) ** 4)
    se_var = np.sqrt(max(m4 - s2**2, 0.0) / n)
    assert abs(m - mean) < Z5 * se_mean, f"{what} mean {m} vs {mean} (se {se_mean})"
    assert abs(s2 - var) < Z5 * se_var, f"{what} var {s2} vs {var} (se {se_var})"


def lam_img(value, shape=SHAPE):
    return np.full(shape, value, dtype=np.float32)


def test_scmos_moments():
    cam = Camera(kind="scmos", qe=0.9, readout_noise_e=1.6, e_per_adu=0.5, baseline_adu=100.0)
    lam = 100.0
    img = expose(cam, lam_img(lam), np.random.default_rng(1))
    assert img.dtype == np.uint16 and img.shape == SHAPE
    g, lam_e, s_adu2 = 1 / 0.5, 0.9 * lam, (1.6 / 0.5) ** 2
    check_moments(img, 100.0 + g * lam_e, g**2 * lam_e + s_adu2 + 1 / 12, "scmos")


def test_rounding_adds_one_twelfth():
    # no shot noise, 1 ADU read noise: var = 1 + 1/12; the 1/12 is ~14 standard errors here
    cam = Camera(kind="scmos", shot_noise=False, readout_noise_e=1.0, e_per_adu=1.0,
                 baseline_adu=100.0)
    img = expose(cam, lam_img(37.3), np.random.default_rng(2))
    check_moments(img, 137.3, 1.0 + 1 / 12, "rounded read noise")


@pytest.mark.parametrize("qe", [1.0, 0.8])
def test_emccd_excess_noise(qe):
    G, s, read, lam = 100.0, 10.0, 50.0, 20.0 / qe
    cam = Camera(kind="emccd", qe=qe, em_gain=G, e_per_adu=s, readout_noise_e=read,
                 baseline_adu=100.0)
    img = expose(cam, lam_img(lam), np.random.default_rng(3))
    lam_e = qe * lam
    # var_e = 2 G^2 lam (excess noise factor sqrt 2), physics.md
    check_moments(img, 100.0 + G * lam_e / s, (2 * G**2 * lam_e + read**2) / s**2 + 1 / 12, "emccd")


def test_emccd_zero_electrons_stay_zero():
    cam = Camera(kind="emccd", em_gain=300.0, readout_noise_e=0.0, e_per_adu=1.0,
                 baseline_adu=100.0)
    img = expose(cam, lam_img(0.0), np.random.default_rng(4))
    np.testing.assert_array_equal(img, 100)


def test_clipping_both_ends():
    cam = Camera(kind="scmos", bit_depth=12, readout_noise_e=5.0, baseline_adu=100.0)
    hi = expose(cam, lam_img(1e6, (64, 64)), np.random.default_rng(5))
    np.testing.assert_array_equal(hi, 4095)
    cam0 = Camera(kind="scmos", readout_noise_e=5.0, baseline_adu=0.0)
    lo = expose(cam0, lam_img(0.0), np.random.default_rng(6))
    assert lo.min() == 0 and lo.dtype == np.uint16
    # everything below +0.5 ADU rounds/clips to 0: P = Phi(0.5/5)
    p = stats.norm.cdf(0.5 / 5.0)
    k, n = np.count_nonzero(lo == 0), lo.size
    assert abs(k / n - p) < Z5 * np.sqrt(p * (1 - p) / n)
    cam8 = Camera(kind="emccd", bit_depth=8, em_gain=300.0)
    assert expose(cam8, lam_img(100.0, (8, 8)), np.random.default_rng(7)).max() == 255


def test_scmos_maps_per_pixel():
    # four quadrants with their own offset, gain and read-noise variance (and photon level)
    h = 128
    offs, gains, vars_, lams = [100.0, 300.0, 50.0, 1000.0], [0.5, 2.0, 1.0, 4.0], \
        [4.0, 25.0, 0.5, 100.0], [80.0, 20.0, 200.0, 5.0]
    offset, gain, var, lam = (np.zeros((2 * h, 2 * h), np.float32) for _ in range(4))
    quads = [(slice(0, h), slice(0, h)), (slice(0, h), slice(h, None)),
             (slice(h, None), slice(0, h)), (slice(h, None), slice(h, None))]
    for q, o, g, v, l in zip(quads, offs, gains, vars_, lams):
        offset[q], gain[q], var[q], lam[q] = o, g, v, l
    cam = Camera(kind="scmos", qe=0.9, offset_adu=offset, gain_adu_per_e=gain, variance_adu2=var,
                 baseline_adu=-1e3, e_per_adu=123.0, readout_noise_e=99.0)  # scalars overridden
    img = expose(cam, lam, np.random.default_rng(8))
    for q, o, g, v, l in zip(quads, offs, gains, vars_, lams):
        check_moments(img[q], o + g * 0.9 * l, g**2 * 0.9 * l + v + 1 / 12, f"quadrant {o}")
    np.testing.assert_allclose(expected_adu(cam, lam), offset + gain * 0.9 * lam, rtol=1e-6)
    with pytest.raises(ValueError):
        expose(cam, lam_img(1.0, (8, 8)), np.random.default_rng(0))
    with pytest.raises(ValueError):
        Camera(kind="emccd", offset_adu=offset)


def test_poisson_chi2_low_counts():
    # lam = 0.5, no read noise, 1 e/ADU, baseline 0: the output is exactly Poisson(0.5)
    cam = Camera(kind="scmos", readout_noise_e=0.0, e_per_adu=1.0, baseline_adu=0.0)
    img = expose(cam, lam_img(0.5), np.random.default_rng(9)).ravel()
    n = img.size
    kmax = 5  # bins 0..4 and a pooled tail >= 5: every expected count >= 5
    obs = np.array([np.count_nonzero(img == k) for k in range(kmax)] + [np.count_nonzero(img >= kmax)])
    pmf = stats.poisson.pmf(np.arange(kmax), 0.5)
    exp = n * np.append(pmf, 1 - pmf.sum())
    assert exp.min() >= 5
    chi2 = ((obs - exp) ** 2 / exp).sum()
    # reject only at the 5-sigma level (two-sided normal tail 5.7e-7)
    assert stats.chi2.sf(chi2, df=len(obs) - 1) > 5.7e-7, (obs, exp)


def test_add_noise_false_is_expected_adu():
    lam = np.random.default_rng(10).uniform(0, 500, (50, 60)).astype(np.float32)
    for kind, G in (("scmos", 1.0), ("emccd", 300.0), ("ideal", 1.0)):
        cam = Camera(kind=kind, add_noise=False, qe=0.7, e_per_adu=2.5, baseline_adu=100.0,
                     em_gain=300.0)
        r = np.random.default_rng(11)
        state = r.bit_generator.state
        out = expose(cam, lam, r)
        assert out.dtype == np.float32 and cam.output_dtype == np.float32
        assert r.bit_generator.state == state  # no randomness consumed
        assert out.tobytes() == expected_adu(cam, lam).tobytes()
        ref = 100.0 + 0.7 * G * lam.astype(np.float64) / 2.5
        # float32: a few ulps of rounding in the multiply and add
        np.testing.assert_allclose(out, ref, rtol=4 * np.finfo(np.float32).eps)


def test_ideal_deterministic():
    lam = np.random.default_rng(12).uniform(0, 70000, (40, 40)).astype(np.float32)
    cam = Camera(kind="ideal", qe=0.9, e_per_adu=1.0, baseline_adu=100.0)
    a = expose(cam, lam, np.random.default_rng(1))
    b = expose(cam, lam, np.random.default_rng(2))
    assert a.dtype == np.uint16 and cam.output_dtype == np.uint16
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.clip(np.rint(expected_adu(cam, lam)), 0, 65535))


def test_same_stream_same_bytes_and_tiny_negatives():
    lam = lam_img(10.0, (32, 32))
    lam[0, 0] = -1e-7  # numerical ringing of a PSF must not crash the Poisson draw
    for kind in ("scmos", "emccd"):
        cam = Camera(kind=kind)
        a = expose(cam, lam, np.random.default_rng(13))
        b = expose(cam, lam, np.random.default_rng(13))
        assert a.tobytes() == b.tobytes()


def test_validation():
    for bad in (dict(kind="ccd"), dict(qe=0.0), dict(bit_depth=17), dict(e_per_adu=0.0),
                dict(kind="emccd", em_gain=0.5), dict(gain_adu_per_e=np.zeros((2, 2)))):
        with pytest.raises(ValueError):
            Camera(**bad)


def test_gain_map_without_variance_map_scales_read_noise():
    # read noise is specified in electrons: with a gain map it is converted per pixel
    gain = np.full(SHAPE, 2.0, np.float32)
    gain[:, SHAPE[1] // 2:] = 0.25
    cam = Camera(kind="scmos", gain_adu_per_e=gain, readout_noise_e=3.0, baseline_adu=100.0)
    img = expose(cam, lam_img(40.0), np.random.default_rng(14))
    half = SHAPE[1] // 2
    for sl, g in ((np.s_[:, :half], 2.0), (np.s_[:, half:], 0.25)):
        check_moments(img[sl], 100.0 + g * 40.0, g**2 * 40.0 + (3.0 * g) ** 2 + 1 / 12, f"gain {g}")
