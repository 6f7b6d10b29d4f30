"""Kernel speed: µs per emitter for each PSF model and mode, ns per pixel for each camera model.

Not a test. Two tables from one run, every number the median of ``--repeat`` (>= 3) timed calls
after one warm-up call:

1. PSF: wall time per emitter of ``psf.render`` (default batches) for every model and mode, for
   patches of 15x15 (r = 7) and 25x25 (r = 12) pixels; the cubic spline (``optics.psf =
   "spline"``) is the spline of the "zernike direct q=3" model itself (``psf export-spline``: a
   31 px window, z -500 .. 500 nm every 25 nm; one and two lateral voxels per pixel), rendered on
   the same patches, with its speed-up over that model (issue 15 target: >= 3x).
2. Camera: ``kernels.camera.expose`` on a 1200x1200 frame (background 10 or 100 photons plus
   sparse bright spots), in ns per pixel, next to the bare numpy draws a noisy camera cannot
   avoid on the same frame: ``rng.poisson(lam)`` and ``rng.standard_normal(dtype=float32)``.

BLAS/OpenMP threads default to 1 (set before numpy is imported) because that is what a dask
worker sees: distributed's nanny sets OMP/MKL/OPENBLAS_NUM_THREADS=1 in every worker process.
Override with e.g. ``OPENBLAS_NUM_THREADS=4 python benchmarks/kernels.py``.
Reference (physics.md, 2-core machine): exact matrix-DFT PSF, 64^2 pupil, 15x15 px, 3x3 GL,
complex64, batched: ~0.22 ms per emitter.

The vectorial (dipole) PSF is timed on the same patches, pupil and pixel rule as "zernike direct
q=3", with matched indices and with a water sample (n_s 1.33 < NA: supercritical pupil cells,
complex Fresnel factors), free and fixed dipoles; the lines after the table give its time per
emitter over the scalar one (issue 14 target: <= 3x).

Run:  python benchmarks/kernels.py [--emitters 1024] [--size 1200] [--repeat 5] [--only psf|camera]
"""

from __future__ import annotations

import os
import sys

# this file is named like the ``kernels`` package it measures: keep its own folder off the path
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from kernels.camera import Camera, expose  # noqa: E402
from kernels.psf import ZERNIKE_BATCH, AstigmaticPSF, GaussianPSF, ZernikePSF  # noqa: E402
from kernels.vectorial import VECTORIAL_BATCH, VectorialPSF  # noqa: E402
from kernels.rng import generator, key_words  # noqa: E402
from kernels.spline import SPLINE_BATCH, SplinePSF, spline_from_model  # noqa: E402


