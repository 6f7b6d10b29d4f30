"""Cubic-spline PSFs: 64 polynomial coefficients per voxel (Babcock & Zhuang 2017; Li et al. 2018).

The PSF is a piecewise tricubic polynomial on a voxel grid whose lateral voxel is one camera
pixel. Inside voxel ``(k, i, j)`` (z plane, row, column)::

    f(w, v, u) = sum_p c[k, i, j, p] * w**pz * v**py * u**px,   p = 16 * pz + 4 * py + px

with ``(w, v, u)`` in ``[0, 1)`` the fractional position inside the voxel along z, y (rows) and
x (columns). This is *our* layout: ``coeffs`` has shape ``(nz, ny, nx, 64)``, z grows with the
plane index. The files of other tools use other layouts; ``pipeline/inputs/spline_files.py``
converts them (docs/physics.md §4.6 lists the conventions).

A spline calibration is fitted to *pixel values* (a bead stack, or an analytic model integrated
over pixels), so ``f`` at a displacement ``d`` from the emitter already is the fraction of photons
in a pixel whose centre lies at ``d``: rendering evaluates ``f`` at pixel centres, with no further
integration. Spline coordinates of a patch pixel: ``s = centre + (pixel centre - emitter)``, so all
pixels of one emitter share the fractional part of ``s`` and a patch is a rectangular block of the
voxel grid: per emitter the 64 monomials are computed once and each pixel costs one gathered row of
64 coefficients and 64 multiply-adds. Outside the calibrated window ``[0, n)`` the PSF is 0.

Normalization (the photons contract): every z plane of the calibration integrates to 1. The
renderer divides by ``S(z) = sum over the window's nodes of f(node, z)`` - a cubic polynomial in
``w`` per z voxel, precomputed - so that an emitter on a node position puts exactly its photons
into the window at any z, whatever the file's own normalization. Negative values (ringing of the
interpolant, noise in a measured calibration) are set to 0.

Building coefficients (:func:`coefficients_from_refined`): the approach of SMAP's
``Spline3D_interp.m`` - sample the volume on a grid 3x finer in every axis and solve, per voxel,
the tricubic through its 4 x 4 x 4 sub-samples (corners shared with the neighbours, so the spline
is continuous). What fills the finer grid is up to the caller: the model itself
(:func:`spline_from_model`), or an interpolation of measured node values
(:func:`refine_fourier` laterally, :func:`refine_spline` along z; see :func:`coefficients_from_nodes`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np

from .psf import Patches, _as_positions, patch_origin

__all__ = [
    "N_COEFFS", "REFINE", "SplinePSF", "RegionalSplinePSF", "monomials", "coefficients_from_refined",
    "coefficients_from_nodes", "refine_fourier", "refine_spline", "fourier_shift", "flip_axis", "swap_xy",
    "spline_from_model", "spline_batch_bytes", "SPLINE_BATCH",
]

N_COEFFS = 64
#: sub-samples per voxel side used to build the per-voxel tricubic (SMAP's factor)
REFINE = 3
#: emitters per render batch: their gathered coefficient rows (0.9 MB for 15x15 patches, 2.6 MB
#: for 25x25) stay in cache between the gather and the product (measured best of 4..72)
SPLINE_BATCH = 16


def _powers(t: np.ndarray) -> np.ndarray:
    """(n, 4) float64: 1, t, t^2, t^3."""
    t = np.asarray(t, dtype=np.float64)
    return t[:, None] ** np.arange(4)[None, :]


def monomials(u, v, w) -> np.ndarray:
    """The 64 monomials ``w**pz * v**py * u**px`` at index ``16 pz + 4 py + px``, shape (n, 64).

    ``u``, ``v``, ``w``: fractional positions along x (columns), y (rows) and z, each (n,).
    """
    pu, pv, pw = _powers(np.atleast_1d(u)), _powers(np.atleast_1d(v)), _powers(np.atleast_1d(w))
    return (pw[:, :, None, None] * pv[:, None, :, None] * pu[:, None, None, :]).reshape(-1, N_COEFFS)


def _sample_inverse() -> np.ndarray:
    """Inverse of the 4x4 Vandermonde matrix at t = 0, 1/3, 2/3, 1: sub-samples -> polynomial coefficients."""
    t = np.arange(REFINE + 1) / REFINE
    return np.linalg.inv(t[:, None] ** np.arange(4)[None, :])


def coefficients_from_refined(refined: np.ndarray) -> np.ndarray:
    """Per-voxel tricubic coefficients from a volume sampled 3x finer than the voxel grid.

    Parameters
    ----------
    refined : (3 nz + 1, 3 ny + 1, 3 nx + 1) array
        Samples at ``(k/3, i/3, j/3)`` voxel units (z, y, x), corners included.

    Returns
    -------
    (nz, ny, nx, 64) float64
        In voxel ``(k, i, j)`` the tricubic through its 4 x 4 x 4 sub-samples (exact: a tensor
        product of 1-D cubic interpolations through t = 0, 1/3, 2/3, 1).
    """
    a = np.asarray(refined, dtype=np.float64)
    if a.ndim != 3 or any((s - 1) % REFINE or s < REFINE + 1 for s in a.shape):
        raise ValueError(f"refined volume must have sides 3n + 1 (n >= 1), got {a.shape}")
    inv = _sample_inverse()
    for axis in range(3):
        n = (a.shape[2 * axis] - 1) // REFINE
        idx = REFINE * np.arange(n)[:, None] + np.arange(REFINE + 1)[None, :]  # (n, 4)
        block = np.take(a, idx, axis=2 * axis)  # the axis becomes (n, 4)
        a = np.moveaxis(np.tensordot(block, inv, axes=([2 * axis + 1], [1])), -1, 2 * axis + 1)
    nz, _, ny, _, nx, _ = a.shape  # (nz, pz, ny, py, nx, px)
    return np.ascontiguousarray(a.transpose(0, 2, 4, 1, 3, 5)).reshape(nz, ny, nx, N_COEFFS)


def refine_spline(values: np.ndarray, axis: int, factor: int = REFINE) -> np.ndarray:
    """Not-a-knot cubic spline through samples at integer positions, evaluated at ``k / factor``.

    The interpolant MATLAB's ``spline``/``interp3(..., 'spline')`` uses (so SMAP's). An axis of n
    samples becomes ``factor * (n - 1) + 1``; with fewer than 4 samples the interpolating
    polynomial (not-a-knot's limit).
    """
    v = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    n = v.shape[-1]
    t = np.arange(factor * (n - 1) + 1) / factor
    if n < 4:
        # the interpolating polynomial of degree n - 1 (Lagrange)
        nodes = np.arange(n, dtype=np.float64)
        basis = np.ones((t.size, n))
        for j in range(n):
            for m in range(n):
                if m != j:
                    basis[:, j] *= (t - nodes[m]) / (nodes[j] - nodes[m])
        return np.moveaxis(v @ basis.T, -1, axis)
    # second derivatives M from the data: tridiagonal interior rows, not-a-knot end rows (h = 1)
    a = np.zeros((n, n))
    b = np.zeros((n, n))
    a[0, :3] = (1.0, -2.0, 1.0)
    a[-1, -3:] = (1.0, -2.0, 1.0)
    for i in range(1, n - 1):
        a[i, i - 1:i + 2] = (1.0, 4.0, 1.0)
        b[i, i - 1:i + 2] = (6.0, -12.0, 6.0)
    m_of_y = np.linalg.solve(a, b)  # (n, n): M = m_of_y @ y
    seg = np.minimum(np.floor(t).astype(int), n - 2)
    s = t - seg
    rows = np.arange(t.size)
    value = np.zeros((t.size, n))
    value[rows, seg] += 1 - s
    value[rows, seg + 1] += s
    value += (((1 - s) ** 3 - (1 - s)) / 6.0)[:, None] * m_of_y[seg] + ((s**3 - s) / 6.0)[:, None] * m_of_y[seg + 1]
    return np.moveaxis(v @ value.T, -1, axis)


def _odd_length(n: int, pad: int) -> int:
    m = n + 2 * pad
    return m + 1 if m % 2 == 0 else m


def refine_fourier(values: np.ndarray, axis: int, factor: int = REFINE, pad: int = 8) -> np.ndarray:
    """Band-limited (trigonometric) interpolation of samples at integer positions, at ``k / factor``.

    The samples are zero-extended by ``pad`` on each side (to an odd length, so there is no
    Nyquist term) and interpolated by zero-padding the spectrum. Exact for a band-limited signal
    sampled above its Nyquist rate that vanishes outside the window - which a pixel-integrated PSF
    (band limit 2 NA / lambda cycles per length) nearly is.
    """
    v = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    n = v.shape[-1]
    m = _odd_length(n, pad)
    padded = np.zeros(v.shape[:-1] + (m,))
    padded[..., pad:pad + n] = v
    up = np.fft.irfft(np.fft.rfft(padded, axis=-1), n=factor * m, axis=-1) * factor
    return np.moveaxis(up[..., factor * pad: factor * pad + factor * (n - 1) + 1], -1, axis)


def fourier_shift(image: np.ndarray, dy: float, dx: float, pad: int = 8) -> np.ndarray:
    """``image`` (..., Y, X) resampled at ``(row + dy, column + dx)`` by band-limited interpolation.

    A content at position p moves to p - d. Zero extension by ``pad`` as in :func:`refine_fourier`.
    """
    a = np.asarray(image, dtype=np.float64)
    ny, nx = a.shape[-2:]
    my, mx = _odd_length(ny, pad), _odd_length(nx, pad)
    padded = np.zeros(a.shape[:-2] + (my, mx))
    padded[..., pad:pad + ny, pad:pad + nx] = a
    fy = np.fft.fftfreq(my)[:, None]
    fx = np.fft.rfftfreq(mx)[None, :]
    spectrum = np.fft.rfft2(padded) * np.exp(2j * np.pi * (fy * dy + fx * dx))
    return np.fft.irfft2(spectrum, s=(my, mx))[..., pad:pad + ny, pad:pad + nx]


def coefficients_from_nodes(nodes: np.ndarray, lateral: str = "fourier", oversample: int = 1) -> np.ndarray:
    """Coefficients of the spline through node values ``nodes`` (nz + 1, ny + 1, nx + 1), one node per pixel.

    Laterally ``"fourier"`` (band-limited, :func:`refine_fourier`) or ``"spline"`` (not-a-knot, as
    SMAP); along z always the not-a-knot spline. With ``oversample`` k > 1 the lateral voxel is
    1/k pixel: shape (nz, k ny, k nx, 64), node (i, j) of the input at voxel corner (k i, k j).
    See docs/physics.md §4.6 for why the lateral interpolant is band-limited by default.
    """
    a = np.asarray(nodes, dtype=np.float64)
    k = int(oversample)
    if a.ndim != 3 or min(a.shape) < 2:
        raise ValueError(f"nodes must be 3-D with at least 2 nodes per axis, got {a.shape}")
    if k < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    if lateral == "fourier":
        a = refine_fourier(refine_fourier(a, 1, REFINE * k), 2, REFINE * k)
    elif lateral == "spline":
        a = refine_spline(refine_spline(a, 1, REFINE * k), 2, REFINE * k)
    else:
        raise ValueError(f"lateral must be 'fourier' or 'spline', got {lateral!r}")
    return coefficients_from_refined(refine_spline(a, 0))


# ------------------------------------------------------------------------------- layout changes
def _flip_matrix() -> np.ndarray:
    """B[q, p] = binom(p, q) (-1)^q: the coefficients of sum_p c_p (1 - t)^p in powers t^q."""
    return np.array([[math.comb(p, q) * (-1) ** q for p in range(4)] for q in range(4)], dtype=np.float64)


def flip_axis(coeffs: np.ndarray, axis: str) -> np.ndarray:
    """The same spline with axis ``"z"``, ``"y"`` or ``"x"`` reversed (voxel order and t -> 1 - t); exact."""
    a = np.asarray(coeffs, dtype=np.float64)
    nz, ny, nx, _ = a.shape
    k = {"z": 0, "y": 1, "x": 2}[axis]
    a = np.flip(a, axis=k).reshape(nz, ny, nx, 4, 4, 4)
    a = np.moveaxis(np.tensordot(a, _flip_matrix(), axes=([3 + k], [1])), -1, 3 + k)
    return np.ascontiguousarray(a).reshape(nz, ny, nx, N_COEFFS)


def swap_xy(coeffs: np.ndarray) -> np.ndarray:
    """The spline with x and y exchanged: the voxel axes and the px/py digits of the index."""
    a = np.asarray(coeffs)
    nz, ny, nx, _ = a.shape
    a = a.reshape(nz, ny, nx, 4, 4, 4).transpose(0, 2, 1, 3, 5, 4)
    return np.ascontiguousarray(a).reshape(nz, nx, ny, N_COEFFS)


# ------------------------------------------------------------------------------------- renderer
def spline_batch_bytes(radius_px: int, batch: int = SPLINE_BATCH) -> int:
    """Working memory of one render batch: gathered coefficient rows (float32), their int64 index
    and float32 temporaries."""
    pixels = (2 * int(radius_px) + 1) ** 2
    return batch * pixels * (N_COEFFS * 4 + 8 + 4 * 4)


@dataclass(frozen=True, eq=False)
class SplinePSF:
    """A cubic-spline PSF (module docstring for the layout and the evaluation rule).

    Parameters
    ----------
    coeffs : (nz, ny, nx, 64) array
        Stored as float32 (rounding ~1e-7 of the peak).
    dz_nm : float
        Axial voxel size.
    z_first_nm : float
        z of node plane 0 (the calibrated range is ``[z_first, z_first + nz dz]``).
    centre_yx : (float, float)
        Spline coordinates (voxel units, node 0 = 0) of the emitter's position: a pixel whose
        centre is at displacement ``(dy, dx)`` from the emitter reads ``f(centre + (dy, dx))``.
    pixel_size_nm : float
        The lateral voxel (= the camera pixel the calibration was made for).
    radius_px : int
        Patch half-width.
    clamp_z : bool
        Emitters outside the calibrated z range take the nearest calibrated plane; when false
        they raise ValueError (the pipeline refuses them when planning).
    oversample : int
        Lateral voxels per pixel (1 in SMAP's and DECODE's files; our own files may hold a finer
        grid). Pixel centres are ``oversample`` voxels apart and still share the fractions.
    """

    coeffs: np.ndarray
    dz_nm: float
    z_first_nm: float
    centre_yx: tuple[float, float]
    pixel_size_nm: float = 100.0
    radius_px: int = 7
    clamp_z: bool = False
    oversample: int = 1
    _table: np.ndarray = field(init=False, repr=False)
    _norm: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        c = np.asarray(self.coeffs)
        if c.ndim != 4 or c.shape[3] != N_COEFFS or min(c.shape[:3]) < 1:
            raise ValueError(f"coeffs must have shape (nz, ny, nx, 64), got {c.shape}")
        if not (self.dz_nm > 0 and self.pixel_size_nm > 0 and self.radius_px >= 0 and int(self.oversample) >= 1):
            raise ValueError(f"invalid SplinePSF parameters: dz_nm={self.dz_nm}, pixel_size_nm={self.pixel_size_nm}, "
                             f"radius_px={self.radius_px}")
        if not np.isfinite(c).all():
            raise ValueError("coeffs must be finite")
        k = int(self.oversample)
        nz, ny, nx, _ = c.shape
        if ny % k or nx % k:
            raise ValueError(f"lateral voxels ({ny}, {nx}) must be multiples of oversample = {k}")
        st = object.__setattr__
        st(self, "coeffs", np.asarray(c, dtype=np.float32))
        st(self, "centre_yx", (float(self.centre_yx[0]), float(self.centre_yx[1])))
        st(self, "oversample", k)
        # The table holds voxel (z, iy, ix) at [z, iy % k, ix % k, iy // k, ix // k]: a patch's
        # pixel centres are k voxels apart, so one patch reads one phase, whose rows of voxels
        # are adjacent in memory. One extra all-zero row: what pixels outside the window gather.
        table = np.zeros((nz * ny * nx + 1, N_COEFFS), dtype=np.float32)
        table[:-1] = self.coeffs.reshape(nz, ny // k, k, nx // k, k, N_COEFFS).transpose(0, 2, 4, 1, 3, 5).reshape(-1, N_COEFFS)
        table.setflags(write=False)
        st(self, "_table", table)
        # S(z) per z voxel: sum over the window's pixel-spaced nodes (u = v = 0) of the z polynomial
        # (with oversampling: the nodes of one pixel phase, that of the centre)
        oy, ox = (int(math.floor(v)) % k for v in self.centre_yx)
        st(self, "_norm", c[:, oy::k, ox::k][..., [0, 16, 32, 48]].astype(np.float64).sum(axis=(1, 2)).reshape(nz, 4))

    # -- geometry -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int]:
        """Voxels (nz, ny, nx)."""
        return tuple(int(s) for s in self.coeffs.shape[:3])

    @property
    def size(self) -> int:
        """Patch side in pixels, ``2 * radius_px + 1``."""
        return 2 * int(self.radius_px) + 1

    @property
    def z_range_nm(self) -> tuple[float, float]:
        """The calibrated z range (nm), ends included."""
        return self.z_first_nm, self.z_first_nm + self.shape[0] * self.dz_nm

    @property
    def nbytes(self) -> int:
        """Bytes held: the coefficient table."""
        return int(self._table.nbytes + self._norm.nbytes)

    def with_radius(self, radius_px: int, clamp_z: bool | None = None) -> SplinePSF:
        """The same calibration (arrays shared, not copied) with another patch radius and clamping rule."""
        if int(radius_px) < 0:
            raise ValueError(f"radius_px must be >= 0, got {radius_px}")
        other = copy.copy(self)
        object.__setattr__(other, "radius_px", int(radius_px))
        object.__setattr__(other, "clamp_z", self.clamp_z if clamp_z is None else bool(clamp_z))
        return other

    def _z_voxel(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nz = self.shape[0]
        s = (z - self.z_first_nm) / self.dz_nm
        # a hair outside (rounding of z_first + nz dz) counts as the end
        s = np.where(np.abs(s) < 1e-9, 0.0, np.where(np.abs(s - nz) < 1e-9, float(nz), s))
        outside = (s < 0) | (s > nz) | ~np.isfinite(s)
        if outside.any():
            if not self.clamp_z or not np.isfinite(s).all():
                lo, hi = self.z_range_nm
                bad = z[outside][0]
                raise ValueError(f"z = {bad:g} nm is outside the calibrated range [{lo:g}, {hi:g}] nm "
                                 f"({int(outside.sum())} emitter(s))")
            s = np.clip(s, 0.0, float(nz))
        k = np.minimum(np.floor(s).astype(np.int64), nz - 1)
        return k, s - k

    def plane_sum(self, z_nm) -> np.ndarray:
        """``S(z)``: the sum of the spline over the window's nodes at z (what :meth:`render` divides by)."""
        z = np.atleast_1d(np.asarray(z_nm, dtype=np.float64))
        k, w = self._z_voxel(z)
        return np.einsum("nq,nq->n", self._norm[k], _powers(w))

    def _rows(self, kz, iy, ix) -> np.ndarray:
        """Table rows of voxels (kz, iy, ix) (broadcast); the zero row where (iy, ix) is outside the window."""
        _, ny, nx = self.shape
        k = self.oversample
        inside = (iy >= 0) & (iy < ny) & (ix >= 0) & (ix < nx)
        flat = (((kz * k + iy % k) * k + ix % k) * (ny // k) + iy // k) * (nx // k) + ix // k
        return np.where(inside, flat, self._table.shape[0] - 1)

    def evaluate(self, y, x, z_nm) -> np.ndarray:
        """The raw spline ``f`` at spline coordinates (voxel units) y, x and at z (nm); 0 outside the window."""
        y, x = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64))
        z = np.broadcast_to(np.asarray(z_nm, dtype=np.float64), y.shape)
        shape = y.shape
        y, x, z = y.ravel(), x.ravel(), z.ravel()
        kz, w = self._z_voxel(z)
        iy, ix = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
        m = monomials(x - ix, y - iy, w)
        return np.einsum("np,np->n", self._table[self._rows(kz, iy, ix)].astype(np.float64), m).reshape(shape)

    # -- render ---------------------------------------------------------------------------------
    def render(self, x_px, y_px, z_nm=None, coeffs_nm=None, batch: int | None = None) -> Patches:
        """Render patches: the spline at the patch's pixel centres, divided by ``S(z)``, negatives set to 0.

        Parameters
        ----------
        x_px, y_px : (n,) float
            Emitter positions in frame pixels.
        z_nm : (n,) float or scalar, optional
            Axial positions (0 when omitted), inside :attr:`z_range_nm` unless ``clamp_z``.
        coeffs_nm : ignored
            (the spline has no per-emitter aberrations; the argument keeps the PSF call uniform)
        batch : int, optional
            Emitters per gather (default :data:`SPLINE_BATCH`).

        Notes
        -----
        A patch that lies inside the window (the usual case: the window is larger) is gathered as
        P rows of P adjacent table rows through a strided view; one that leaves it, row by row
        with the zero row outside. Both compute the same sums.
        """
        x, y, z = _as_positions(x_px, y_px, z_nm)
        size = self.size
        row0, col0 = patch_origin(x, y, self.radius_px)
        kz, w = self._z_voxel(z)
        cy, cx = self.centre_yx
        k = self.oversample
        # spline coordinates of the patch's first pixel centre; every pixel shares the fractions
        sy, sx = cy + k * (row0 + 0.5 - y), cx + k * (col0 + 0.5 - x)
        iy0, ix0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
        m = monomials(sx - ix0, sy - iy0, w).astype(np.float32)
        scale = (1.0 / np.einsum("nq,nq->n", self._norm[kz], _powers(w))).astype(np.float32)
        nz, ny, nx = self.shape
        nyk, nxk = ny // k, nx // k
        steps = np.arange(size)
        inside = (iy0 >= 0) & (iy0 + k * (size - 1) < ny) & (ix0 >= 0) & (ix0 + k * (size - 1) < nx)
        view = None
        if nxk >= size:
            t6 = self._table[:-1].reshape(nz, k, k, nyk, nxk, N_COEFFS)
            view = np.lib.stride_tricks.as_strided(t6, shape=(nz, k, k, nyk, nxk - size + 1, size, N_COEFFS),
                                                   strides=(*t6.strides[:5], t6.strides[4], t6.strides[5]),
                                                   writeable=False)
        out = np.empty((x.size, size, size), dtype=np.float32)
        batch = SPLINE_BATCH if batch is None else max(int(batch), 1)
        for s in range(0, x.size, batch):
            for sel in (np.flatnonzero(inside[s:s + batch]) + s, np.flatnonzero(~inside[s:s + batch]) + s):
                if not sel.size:
                    continue
                if view is not None and inside[sel[0]]:
                    py, px = iy0[sel] % k, ix0[sel] % k
                    gathered = view[kz[sel, None], py[:, None], px[:, None], iy0[sel, None] // k + steps, ix0[sel, None] // k]
                else:
                    iy = iy0[sel, None, None] + k * steps[None, :, None]
                    ix = ix0[sel, None, None] + k * steps[None, None, :]
                    gathered = np.take(self._table, self._rows(kz[sel, None, None], iy, ix), axis=0)
                values = np.matmul(gathered.reshape(sel.size, size * size, N_COEFFS), m[sel, :, None])
                values = values.reshape(sel.size, size, size) * scale[sel, None, None]
                out[sel] = np.maximum(values, 0.0)
        return Patches(out, row0, col0)


@dataclass(frozen=True, eq=False)
class RegionalSplinePSF:
    """Spatially varying calibration: one :class:`SplinePSF` per field region (SMAP's array of SXY).

    ``regions[i] = (x_lo, x_hi, y_lo, y_hi)`` in frame pixels (half-open, may be infinite): an
    emitter at (x, y) uses the first region that holds it, else the nearest one (by distance to
    the region's rectangle).
    """

    regions: tuple[tuple[float, float, float, float], ...]
    models: tuple[SplinePSF, ...]

    def __post_init__(self):
        if not self.models or len(self.models) != len(self.regions):
            raise ValueError("need one SplinePSF per region, at least one")
        if len({m.radius_px for m in self.models}) != 1:
            raise ValueError("all regions must render the same patch radius")

    @property
    def radius_px(self) -> int:
        return self.models[0].radius_px

    @property
    def z_range_nm(self) -> tuple[float, float]:
        """The z range every region covers."""
        return max(m.z_range_nm[0] for m in self.models), min(m.z_range_nm[1] for m in self.models)

    def region_of(self, x_px, y_px) -> np.ndarray:
        """Index of the region each emitter uses."""
        x = np.atleast_1d(np.asarray(x_px, dtype=np.float64))
        y = np.atleast_1d(np.asarray(y_px, dtype=np.float64))
        r = np.asarray(self.regions, dtype=np.float64)  # (m, 4)
        dx = np.maximum(np.maximum(r[None, :, 0] - x[:, None], x[:, None] - r[None, :, 1]), 0.0)
        dy = np.maximum(np.maximum(r[None, :, 2] - y[:, None], y[:, None] - r[None, :, 3]), 0.0)
        inside = ((x[:, None] >= r[None, :, 0]) & (x[:, None] < r[None, :, 1])
                  & (y[:, None] >= r[None, :, 2]) & (y[:, None] < r[None, :, 3]))
        distance = np.where(inside, -1.0, np.hypot(dx, dy))
        return np.argmin(distance, axis=1)  # first of the minima: the first region that holds it

    def render(self, x_px, y_px, z_nm=None, coeffs_nm=None, batch: int | None = None) -> Patches:
        x, y, z = _as_positions(x_px, y_px, z_nm)
        which = self.region_of(x, y)
        size = 2 * self.radius_px + 1
        out = np.empty((x.size, size, size), dtype=np.float32)
        row0, col0 = patch_origin(x, y, self.radius_px)
        for i, model in enumerate(self.models):
            sel = np.flatnonzero(which == i)
            if sel.size:
                out[sel] = model.render(x[sel], y[sel], z[sel], batch=batch).values
        return Patches(out, row0, col0)


# --------------------------------------------------------------------------------- from a model
def spline_from_model(model, z_first_nm: float, dz_nm: float, nz: int, size_px: int, oversample: int = 1,
                      batch: int = 64) -> tuple[np.ndarray, tuple[float, float]]:
    """The spline of any PSF model that has ``render(x_px, y_px, z_nm) -> Patches`` (pixel-integrated).

    The model is evaluated exactly on the 3x refined grid - lateral sub-pixel phases a / (3 k),
    a = 0 .. 3k - 1 (the emitter moved by minus the phase), z planes every dz/3 - so no
    interpolation enters; each refined plane is normalized to integrate to 1 over the window's
    pixel-spaced nodes, which makes ``S(z)`` = 1 for every z. ``model.radius_px`` must cover the
    window.

    Parameters
    ----------
    z_first_nm, dz_nm, nz : the z nodes ``z_first + k dz``, k = 0..nz (nz voxels).
    size_px : the window is ``size_px`` pixels, centre pixel ``size_px // 2`` (as SMAP's fitter
        centres its spline); the node at ``size_px`` is evaluated too, as the last voxel's far side.
    oversample : lateral voxels per pixel k (1 for SMAP/DECODE files).

    Returns
    -------
    coeffs (nz, k size, k size, 64) float64, centre_yx (voxel units)
    """
    n, k = int(size_px), int(oversample)
    c = n // 2
    if model.radius_px < max(c, n - c) + 1:
        raise ValueError(f"the model's patch (radius {model.radius_px}) does not cover a {n}-pixel window")
    sub = REFINE * k  # sub-samples per pixel
    zs = z_first_nm + np.arange(REFINE * nz + 1) * (dz_nm / REFINE)
    refined = np.zeros((zs.size, sub * n + 1, sub * n + 1))
    x0 = 64.5  # a pixel centre, well inside any frame
    for a in range(sub):
        for b in range(sub):
            # emitter at the pixel centre minus (a, b)/sub: pixel centres sit at integer + phase displacements
            ey, ex = x0 - a / sub, x0 - b / sub
            for s in range(0, zs.size, batch):
                zz = zs[s:s + batch]
                p = model.render(np.full(zz.size, ex), np.full(zz.size, ey), zz)
                vals = np.asarray(p.values, dtype=np.float64)
                size = vals.shape[-1]
                sy = c + (p.row0[0] + np.arange(size) + 0.5 - ey)  # window coordinate (pixels) of each row
                sx = c + (p.col0[0] + np.arange(size) + 0.5 - ex)
                ay, ax = np.rint(sy * sub).astype(int), np.rint(sx * sub).astype(int)
                ky = (ay >= 0) & (ay <= sub * n)
                kx = (ax >= 0) & (ax <= sub * n)
                refined[s:s + zz.size, ay[ky][:, None], ax[kx][None, :]] = vals[:, ky][:, :, kx]
    node = refined[:, : sub * n: sub, : sub * n: sub].sum(axis=(1, 2))  # the window's pixel nodes
    if np.any(node <= 0):
        raise ValueError("the model has no light in the window at some z")
    refined /= node[:, None, None]
    return coefficients_from_refined(refined), (float(k * c), float(k * c))
