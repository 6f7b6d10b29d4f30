"""Microseconds per emitter for each PSF model and rendering mode (not a test).

Run: python benchmarks/kernels_psf.py [n_emitters]
Set OPENBLAS_NUM_THREADS=1 to measure what a single-threaded dask worker sees: the batched
small matmuls gain little from BLAS threads and stall badly when other processes share the cores.
Reference (physics.md, 2-core machine): exact matrix-DFT PSF, 64^2 pupil, 15x15 px, 3x3 GL,
complex64, batched: ~0.22 ms per emitter.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from kernels.psf import AstigmaticPSF, GaussianPSF, ZernikePSF


def time_render(psf, n: int, batch: int = 256, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall time per emitter in microseconds."""
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1000, n), rng.uniform(0, 1000, n)
    z = rng.uniform(-500, 500, n)
    coeffs = rng.normal(0, 20, (n, len(psf.noll))) if getattr(psf, "noll", ()) else None
    psf.render(x[:batch], y[:batch], z[:batch], coeffs if coeffs is None else coeffs[:batch], batch=batch)  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        psf.render(x, y, z, coeffs, batch=batch)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def main(n: int = 1024) -> None:
    common = dict(wavelength_nm=600.0, na=1.4, immersion_index=1.518, pixel_size_nm=100.0,
                  global_coeffs_nm=((6, 40.0), (11, 20.0)))
    rows = []
    for r in (7, 12):
        size = f"{2 * r + 1}x{2 * r + 1}"
        models = {
            "zernike direct q=3": ZernikePSF(radius_px=r, mode="direct", quadrature=3, **common),
            "zernike direct q=3 +5 per-emitter modes": ZernikePSF(radius_px=r, noll=(5, 6, 7, 8, 11), **common),
            "zernike oversampled s=4": ZernikePSF(radius_px=r, mode="oversampled", oversample=4, **common),
            "zernike direct q=3, pupil 128": ZernikePSF(radius_px=r, pupil_size=128, **common),
            "gaussian (erf)": GaussianPSF(sigma_nm=90.0, radius_px=r),
            "astigmatic (erf)": AstigmaticPSF(sigma0_nm=120.0, radius_px=r),
        }
        for name, psf in models.items():
            m = n if not isinstance(psf, ZernikePSF) or psf.pupil_size <= 64 else n // 4
            rows.append((name, size, time_render(psf, max(m, 256))))
    import os
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"{'model':42s} {'patch':>7s} {'us/emitter':>11s}   (batch 256, OPENBLAS_NUM_THREADS={threads})")
    for name, size, us in rows:
        print(f"{name:42s} {size:>7s} {us:11.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024)