def median_seconds(fn, repeat: int) -> float:
    """Median wall time of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()  # warm-up: caches, allocations, page faults
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# --------------------------------------------------------------------------------------------- PSF

ZERNIKE = dict(wavelength_nm=600.0, na=1.4, immersion_index=1.518, pixel_size_nm=100.0,
               global_coeffs_nm=((6, 40.0), (11, 20.0)))
#: the spline of the "zernike direct q=3" model: 31 px window, z -500 .. 500 nm every 25 nm
SPLINE_WINDOW, SPLINE_Z = 31, (-500.0, 25.0, 40)


@functools.lru_cache(maxsize=None)
def zernike_spline(oversample: int) -> SplinePSF:
    """What ``psf export-spline`` makes of the Zernike model (built once, rendered at every radius)."""
    model = ZernikePSF(radius_px=SPLINE_WINDOW // 2 + 2, **ZERNIKE)
    z_first, dz, nz = SPLINE_Z
    coeffs, centre = spline_from_model(model, z_first, dz, nz, SPLINE_WINDOW, oversample)
    return SplinePSF(coeffs, dz, z_first, centre, 100.0, radius_px=7, oversample=oversample)


def psf_models(radius: int) -> dict:
    common = ZERNIKE
    water = dict(sample_index=1.33, focus_depth_nm=500.0)
    return {
        "gaussian (erf)": GaussianPSF(sigma_nm=90.0, radius_px=radius),
        "astigmatic (erf)": AstigmaticPSF(sigma0_nm=120.0, radius_px=radius),
        "zernike direct q=3": ZernikePSF(radius_px=radius, mode="direct", quadrature=3, **common),
        "zernike direct q=3 +5 per-emitter modes": ZernikePSF(radius_px=radius, noll=(5, 6, 7, 8, 11), **common),
        "zernike direct q=3, pupil 128": ZernikePSF(radius_px=radius, pupil_size=128, **common),
        "zernike oversampled s=4": ZernikePSF(radius_px=radius, mode="oversampled", oversample=4, **common),
        "spline of zernike q=3 (1 voxel/px)": zernike_spline(1).with_radius(radius),
        "spline of zernike q=3 (2 voxels/px)": zernike_spline(2).with_radius(radius),
        "vectorial free direct q=3": VectorialPSF(radius_px=radius, **common),
        "vectorial fixed direct q=3": VectorialPSF(radius_px=radius, dipole="fixed", **common),
        "vectorial free, water sample": VectorialPSF(radius_px=radius, **water, **common),
        "vectorial fixed, water sample": VectorialPSF(radius_px=radius, dipole="fixed", **water, **common),
        "vectorial fixed + wobble, water sample": VectorialPSF(radius_px=radius, dipole="fixed", wobble_rad=0.5,
                                                               **water, **common),
    }


def psf_us_per_emitter(psf, n: int, repeat: int) -> float:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1000, n), rng.uniform(0, 1000, n)
    z = rng.uniform(-500, 500, n)  # (the spline's calibrated range)
    coeffs = rng.normal(0, 20, (n, len(psf.noll))) if getattr(psf, "noll", ()) else None
    kw = {}
    if isinstance(psf, VectorialPSF) and psf.dipole == "fixed":
        kw = dict(polar_rad=rng.uniform(0, np.pi / 2, n), azimuth_rad=rng.uniform(0, 2 * np.pi, n))
    return median_seconds(lambda: psf.render(x, y, z, coeffs, **kw), repeat) / n * 1e6


def psf_table(n: int, repeat: int) -> list[str]:
    rows, ratios = [], []
    for radius in (7, 12):
        patch = f"{2 * radius + 1}x{2 * radius + 1}"
        times = {}
        for name, psf in psf_models(radius).items():
            # the 128^2 pupil is ~4x slower: fewer emitters keep the run short
            m = max(n // 4, 256) if isinstance(psf, ZernikePSF) and psf.pupil_size > 64 else n
            times[name] = psf_us_per_emitter(psf, m, repeat)
            rows.append(f"{name:<42} {patch:>7} {m:>8} {times[name]:11.1f}")
        zernike = times["zernike direct q=3"]
        for name in [k for k in times if k.startswith("spline")]:
            rows.append(f"  {name}: {zernike / times[name]:.1f}x faster than zernike direct q=3 on {patch} "
                        f"(target >= 3x: {'met' if zernike / times[name] >= 3 else 'NOT met'})")
        scalar = zernike
        for name, t in times.items():
            if name.startswith("vectorial"):
                ratios.append(f"{patch} {name:<40} {t / scalar:5.2f}x zernike direct q=3"
                              + ("  (target <= 3x: " + ("met" if t <= 3 * scalar else "NOT met") + ")"
                                 if "wobble" not in name else ""))
    head = f"{'model':<42} {'patch':>7} {'emitters':>8} {'us/emitter':>11}"
    return [head, "-" * len(head), *rows, "", "vectorial / scalar time per emitter, same patch, pupil and pixel rule:",
            *ratios]


# ------------------------------------------------------------------------------------------ camera

def camera_table(size: int, repeat: int) -> list[str]:
    shape = (size, size)
    npx = size * size
    rng = generator(key_words(0, "benchmark"), "camera", 0)
    maps = dict(
        offset_adu=rng.normal(100, 2, shape).astype(np.float32),
        gain_adu_per_e=rng.normal(0.5, 0.02, shape).astype(np.float32),
        variance_adu2=rng.gamma(2.0, 10.0, shape).astype(np.float32),
    )
    models = {
        "ideal": Camera(kind="ideal"),
        "add_noise=False": Camera(kind="scmos", add_noise=False),
        "scmos": Camera(kind="scmos"),
        "scmos + maps": Camera(kind="scmos", **maps),
        "scmos no shot": Camera(kind="scmos", shot_noise=False),
        "emccd": Camera(kind="emccd", e_per_adu=45.0, readout_noise_e=74.4),
    }

    def ns(fn) -> float:
        return median_seconds(fn, repeat) / npx * 1e9

    head = f"{'model':<28} {'bg 10':>9} {'bg 100':>9}   (ns/pixel)"
    rows: dict[str, list[float]] = {}
    for bg in (10.0, 100.0):
        # background plus sparse bright spots, like a real SMLM frame
        lam = np.full(shape, bg, dtype=np.float32)
        lam.ravel()[rng.integers(0, npx, npx // 400)] += 2000.0
        p = ns(lambda: rng.poisson(lam))
        g = ns(lambda: rng.standard_normal(shape, dtype=np.float32))
        rows.setdefault("numpy poisson(lam)", []).append(p)
        rows.setdefault("numpy standard_normal f32", []).append(g)
        rows.setdefault("  numpy sum of the two", []).append(p + g)
        for name, cam in models.items():
            rows.setdefault(name, []).append(ns(lambda: expose(cam, lam, rng)))
        # what the renderer calls: background-only pixels from the exact look-up table, spots by the chain
        scmos = models["scmos"]
        expose(scmos, lam, rng, background=bg)  # builds the table once per (camera, background)
        rows.setdefault("scmos, background table", []).append(ns(lambda: expose(scmos, lam, rng, background=bg)))
    return [head, "-" * len(head)] + [f"{name:<28} " + " ".join(f"{v:9.1f}" for v in vals)
                                      for name, vals in rows.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emitters", type=int, default=1024, help="emitters per PSF timing (default 1024)")
    ap.add_argument("--size", type=int, default=1200, help="camera frame side, pixels (default 1200)")
    ap.add_argument("--repeat", type=int, default=5, help="timed calls per number, median taken (>= 3)")
    ap.add_argument("--only", choices=("psf", "camera"), default=None)
    args = ap.parse_args()
    if args.repeat < 3:
        ap.error("--repeat must be >= 3 (numbers are medians)")

    print(f"kernels benchmark: median of {args.repeat} after 1 warm-up; numpy {np.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    if args.only in (None, "psf"):
        print(f"\nPSF render, default batches (erf 256, Zernike {ZERNIKE_BATCH}, spline {SPLINE_BATCH}, "
              f"vectorial {VECTORIAL_BATCH})")
        print("\n".join(psf_table(args.emitters, args.repeat)))
    if args.only in (None, "camera"):
        print(f"\ncamera expose, {args.size}x{args.size} frame (lam = background + sparse spots)")
        print("\n".join(camera_table(args.size, args.repeat)))


if __name__ == "__main__":
    main()
