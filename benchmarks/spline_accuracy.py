"""Accuracy of the cubic-spline PSF against the Zernike model it was made from (not a test).

The figures behind docs/physics.md §4.6. Model: scalar Zernike, NA 1.45, 670 nm, n 1.518, 100 nm
pixels, 60 nm Z6 astigmatism, 40 nm Z8 coma along x, 20 nm Z11 spherical (direct q = 3). Each
spline is rendered on 15 x 15 patches at random sub-pixel positions and compared with the model
divided by its light in the calibration window (the spline's photons contract: every plane of the
window holds 1), at random z between the planes and on them; "centroid" is the worst difference of
the patch centroids (px).

1. ``export-spline`` (the model's exact 1/3-voxel sub-samples), 1 and 2 lateral voxels per pixel.
2. The spline through the model's pixel values only (a perfect bead stack at a pixel centre):
   SMAP's not-a-knot interpolant laterally vs this project's band-limited one.
3. ``psf spline`` of a noiseless bead stack (1e5 photons, background 10 per pixel, the bead 0.3,
   0.6 px off a pixel corner of an 81 or 121 px frame, -600..600 nm every 25 nm): the known position
   and background given, or everything estimated (without coma: a centroid is a position only for
   a symmetric PSF; the background comes from the pixels beyond one ROI, so the frame's size matters).

Run:  python benchmarks/spline_accuracy.py [--emitters 200]
"""

from __future__ import annotations

import argparse
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]  # (benchmarks/kernels.py)

import numpy as np  # noqa: E402

from kernels.psf import ZernikePSF  # noqa: E402
from kernels.spline import SplinePSF, coefficients_from_nodes, spline_from_model  # noqa: E402
from kernels.spline_fit import fit_bead_stack  # noqa: E402

OPTICS = dict(wavelength_nm=670.0, na=1.45, immersion_index=1.518, pixel_size_nm=100.0)
COMA = ((6, 60.0), (8, 40.0), (11, 20.0))
ASTIG = ((6, 60.0), (11, 20.0))


def compare(spline, ab, window, z_lo, z_hi, dz, n, rng):
    big = ZernikePSF(radius_px=window // 2 + 2, global_coeffs_nm=ab, **OPTICS)
    small = ZernikePSF(radius_px=7, global_coeffs_nm=ab, **OPTICS)
    c, h = big.radius_px, window // 2
    out = []
    x, y = rng.uniform(30, 31, n), rng.uniform(30, 31, n)
    for z in (rng.uniform(z_lo, z_hi, n), z_lo + dz * rng.integers(0, round((z_hi - z_lo) / dz) + 1, n)):
        light = big.render(np.full(n, 30.5), np.full(n, 30.5), z).values[:, c - h:c + h + 1, c - h:c + h + 1].sum(axis=(1, 2))
        got = spline.render(x, y, z).values.astype(np.float64)
        want = small.render(x, y, z).values.astype(np.float64) / light[:, None, None]
        err = np.abs(got - want).max(axis=(1, 2)) / want.max(axis=(1, 2))
        cols = np.arange(got.shape[-1])
        cen = max(np.abs((g.sum(a) * cols).sum(1) / g.sum((1, 2)) - (w.sum(a) * cols).sum(1) / w.sum((1, 2))).max()
                  for a in (1, 2) for g, w in [(got, want)])
        out.append((err.max(), np.median(err), cen))
    return out


def row(label, res):
    (bmax, bmed, bcen), (pmax, _, pcen) = res
    return f"{label:<58} {bmax:9.2e} {bmed:9.2e} {pmax:9.2e} {max(bcen, pcen):9.2e}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emitters", type=int, default=200)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.emitters
    head = f"{'spline':<58} {'between':>9} {'median':>9} {'planes':>9} {'centroid':>9}"
    print("max |spline - model| / peak (between planes, median, on planes) and worst centroid offset (px)")
    print(head)
    print("-" * len(head))
    for window in (25, 31):
        big = ZernikePSF(radius_px=window // 2 + 2, global_coeffs_nm=COMA, **OPTICS)
        for k in (1, 2):
            coeffs, centre = spline_from_model(big, -500.0, 25.0, 40, window, k)
            sp = SplinePSF(coeffs, 25.0, -500.0, centre, 100.0, 7, oversample=k)
            print(row(f"1. export-spline, {window} px window, {k} voxel(s)/px", compare(sp, COMA, window, -490, 490, 25.0, n, rng)), flush=True)
    big = ZernikePSF(radius_px=14, global_coeffs_nm=COMA, **OPTICS)
    zs = np.arange(-500.0, 501.0, 25.0)
    nodes = big.render(np.full(zs.size, 30.5), np.full(zs.size, 30.5), zs).values.astype(np.float64)[:, 2:27, 2:27]
    nodes = np.pad(nodes / nodes.sum(axis=(1, 2))[:, None, None], ((0, 0), (0, 1), (0, 1)))
    for lateral, k in (("spline", 1), ("fourier", 1), ("fourier", 2)):
        sp = SplinePSF(coefficients_from_nodes(nodes, lateral, k), 25.0, -500.0, (12.0 * k, 12.0 * k), 100.0, 7, oversample=k)
        name = "not-a-knot (SMAP)" if lateral == "spline" else "band-limited"
        print(row(f"2. pixel values only, 25 px, {name}, {k} voxel(s)/px", compare(sp, COMA, 25, -490, 490, 25.0, n, rng)), flush=True)
    zs = np.arange(-600.0, 601.0, 25.0)
    cases = (("coma, position and background given", COMA, True, 81), ("no coma, all estimated", ASTIG, False, 81),
             ("no coma, all estimated", ASTIG, False, 121))
    for name, ab, given, size in cases:
        h = size // 2
        big = ZernikePSF(radius_px=h, global_coeffs_nm=ab, **OPTICS)
        p = big.render(np.full(zs.size, h + 0.3), np.full(zs.size, h + 0.6), zs)
        stack = np.full((zs.size, size, size), 10.0)
        for i in range(zs.size):
            r0, c0 = p.row0[i], p.col0[i]
            stack[i, max(r0, 0):, max(c0, 0):] += 1e5 * p.values[i][-r0 if r0 < 0 else 0:size - r0, -c0 if c0 < 0 else 0:size - c0]
        for roi in (25, 31, 41):
            fit = fit_bead_stack(stack, 25.0, roi=roi, beads=[(h + 0.3, h + 0.6)] if given else None,
                                 background=10.0 if given else None, oversample=2)
            sp = SplinePSF(fit.coeffs, 25.0, fit.z_first_nm, (2 * fit.centre_px,) * 2, 100.0, 7, oversample=2)
            print(row(f"3. psf spline, {size} px frame, roi {roi}, {name}", compare(sp, ab, roi, -590, 590, 25.0, n, rng)),
                  flush=True)


if __name__ == "__main__":
    main()
