"""The cubic-spline PSF kernels (kernels/spline.py, kernels/spline_fit.py) against known answers.

Tolerances from the stated numerical error (docs/physics.md §4.6): coefficients are float32, so a
rendered value carries ~1e-7 of the peak of rounding (1e-6 is used where the answer is exact);
the interpolation errors of the spline against the model are the measured figures of §4.6 with a
margin of about 2.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import CubicSpline

from kernels.psf import AstigmaticPSF, GaussianPSF, ZernikePSF
from kernels.spline import (
    RegionalSplinePSF,
    SplinePSF,
    coefficients_from_nodes,
    coefficients_from_refined,
    flip_axis,
    fourier_shift,
    monomials,
    refine_fourier,
    refine_spline,
    spline_from_model,
    swap_xy,
)
from kernels.spline_fit import find_beads, fit_bead_stack


def _blob_nodes(nz=9, n=15, sx=1.6, sy=1.2, lobe=0.0, scale=None):
    """Positive node values: a Gaussian blob at the window's centre node, optionally a lobe at +2 px in x."""
    c = n // 2
    y, x = np.mgrid[0:n + 1, 0:n + 1] - c
    planes = []
    for k in range(nz):
        g = np.exp(-0.5 * ((x / (sx + 0.1 * k)) ** 2 + (y / sy) ** 2)) + lobe * np.exp(-0.5 * (((x - 2) / 0.8) ** 2 + (y / 0.8) ** 2))
        g[-1, :] = 0
        g[:, -1] = 0
        planes.append(g * (1.0 if scale is None else scale[k]))
    return np.array(planes), c


def test_monomial_index_is_16pz_4py_px():
    m = monomials([2.0], [3.0], [5.0])[0]
    for pz in range(4):
        for py in range(4):
            for px in range(4):
                assert m[16 * pz + 4 * py + px] == 5.0**pz * 3.0**py * 2.0**px


def test_a_tricubic_is_reproduced_exactly():
    nz, ny, nx = 3, 4, 5
    z, y, x = np.meshgrid(*(np.arange(3 * n + 1) / 3 for n in (nz, ny, nx)), indexing="ij")

    def f(z, y, x):
        return 1 + 0.3 * x**3 - 0.2 * y**2 * z + 0.1 * z**3 * x * y + 0.05 * x * y * z

    psf = SplinePSF(coefficients_from_refined(f(z, y, x)), dz_nm=10.0, z_first_nm=0.0, centre_yx=(0, 0))
    pts = np.random.default_rng(0).uniform(0, (nz, ny, nx), (200, 3))
    got = psf.evaluate(pts[:, 1], pts[:, 2], pts[:, 0] * 10.0)
    np.testing.assert_allclose(got, f(*pts.T), rtol=0, atol=2e-6)  # float32 coefficients


def test_z_refinement_is_matlabs_not_a_knot_spline():
    y = np.random.default_rng(1).normal(size=9)
    np.testing.assert_allclose(refine_spline(y, 0), CubicSpline(np.arange(9), y)(np.arange(25) / 3), atol=1e-12)
    # three nodes: the parabola through them (not-a-knot's limit)
    p = refine_spline(np.array([1.0, 3.0, 2.0]), 0)
    t = np.arange(7) / 3
    np.testing.assert_allclose(p, np.polyval(np.polyfit([0, 1, 2], [1, 3, 2], 2), t), atol=1e-12)


def test_fourier_refinement_and_shift_are_band_limited_interpolation():
    # a Gaussian of sigma 2 px is band-limited to 3e-9 at 0.5 cycles/px and ~0 at the window's edges
    x = np.arange(41) - 20.3
    g = np.exp(-0.5 * (x / 2.0) ** 2)
    fine = refine_fourier(g, 0)
    t = np.arange(fine.size) / 3 - 20.3
    np.testing.assert_allclose(fine, np.exp(-0.5 * (t / 2.0) ** 2), atol=1e-8)
    # fourier_shift samples at (row + dy, col + dx): content at p moves to p - d
    yy, xx = np.mgrid[0:41, 0:41] - 20.0
    img = np.exp(-0.5 * (xx**2 + yy**2) / 4.0)
    moved = fourier_shift(img, 0.3, -0.2)
    np.testing.assert_allclose(moved, np.exp(-0.5 * ((xx - 0.2) ** 2 + (yy + 0.3) ** 2) / 4.0), atol=1e-8)


