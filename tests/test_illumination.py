"""Illumination profiles (kernels.illumination): analytic values, peak, radial decay, images.

Profiles are deterministic closed forms, so values are compared to machine precision
(rtol 1e-12: a few roundings of exp/log/division).
"""

import numpy as np
import pytest

from kernels.illumination import (
    flat_top_profile,
    gaussian_profile,
    image_profile,
    radial_sigmoid_profile,
)

RTOL = 1e-12
C = (3200.0, 2900.0)  # centre, nm


def along_ray(r_nm, angle_deg=30.0, centre=C):
    a = np.deg2rad(angle_deg)
    return centre[0] + r_nm * np.cos(a), centre[1] + r_nm * np.sin(a)


# ---------------------------------------------------------------- Gaussian and flat-top


def test_gaussian_analytic_values():
    w = 2000.0
    r = np.array([0.0, w * np.sqrt(np.log(2) / 2), w, 2 * w])
    x, y = along_ray(r)
    np.testing.assert_allclose(gaussian_profile(x, y, C, w),
                               [1.0, 0.5, np.exp(-2.0), np.exp(-8.0)], rtol=RTOL)
    assert gaussian_profile(C[0], C[1], C, w) == 1.0  # peak exactly 1


def test_flat_top_analytic_values_and_order_one_is_gaussian():
    w, order = 2000.0, 4.0
    r = np.array([0.0, 0.5 * w, w, 1.2 * w])
    x, y = along_ray(r, 120.0)
    expected = np.exp(-2.0 * (r / w) ** (2 * order))
    np.testing.assert_allclose(flat_top_profile(x, y, C, w, order), expected, rtol=RTOL)
    assert flat_top_profile(C[0], C[1], C, w, order) == 1.0
    # at r = w every order gives e^-2; inside, a higher order is flatter (closer to 1)
    xs, ys = along_ray(np.linspace(0, 3 * w, 301))
    np.testing.assert_allclose(flat_top_profile(xs, ys, C, w, 1.0), gaussian_profile(xs, ys, C, w),
                               rtol=RTOL)
    inside = np.hypot(xs - C[0], ys - C[1]) < 0.99 * w
    assert np.all(flat_top_profile(xs, ys, C, w, 3.0)[inside]
                  >= flat_top_profile(xs, ys, C, w, 1.0)[inside])


@pytest.mark.parametrize("profile", ["gaussian", "flat_top", "sigmoid"])
def test_radial_profiles_decay_monotonically_in_every_direction(profile):
    r = np.linspace(0.0, 8000.0, 2001)
    for angle in (0.0, 77.0, 200.0, 300.0):
        x, y = along_ray(r, angle)
        if profile == "gaussian":
            i = gaussian_profile(x, y, C, 2500.0)
        elif profile == "flat_top":
            i = flat_top_profile(x, y, C, 2500.0, 3.0)
        else:
            i = radial_sigmoid_profile(x, y, C, 3520.0, 4480.0)
        assert np.all(np.diff(i) <= 0) and i[-1] < i[0]
        assert np.all((i >= 0) & (i <= 1))
        # radial: the same values at the same radius whatever the direction
        ref = i if angle == 0.0 else ref
        np.testing.assert_allclose(i, ref, rtol=RTOL, atol=1e-300)


# ---------------------------------------------------------------- SMLM Challenge radial sigmoid


def test_radial_sigmoid_half_and_quarter_radii():
    fov = 6400.0
    r_half, r_quarter = 0.55 * fov, 0.7 * fov  # the Challenge's choice
    x, y = along_ray(np.array([0.0, r_half, r_quarter]), 45.0)
    i = radial_sigmoid_profile(x, y, C, r_half, r_quarter)
    centre_value = 1.0 / (1.0 + 3.0 ** (-r_half / (r_quarter - r_half)))
    np.testing.assert_allclose(i, [centre_value, 0.5, 0.25], rtol=RTOL)
    assert 0.98 < centre_value < 0.99
    # the source's form 1 - 1/(1 + exp(-k (d - dm))) with a per-emitter shifted dm
    rng = np.random.default_rng(0)
    xs, ys = rng.uniform(0, fov, 500), rng.uniform(0, fov, 500)
    offset = 0.05 * r_half * (0.5 - rng.random(500))
    k = np.log(3.0) / (r_quarter - r_half)
    d = np.hypot(xs - C[0], ys - C[1])
    source = 1.0 - 1.0 / (1.0 + np.exp(-k * (d - (r_half + offset))))
    np.testing.assert_allclose(radial_sigmoid_profile(xs, ys, C, r_half, r_quarter, offset),
                               source, rtol=1e-10)
    # far outside: tiny but finite and non-negative (no overflow)
    far = radial_sigmoid_profile(1e9, 0.0, C, r_half, r_quarter)
    assert 0.0 <= far < 1e-300


