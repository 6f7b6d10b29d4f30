"""Discretized scalar pupil and exact matrix DFT (Hanser et al. 2004; Soummer et al. 2007).

Everything here works in *frame pixel units*: pupil frequencies in cycles per pixel, positions in
pixels, intensities per pixel area. The pupil disk (radius NA/lambda) is covered by an ``N x N``
grid of square cells that exactly spans its diameter; cells cut by the rim carry the fraction of
their area inside the disk (area-weighted edge cells), and the pupil function of a cell is
evaluated at the centroid of its inside part (so it never leaves the disk, where ``k_z`` would turn
imaginary). The DFT itself is taken at the cell centres, which keeps it separable:
``E = A_y . P . A_x^T``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .zernike import zernike_basis

__all__ = ["PupilGrid", "make_pupil_grid", "sample_nodes", "dft_matrix", "PupilSampling", "pupil_sampling",
           "per_emitter_products"]

# Sub-samples per axis used to measure the area fraction and centroid of rim cells. The area is
# then exact to ~1e-4 of a cell, far below the pupil's own discretization error.
_RIM_SUBSAMPLES = 64


@dataclass(frozen=True)
class PupilGrid:
    """Static geometry of a discretized pupil (no aberrations, no emitter).

    Attributes
    ----------
    k_px : (N,) float64
        Cell-centre frequencies along one axis, cycles per frame pixel (same for x and y).
    dk_px : float
        Cell width, cycles per pixel.
    weight : (N, N) float64
        Fraction of each cell inside the pupil disk (0 outside, 1 inside).
    rho, theta : (N, N) float64
        Normalized radius and azimuth of each cell's inside centroid (rows = ky, columns = kx).
    """

    k_px: np.ndarray
    dk_px: float
    weight: np.ndarray
    rho: np.ndarray
    theta: np.ndarray


def _rim_cell_geometry(x0: np.ndarray, y0: np.ndarray, h: float, s: int):
    """Area fraction and inside centroid of square cells ``[x0, x0+h) x [y0, y0+h)`` vs the unit disk."""
    t = (np.arange(s) + 0.5) / s * h
    xs = x0[:, None, None] + t[None, None, :]
    ys = y0[:, None, None] + t[None, :, None]
    inside = (xs**2 + ys**2) <= 1.0
    count = inside.sum(axis=(1, 2))
    frac = count / float(s * s)
    safe = np.maximum(count, 1)
    cx = (inside * xs).sum(axis=(1, 2)) / safe
    cy = (inside * ys).sum(axis=(1, 2)) / safe
    return frac, cx, cy


def make_pupil_grid(n_cells: int, na: float, wavelength_nm: float, pixel_size_nm: float) -> PupilGrid:
    """Build the area-weighted pupil grid.

    Parameters
    ----------
    n_cells : int
        Cells across the pupil diameter (even, so that the grid is symmetric about k = 0 and the
        mirror symmetries of physics.md hold exactly).
    na, wavelength_nm, pixel_size_nm : float
        Numerical aperture, vacuum wavelength and frame pixel size.
    """
    if n_cells < 4 or n_cells % 2:
        raise ValueError(f"pupil_size must be an even integer >= 4, got {n_cells}")
    h = 2.0 / n_cells  # cell width in normalized pupil units (radius 1)
    u = (np.arange(n_cells) + 0.5) * h - 1.0  # cell centres
    ux, uy = np.meshgrid(u, u)  # [row = y, column = x]
    # Classify cells by their nearest and farthest corners from the origin.
    ax, ay = np.abs(ux), np.abs(uy)
    near = np.hypot(np.maximum(ax - h / 2, 0), np.maximum(ay - h / 2, 0))
    far = np.hypot(ax + h / 2, ay + h / 2)
    weight = (far <= 1.0).astype(np.float64)
    cx, cy = ux.copy(), uy.copy()
    rim = (near < 1.0) & (far > 1.0)
    frac, rx, ry = _rim_cell_geometry(ux[rim] - h / 2, uy[rim] - h / 2, h, _RIM_SUBSAMPLES)
    weight[rim] = frac
    cx[rim], cy[rim] = rx, ry
    k_scale = na / wavelength_nm * pixel_size_nm  # pupil radius in cycles per pixel
    return PupilGrid(
        k_px=u * k_scale,
        dk_px=h * k_scale,
        weight=weight,
        rho=np.minimum(np.hypot(cx, cy), 1.0),
        theta=np.arctan2(cy, cx),
    )


def sample_nodes(mode: str, quadrature: int, oversample: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample offsets inside a unit pixel and their weights (weights sum to 1).

    ``direct``: Gauss-Legendre nodes (exact for polynomials of degree 2q-1 along each axis).
    ``oversampled``: centres of ``s`` equal sub-pixels (midpoint rule, what binning a finer
    render computes).
    """
    if mode == "direct":
        xi, w = np.polynomial.legendre.leggauss(int(quadrature))
        return (xi + 1.0) / 2.0, w / 2.0
    if mode == "oversampled":
        s = int(oversample)
        return (np.arange(s) + 0.5) / s, np.full(s, 1.0 / s)
    raise ValueError(f"mode must be 'direct' or 'oversampled', got {mode!r}")