def test_flipping_and_swapping_axes_are_exact():
    c = coefficients_from_nodes(np.random.default_rng(2).normal(size=(4, 5, 6)), "spline")
    nz, ny, nx = c.shape[:3]
    pts = np.random.default_rng(3).uniform(0, 1, (100, 3)) * (nz, ny, nx)
    z, y, x = pts.T
    base = SplinePSF(c, 1.0, 0.0, (0, 0)).evaluate(y, x, z)

    def ev(coeffs, yy, xx, zz):
        return SplinePSF(coeffs, 1.0, 0.0, (0, 0)).evaluate(yy, xx, zz)

    # float32 rounding of 64-term sums of coefficients up to ~10 (random nodes ring)
    tol = 1e-6 * np.abs(c).max()
    np.testing.assert_allclose(ev(flip_axis(c, "z"), y, x, nz - z), base, atol=tol)
    np.testing.assert_allclose(ev(flip_axis(c, "y"), ny - y, x, z), base, atol=tol)
    np.testing.assert_allclose(ev(flip_axis(c, "x"), y, nx - x, z), base, atol=tol)
    np.testing.assert_allclose(ev(swap_xy(c), x, y, z), base, atol=1e-7)


def test_nodes_are_interpolated():
    nodes, c = _blob_nodes()
    psf = SplinePSF(coefficients_from_nodes(nodes), 20.0, 0.0, (c, c))
    yy, xx = np.mgrid[0:15, 0:15]
    for k in (0, 4, 7):
        np.testing.assert_allclose(psf.evaluate(yy, xx, 20.0 * k), nodes[k, :15, :15], atol=1e-6)


@pytest.mark.parametrize("radius, oversample", [(5, 1), (7, 1), (9, 1), (6, 2), (8, 2)])
def test_render_is_the_spline_at_pixel_centres_over_the_plane_sum(radius, oversample):
    """Patches inside the 15 px window (strided gather), partly outside (row gather) and beyond it."""
    nodes, c = _blob_nodes(lobe=0.3)
    k = oversample
    psf = SplinePSF(coefficients_from_nodes(nodes, oversample=k), 20.0, -80.0, (k * c, k * c), radius_px=radius, oversample=k)
    rng = np.random.default_rng(4)
    x, y, z = rng.uniform(10, 20, 20), rng.uniform(10, 20, 20), rng.uniform(-80, 80, 20)
    p = psf.render(x, y, z)
    steps = np.arange(2 * radius + 1) + 0.5
    for i in range(20):
        sy = k * c + k * (p.row0[i] + steps - y[i])
        sx = k * c + k * (p.col0[i] + steps - x[i])
        want = psf.evaluate(sy[:, None], sx[None, :], z[i]) / psf.plane_sum(z[i])[0]
        np.testing.assert_allclose(p.values[i], np.maximum(want, 0), rtol=0, atol=1e-6 * want.max())


def test_every_plane_integrates_to_one_whatever_the_files_normalization():
    scale = 1.0 + np.arange(9)  # plane k holds (k + 1) x the light
    nodes, c = _blob_nodes(scale=scale)
    psf = SplinePSF(coefficients_from_nodes(nodes), 25.0, -100.0, (c, c), radius_px=9)
    z = np.random.default_rng(5).uniform(-100, 100, 50)
    # an emitter on a pixel centre: the pixels are the window's nodes
    sums = psf.render(np.full(50, 30.5), np.full(50, 30.5), z).values.astype(np.float64).sum(axis=(1, 2))
    np.testing.assert_allclose(sums, 1.0, atol=1e-6)
    assert np.all(psf.render(np.full(5, 30.5), np.full(5, 30.5), [-100, -50, 0, 50, 100]).values >= 0)