# ---------------------------------------------------------------- image profiles


def test_image_profile_reproduces_image_at_pixel_centres():
    rng = np.random.default_rng(1)
    img = rng.uniform(0.0, 50.0, (7, 11))
    p, origin = 130.0, (-200.0, 350.0)
    ii, jj = np.mgrid[0:7, 0:11]
    x = origin[0] + (jj + 0.5) * p
    y = origin[1] + (ii + 0.5) * p
    out = image_profile(x, y, img, p, origin)
    np.testing.assert_allclose(out, img / img.max(), rtol=RTOL)
    assert out.max() == pytest.approx(1.0, rel=RTOL)


def test_image_profile_bilinear_between_centres_and_clamped_outside():
    img = np.array([[0.0, 2.0, 4.0],
                    [1.0, 3.0, 8.0]])  # rows = y, columns = x; max 8
    p = 100.0
    # midway between the four centres of the top-left 2x2 block: mean of the four
    assert image_profile(100.0, 100.0, img, p) == pytest.approx((0 + 2 + 1 + 3) / 4 / 8, rel=RTOL)
    # a quarter of the way along x on row 0, then in y on column 2
    assert image_profile(75.0, 50.0, img, p) == pytest.approx(0.5 / 8, rel=RTOL)
    assert image_profile(250.0, 75.0, img, p) == pytest.approx(5.0 / 8, rel=RTOL)
    # x and y not swapped: moving in x along row 1 reaches 8, in y along column 0 only 1
    assert image_profile(250.0, 150.0, img, p) == pytest.approx(1.0, rel=RTOL)
    assert image_profile(50.0, 150.0, img, p) == pytest.approx(1 / 8, rel=RTOL)
    # clamped: beyond the outer centres the edge value continues
    np.testing.assert_allclose(image_profile([-1e4, -1e4, 1e4, 1e4], [-1e4, 1e4, -1e4, 1e4], img, p),
                               np.array([0.0, 1.0, 4.0, 8.0]) / 8, rtol=RTOL)
    # a one-pixel-wide image is constant along its short axis
    col = np.array([[1.0], [3.0]])
    np.testing.assert_allclose(image_profile([-500.0, 50.0, 900.0], [50.0, 100.0, 150.0], col, p),
                               [1 / 3, 2 / 3, 1.0], rtol=RTOL)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("call", [
    lambda: gaussian_profile(0.0, 0.0, C, 0.0),
    lambda: gaussian_profile(0.0, 0.0, C, -5.0),
    lambda: gaussian_profile(0.0, 0.0, (1.0,), 100.0),
    lambda: gaussian_profile(np.nan, 0.0, C, 100.0),
    lambda: gaussian_profile(np.zeros(3), np.zeros(2), C, 100.0),
    lambda: flat_top_profile(0.0, 0.0, C, 100.0, 0.5),
    lambda: flat_top_profile(0.0, 0.0, C, 100.0, np.inf),
    lambda: flat_top_profile(0.0, 0.0, C, np.inf, 2.0),
    lambda: radial_sigmoid_profile(0.0, 0.0, C, 4480.0, 3520.0),
    lambda: radial_sigmoid_profile(0.0, 0.0, C, 0.0, 3520.0),
    lambda: radial_sigmoid_profile(0.0, 0.0, C, 3520.0, 4480.0, np.nan),
    lambda: image_profile(0.0, 0.0, np.zeros((3, 3)), 100.0),
    lambda: image_profile(0.0, 0.0, -np.ones((3, 3)), 100.0),
    lambda: image_profile(0.0, 0.0, np.ones(5), 100.0),
    lambda: image_profile(0.0, 0.0, np.ones((0, 3)), 100.0),
    lambda: image_profile(0.0, 0.0, np.full((2, 2), np.nan), 100.0),
    lambda: image_profile(0.0, 0.0, np.ones((2, 2)), 0.0),
    lambda: image_profile(0.0, 0.0, np.ones((2, 2)), 100.0, origin_nm=(0.0,)),
])
def test_invalid_inputs_raise(call):
    with pytest.raises(ValueError):
        call()