def dft_matrix(k_px: np.ndarray, positions_px: np.ndarray, sqrt_weights: np.ndarray | None = None) -> np.ndarray:
    """``exp(+i 2 pi k x)`` for positions (rows) and pupil frequencies (columns), complex128.

    Optional ``sqrt_weights`` scale the rows so that ``|E|^2`` already carries the quadrature
    weight of each sample (saves a pass over the intensity).
    """
    a = np.exp(2j * np.pi * np.outer(positions_px, k_px))
    if sqrt_weights is not None:
        a *= sqrt_weights[:, None]
    return a


@dataclass(frozen=True, eq=False)
class PupilSampling:
    """The static arrays that every pupil-function PSF rendered by a matrix DFT shares.

    "Compact" arrays hold the cells inside the pupil (weight > 0) in row-major order; the inside
    cells of each pupil row are one contiguous run (``row_runs``), so compact arrays are scattered
    into the square grid by slice copies.

    Attributes
    ----------
    grid : PupilGrid
    inside : (C,) int64
        Flat indices of the inside cells in the ``N x N`` grid.
    rho, theta, weight : (C,) float64
        Normalized radius, azimuth and area weight of the inside cells.
    cos_t : (N*N,) float64
        Cosine of the ray angle in the immersion medium, every cell (its sine is ``rho NA / n``).
    kz_phase : (C,) float32
        Defocus phase per nm of z, ``2 pi (n/lambda)(cos theta - 1)`` (radians / nm).
    phase0 : (C,) float32
        Phase of the global Zernike aberrations (radians).
    basis : (K, C) float32
        Zernike modes ``noll`` in radians per nm of RMS coefficient.
    kx_ramp, ky_ramp : (C,) float32
        ``-2 pi k`` (radians per pixel of emitter offset): the pupil phase ramp of a lateral shift.
    positions : (M,) float64
        Sample positions along one axis relative to the patch centre ``r + 1/2`` (pixels),
        ``M = (2r+1) * samples per pixel``.
    sqrt_weights : (M,) float64
        Square roots of the samples' quadrature weights.
    samples_per_px : int
    row_runs : tuple of (row, lo, hi, offset)
        Pupil row ``row`` holds compact cells ``offset .. offset + hi - lo`` in columns ``lo:hi``.
    """

    grid: PupilGrid
    inside: np.ndarray
    rho: np.ndarray
    theta: np.ndarray
    weight: np.ndarray
    cos_t: np.ndarray
    kz_phase: np.ndarray
    phase0: np.ndarray
    basis: np.ndarray
    kx_ramp: np.ndarray
    ky_ramp: np.ndarray
    positions: np.ndarray
    sqrt_weights: np.ndarray
    samples_per_px: int
    row_runs: tuple

    def phases(self, z: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Pupil phase (radians) at the inside cells, shape (n, C): defocus, global and per-emitter
        aberrations; dtype follows ``z``."""
        dt = z.dtype
        phase = np.multiply.outer(z, self.kz_phase.astype(dt, copy=False))
        phase += self.phase0.astype(dt, copy=False)
        if c.shape[1]:
            phase += per_emitter_products(c, self.basis.astype(dt, copy=False))
        return phase

    def add_shift(self, phase: np.ndarray, dx: np.ndarray, dy: np.ndarray, centre: float) -> None:
        """Add (in place, float32) the ramps of the emitters' offsets ``(dx, dy) - centre`` pixels."""
        phase += np.multiply.outer((dx - centre).astype(np.float32), self.kx_ramp)
        phase += np.multiply.outer((dy - centre).astype(np.float32), self.ky_ramp)

    def scatter(self, compact: np.ndarray, out: np.ndarray) -> None:
        """Copy compact values (n, C) into the square grids ``out`` (n, N, N) (outside cells untouched)."""
        for u, lo, hi, off in self.row_runs:
            out[:, u, lo:hi] = compact[:, off:off + hi - lo]


def pupil_sampling(pupil_size: int, na: float, wavelength_nm: float, immersion_index: float,
                   pixel_size_nm: float, radius_px: int, global_coeffs_nm, noll, mode: str,
                   quadrature: int, oversample: int) -> PupilSampling:
    """Build the :class:`PupilSampling` of a pupil PSF (aberrations as Noll index / RMS nm pairs)."""
    lam, n_imm = wavelength_nm, immersion_index
    grid = make_pupil_grid(pupil_size, na, lam, pixel_size_nm)
    rho, theta, w = grid.rho.ravel(), grid.theta.ravel(), grid.weight.ravel()
    sin_t = rho * na / n_imm  # sine of the ray angle in the immersion medium
    cos_t = np.sqrt(1.0 - sin_t**2)
    inside = w > 0
    wave = 2.0 * np.pi / lam  # radians per nm of wavefront
    w_global = np.zeros_like(rho)
    if global_coeffs_nm:
        js, cs = zip(*global_coeffs_nm)
        w_global = np.tensordot(np.asarray(cs), zernike_basis(js, rho, theta), axes=1)
    # k_z - n/lambda (cycles per nm) from the centroid's ray angle: <= 0, zero on axis.
    kz_rel = (n_imm / lam) * (cos_t - 1.0)
    basis = zernike_basis(noll, rho, theta) * wave if noll else np.zeros((0, rho.size))
    nodes, weights = sample_nodes(mode, quadrature, oversample)
    size = 2 * int(radius_px) + 1
    # sample positions relative to the patch centre (r + 1/2): the emitter's offset from it,
    # which becomes a pupil phase ramp, stays within half a pixel (small float32 phases)
    pos = (np.arange(size)[:, None] + nodes[None, :]).ravel() - (radius_px + 0.5)
    sqw = np.tile(np.sqrt(weights), size)
    rows, cols = np.divmod(np.flatnonzero(inside), pupil_size)
    # Inside cells of each pupil row are one contiguous run: scattering the compact phase
    # arrays row by row (slice copies) is ~10x faster than fancy indexing.
    mask = inside.reshape(pupil_size, pupil_size)
    runs, offset = [], 0
    for u in range(pupil_size):
        v = np.flatnonzero(mask[u])
        if v.size:
            runs.append((u, int(v[0]), int(v[-1]) + 1, offset))
            offset += v.size
    return PupilSampling(
        grid=grid,
        inside=np.flatnonzero(inside),
        rho=rho[inside], theta=theta[inside], weight=w[inside],
        cos_t=cos_t,
        kz_phase=(2.0 * np.pi * kz_rel)[inside].astype(np.float32),
        phase0=(wave * w_global)[inside].astype(np.float32),
        basis=basis[:, inside].astype(np.float32),
        kx_ramp=(-2.0 * np.pi * grid.k_px[cols]).astype(np.float32),  # ramp phase per pixel of shift
        ky_ramp=(-2.0 * np.pi * grid.k_px[rows]).astype(np.float32),
        positions=pos, sqrt_weights=sqw, samples_per_px=int(nodes.size), row_runs=tuple(runs),
    )


def per_emitter_products(c: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``c @ basis`` computed one emitter (row of ``c``) at a time: ``c`` (n, K), ``basis`` (K, m) -> (n, m).

    A stacked ``np.matmul`` calls one product per row, all of one shape, so a row's rounding
    depends on its own values only. A product over several emitters does not: with OpenBLAS on
    AVX-512 a row's result changes in its last bits with the number of rows of the product and
    with the row's place in it, so emitters rendered together would change each other's patches
    and a movie would depend on its chunking. Every product of the Zernike and vectorial renders
    is per emitter for this reason (stacked matmuls over the batch).
    """
    return np.matmul(c[:, None, :], basis)[:, 0]


def per_emitter_coeffs(coeffs_nm, n: int, noll: tuple[int, ...]) -> np.ndarray:
    """Per-emitter Zernike coefficients as an (n, len(noll)) float64 array (zeros when None)."""
    k = len(noll)
    if coeffs_nm is None:
        return np.zeros((n, k))
    c = np.asarray(coeffs_nm, dtype=np.float64)
    if c.ndim == 1 and n == 1:
        c = c[None, :]
    if c.shape != (n, k):
        raise ValueError(f"coeffs_nm must have shape ({n}, {k}) for noll={noll}, got {c.shape}")
    return c