def test_z_outside_the_calibration_is_refused_or_clamped():
    nodes, c = _blob_nodes()
    psf = SplinePSF(coefficients_from_nodes(nodes), 25.0, -100.0, (c, c), radius_px=4)
    assert psf.z_range_nm == (-100.0, 100.0)
    with pytest.raises(ValueError, match=r"z = 150 nm is outside the calibrated range \[-100, 100\] nm"):
        psf.render([10.5], [10.5], [150.0])
    clamped = psf.with_radius(4, clamp_z=True)
    np.testing.assert_array_equal(clamped.render([10.5], [10.5], [150.0]).values, psf.render([10.5], [10.5], [100.0]).values)
    np.testing.assert_array_equal(clamped.render([10.5], [10.5], [-1e4]).values, psf.render([10.5], [10.5], [-100.0]).values)


def test_outside_the_window_the_psf_is_zero():
    nodes, c = _blob_nodes(n=7)
    psf = SplinePSF(coefficients_from_nodes(nodes), 25.0, 0.0, (c, c), radius_px=8)
    v = psf.render([20.5], [20.5], [50.0]).values[0]
    # the window covers displacements -3 .. +3 px around the patch centre (8, 8)
    assert np.all(v[:5] == 0) and np.all(v[:, :5] == 0) and np.all(v[12:] == 0) and np.all(v[:, 12:] == 0)
    assert v[5:12, 5:12].min() > 0


def test_an_oversampled_grid_holds_the_nodes_at_even_voxels():
    nodes, c = _blob_nodes(lobe=0.2)
    coeffs = coefficients_from_nodes(nodes, "fourier", oversample=2)
    assert coeffs.shape == (8, 30, 30, 64)
    psf = SplinePSF(coeffs, 20.0, 0.0, (2 * c, 2 * c), radius_px=7, oversample=2)
    got = psf.render([30.5], [30.5], [60.0]).values[0]  # node plane 3, emitter on a pixel centre
    want = nodes[3, :15, :15] / nodes[3, :15, :15].sum()
    np.testing.assert_allclose(got, want, atol=1e-6 * want.max())


def test_regions_are_chosen_by_field_position():
    a_nodes, c = _blob_nodes()
    b_nodes, _ = _blob_nodes(lobe=1.0)
    a = SplinePSF(coefficients_from_nodes(a_nodes), 20.0, 0.0, (c, c), radius_px=5)
    b = SplinePSF(coefficients_from_nodes(b_nodes), 20.0, 0.0, (c, c), radius_px=5)
    psf = RegionalSplinePSF(((-np.inf, 16.0, -np.inf, np.inf), (16.0, np.inf, -np.inf, np.inf)), (a, b))
    x = np.array([5.5, 20.5, 15.99, 16.0])
    got = psf.render(x, np.full(4, 10.5), np.full(4, 40.0)).values
    for i, model in enumerate((a, b, a, b)):
        np.testing.assert_array_equal(got[i], model.render(x[i:i + 1], [10.5], [40.0]).values[0])
    # outside every region: the nearest one
    near = RegionalSplinePSF(((0.0, 16.0, 0.0, 32.0), (16.0, 32.0, 0.0, 32.0)), (a, b))
    assert list(near.region_of([-3.0, 40.0, 10.0], [5.0, 5.0, -2.0])) == [0, 1, 0]


def test_a_model_splined_at_its_sub_samples_is_the_model():
    """spline_from_model evaluates the model at the 1/3-voxel sub-samples: there the spline is the
    model divided by its light in the window (float32 rounding)."""
    model = AstigmaticPSF(sigma0_nm=110.0, focal_offset_nm=300.0, depth_nm=400.0, radius_px=12)
    coeffs, centre = spline_from_model(model, -300.0, 50.0, 12, 15)
    spline = SplinePSF(coeffs, 50.0, -300.0, centre, radius_px=6)
    small = AstigmaticPSF(sigma0_nm=110.0, focal_offset_nm=300.0, depth_nm=400.0, radius_px=6)
    for dx, dy, z in [(0.0, 0.0, -300.0), (1 / 3, 2 / 3, -250.0), (2 / 3, 0.0, 100.0 + 50 / 3), (0.0, 1 / 3, 300.0)]:
        x, y = 30.5 - dx, 30.5 - dy
        window = model.render([30.5], [30.5], [z]).values[0][12 - 7:12 + 8, 12 - 7:12 + 8].sum()
        np.testing.assert_allclose(spline.render([x], [y], [z]).values[0], small.render([x], [y], [z]).values[0] / window,
                                   atol=1e-6 * 0.1)


@pytest.fixture(scope="module")
def aberrated():
    """Zernike with astigmatism, x coma and spherical aberration (NA 1.45, 670 nm, 100 nm pixels)."""
    kw = dict(wavelength_nm=670.0, na=1.45, immersion_index=1.518, pixel_size_nm=100.0,
              global_coeffs_nm=((6, 60.0), (8, 40.0), (11, 20.0)))
    return ZernikePSF(radius_px=16, **kw), ZernikePSF(radius_px=7, **kw)


def _versus_model(spline, big, small, window, rng, n=150, z_lo=-490.0, z_hi=490.0):
    """Max |spline - model / window light| / peak over random sub-pixel positions and z, and the worst centroid offset."""
    x, y = rng.uniform(30, 31, n), rng.uniform(30, 31, n)
    z = rng.uniform(z_lo, z_hi, n)
    c = big.radius_px
    light = big.render(np.full(n, 30.5), np.full(n, 30.5), z).values[:, c - window // 2: c + window // 2 + 1,
                                                                      c - window // 2: c + window // 2 + 1].sum(axis=(1, 2))
    got = spline.render(x, y, z).values.astype(np.float64)
    want = small.render(x, y, z).values.astype(np.float64) / light[:, None, None]
    err = np.abs(got - want).max(axis=(1, 2)) / want.max(axis=(1, 2))
    cols = np.arange(got.shape[-1])
    cen = lambda v: np.stack([(v.sum(1) * cols).sum(1), (v.sum(2) * cols).sum(1)]) / v.sum((1, 2))  # noqa: E731
    return err.max(), np.abs(cen(got) - cen(want)).max()


def test_zernike_splined_exactly(aberrated):
    """The spline of the Zernike model from its exact sub-samples (what export-spline writes).
    Measured (docs/physics.md §4.6): 2.0e-3 of the peak with one voxel per pixel, 1.4e-4 with two."""
    big, small = aberrated
    rng = np.random.default_rng(6)
    for k, bound in ((1, 3e-3), (2, 3e-4)):
        coeffs, centre = spline_from_model(big, -400.0, 40.0, 20, 25, oversample=k)
        spline = SplinePSF(coeffs, 40.0, -400.0, centre, radius_px=7, oversample=k)
        err, centroid = _versus_model(spline, big, small, 25, rng, z_lo=-390.0, z_hi=390.0)
        assert err < bound, (k, err)
        assert centroid < 1e-3, (k, centroid)


def _stack(model, x, y, size, zs, background=0.0):
    """A noiseless bead z-stack rendered by ``model`` (photon fractions + background)."""
    out = np.full((zs.size, size, size), background)
    for i, z in enumerate(zs):
        for bx, by in zip(np.atleast_1d(x), np.atleast_1d(y)):
            p = model.render([bx], [by], [z])
            r0, c0, v = p.row0[0], p.col0[0], p.values[0]
            rs, cs = slice(max(r0, 0), min(r0 + v.shape[0], size)), slice(max(c0, 0), min(c0 + v.shape[1], size))
            out[i, rs, cs] += v[rs.start - r0: rs.stop - r0, cs.start - c0: cs.stop - c0]
    return out


def test_beads_are_found_centred_and_their_background_estimated():
    model = AstigmaticPSF(sigma0_nm=120.0, focal_offset_nm=250.0, depth_nm=400.0, radius_px=10)
    truth = np.array([[20.3, 21.7], [60.8, 22.1], [41.1, 60.4]])
    stack = 1e4 * _stack(model, truth[:, 0], truth[:, 1], 84, np.arange(-400.0, 401.0, 50.0)) + 5.0
    fit = fit_bead_stack(stack, 50.0, roi=21)
    order = np.argsort(fit.beads[:, 0])
    # the Gaussian is symmetric: its centroid is its position (to the window's truncation)
    np.testing.assert_allclose(fit.beads[order], truth[np.argsort(truth[:, 0])], atol=2e-3)
    np.testing.assert_allclose(fit.background, 5.0, atol=1e-3)
    assert fit.coeffs.shape == (16, 42, 42, 64) and fit.z_first_nm == -400.0
    np.testing.assert_allclose(fit.nodes[:, :21, :21].sum(axis=(1, 2)), 1.0, atol=1e-12)


def test_crowded_and_edge_beads_are_left_out_with_a_reason():
    model = GaussianPSF(sigma_nm=120.0, radius_px=8)
    stack = _stack(model, [12.5, 20.5, 45.5, 3.5], [12.5, 14.5, 40.5, 40.5], 56, np.array([0.0, 1.0, 2.0]))
    beads, why = find_beads(stack, 15)
    assert beads.tolist() == [[45.5, 40.5]]
    assert sum("another bead within one ROI" in w for w in why) == 2 and sum("frame edge" in w for w in why) == 1


def test_z_smoothing_and_the_focus_plane():
    from kernels.spline_fit import _smooth_z

    a = np.zeros((21, 1, 1))
    a[10] = 1.0
    sm = _smooth_z(a, 2.0)[:, 0, 0]
    taps = np.exp(-0.5 * (np.arange(-8, 9) / 2.0) ** 2)  # the kernel: +-4 sigma
    # planes whose whole kernel lies inside the stack (8 .. 12) see the plain normalized kernel
    np.testing.assert_allclose(sm[8:13], taps[6:11] / taps.sum(), atol=1e-12)
    assert sm[0] == sm[1] == 0.0
    np.testing.assert_allclose(_smooth_z(np.ones((9, 2, 2)), 3.0), 1.0, atol=1e-12)  # renormalized at the ends
    model = GaussianPSF(sigma_nm=130.0, radius_px=8)
    stack = _stack(model, [20.5], [20.5], 41, np.zeros(7)) + 1.0
    assert fit_bead_stack(stack, 30.0, roi=15, focus_plane=2).z_first_nm == -60.0
    assert fit_bead_stack(stack, 30.0, roi=15).z_first_nm == -90.0


def test_a_patch_does_not_depend_on_its_batch_or_neighbours():
    """Chunk independence (physics §8): an emitter's patch is the same bytes whatever else is rendered with it."""
    nodes, c = _blob_nodes(lobe=0.3)
    psf = SplinePSF(coefficients_from_nodes(nodes), 20.0, -80.0, (c, c), radius_px=8)  # some patches leave the window
    rng = np.random.default_rng(7)
    x, y, z = rng.uniform(10, 20, 40), rng.uniform(10, 20, 40), rng.uniform(-80, 80, 40)
    whole = psf.render(x, y, z).values
    for batch in (1, 3, 64):
        np.testing.assert_array_equal(psf.render(x, y, z, batch=batch).values, whole)
    np.testing.assert_array_equal(psf.render(x[::-1], y[::-1], z[::-1]).values, whole[::-1])


def test_the_vectorial_model_splined_exactly():
    """The same round trip for the vectorial model (water sample under oil, free dipole, aberrations):
    two voxels per pixel hold it to the bound the Zernike model meets."""
    from kernels.vectorial import VectorialPSF

    kw = dict(wavelength_nm=670.0, na=1.45, immersion_index=1.518, pixel_size_nm=100.0, sample_index=1.33,
              focus_depth_nm=600.0, global_coeffs_nm=((6, 60.0), (8, 40.0)))
    big, small = VectorialPSF(radius_px=16, **kw), VectorialPSF(radius_px=7, **kw)
    coeffs, centre = spline_from_model(big, -400.0, 40.0, 20, 25, oversample=2)
    spline = SplinePSF(coeffs, 40.0, -400.0, centre, radius_px=7, oversample=2)
    err, centroid = _versus_model(spline, big, small, 25, np.random.default_rng(7), n=60, z_lo=-390.0, z_hi=390.0)
    assert err < 3e-4 and centroid < 1e-3, (err, centroid)
