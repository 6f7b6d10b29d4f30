"""Point-spread-function models rendered into pixel-integrated patches.

Three models share one call, ``render(x_px, y_px, z_nm, coeffs_nm=None, batch=...) -> Patches``
(batches of 256 emitters for the erf models, 32 for Zernike):

* :class:`GaussianPSF` - isotropic Gaussian, exact pixel integration by erf differences.
* :class:`AstigmaticPSF` - elliptical Gaussian with ``sigma_x(z)``, ``sigma_y(z)`` (Huang 2008).
* :class:`ZernikePSF` - scalar pupil with Zernike aberrations and defocus (Hanser et al. 2004),
  evaluated by an exact matrix DFT (Soummer et al. 2007) at quadrature nodes inside each pixel.

Coordinates (design.md section 6): positions are in frame pixel units, x to the right, y down,
origin at the top-left corner of pixel (0, 0); pixel (row i, column j) spans
``x in [j, j+1), y in [i, i+1)``. A patch is ``(2r+1) x (2r+1)`` pixels centred on the pixel that
contains the emitter: ``col0 = floor(x) - r``, ``row0 = floor(y) - r``. Patch values are the
fraction of the emitter's photons that land in each pixel; the PSF integrates to 1 over the
infinite plane, so a patch sums to slightly less than 1 (truncation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._pupil import dft_matrix, per_emitter_coeffs, pupil_sampling, sample_nodes

__all__ = ["Patches", "GaussianPSF", "AstigmaticPSF", "ZernikePSF", "patch_origin", "gaussian_pixel_weights"]

_SQRT2 = np.sqrt(2.0)


@dataclass(frozen=True)
class Patches:
    """Rendered PSF patches of ``n`` emitters.

    Attributes
    ----------
    values : (n, P, P) float32
        Fraction of each emitter's photons in each pixel, ``P = 2 * radius_px + 1``.
    row0, col0 : (n,) int64
        Frame row / column of patch row 0 / column 0 (may be negative or beyond the frame:
        the caller clips when it scatters the patches).
    """

    values: np.ndarray
    row0: np.ndarray
    col0: np.ndarray

    def __len__(self) -> int:
        return int(self.values.shape[0])


def _as_positions(x_px, y_px, z_nm=None):
    x = np.atleast_1d(np.asarray(x_px, dtype=np.float64))
    y = np.atleast_1d(np.asarray(y_px, dtype=np.float64))
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x_px and y_px must be 1-D of equal length, got {x.shape} and {y.shape}")
    if z_nm is None:
        z = np.zeros_like(x)
    else:
        z = np.broadcast_to(np.asarray(z_nm, dtype=np.float64), x.shape).copy()
    return x, y, z


def patch_origin(x_px: np.ndarray, y_px: np.ndarray, radius_px: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame row and column of a patch's first pixel: ``floor(y) - r``, ``floor(x) - r`` (int64)."""
    row0 = np.floor(np.asarray(y_px, dtype=np.float64)).astype(np.int64) - int(radius_px)
    col0 = np.floor(np.asarray(x_px, dtype=np.float64)).astype(np.int64) - int(radius_px)
    return row0, col0


def gaussian_pixel_weights(offset_px: np.ndarray, sigma_px: np.ndarray, size: int) -> np.ndarray:
    """Mass of a 1-D unit Gaussian in ``size`` consecutive unit pixels.

    Parameters
    ----------
    offset_px : (n,) float
        Emitter position relative to the left edge of pixel 0 of the patch.
    sigma_px : (n,) or scalar float
        Standard deviation in pixels.
    size : int
        Pixels in the patch.

    Returns
    -------
    (n, size) float64
        ``0.5 * [erf((e_{k+1} - x0) / (sqrt2 sigma)) - erf((e_k - x0) / (sqrt2 sigma))]``.
    """
    from scipy.special import erf  # (here: a run's client plans with this module but never renders)

    offset = np.asarray(offset_px, dtype=np.float64)
    sigma = np.broadcast_to(np.asarray(sigma_px, dtype=np.float64), offset.shape)
    edges = np.arange(size + 1, dtype=np.float64)[None, :] - offset[:, None]
    e = erf(edges / (_SQRT2 * sigma[:, None]))
    return 0.5 * np.diff(e, axis=1)


def _render_separable(x, y, sx_px, sy_px, radius_px, batch):
    """Separable erf rendering shared by the Gaussian models (outer product of two 1-D vectors)."""
    size = 2 * int(radius_px) + 1
    row0, col0 = patch_origin(x, y, radius_px)
    dx, dy = x - col0, y - row0
    out = np.empty((x.size, size, size), dtype=np.float32)
    batch = max(int(batch), 1)
    for s in range(0, x.size, batch):
        sl = slice(s, s + batch)
        ex = gaussian_pixel_weights(dx[sl], sx_px[sl], size)
        ey = gaussian_pixel_weights(dy[sl], sy_px[sl], size)
        out[sl] = ey[:, :, None] * ex[:, None, :]
    return Patches(out, row0, col0)


@dataclass(frozen=True)
class GaussianPSF:
    """Isotropic 2-D Gaussian PSF, integrated exactly over each pixel.

    Parameters
    ----------
    sigma_nm : float
        Standard deviation (design default: ``0.21 * wavelength / NA``).
    pixel_size_nm : float
    radius_px : int
        Patch half-width; the patch is ``(2r+1)^2`` pixels.
    """

    sigma_nm: float
    pixel_size_nm: float = 100.0
    radius_px: int = 7

    def __post_init__(self):
        if not (self.sigma_nm > 0 and self.pixel_size_nm > 0 and self.radius_px >= 0):
            raise ValueError(f"invalid GaussianPSF parameters: {self}")

    def render(self, x_px, y_px, z_nm=None, coeffs_nm=None, batch: int = 256) -> Patches:
        """Render patches; ``z_nm`` and ``coeffs_nm`` are ignored (the model has no z or aberrations)."""
        x, y, _ = _as_positions(x_px, y_px)
        s = np.full(x.shape, self.sigma_nm / self.pixel_size_nm)
        return _render_separable(x, y, s, s, self.radius_px, batch)


@dataclass(frozen=True)
class AstigmaticPSF:
    """Elliptical Gaussian with z-dependent widths (cylindrical-lens astigmatism).

    ``sigma_x(z) = sigma0 * sqrt(1 + ((z - c) / d)^2)``, ``sigma_y(z) = sigma0 * sqrt(1 + ((z + c) / d)^2)``
    with ``c = focal_offset_nm`` (config ``astig_d_nm``) and ``d = depth_nm`` (``astig_depth_nm``).
    """

    sigma0_nm: float
    focal_offset_nm: float = 400.0
    depth_nm: float = 500.0
    pixel_size_nm: float = 100.0
    radius_px: int = 7

    def __post_init__(self):
        if not (self.sigma0_nm > 0 and self.depth_nm > 0 and self.pixel_size_nm > 0 and self.radius_px >= 0):
            raise ValueError(f"invalid AstigmaticPSF parameters: {self}")

    def sigmas_nm(self, z_nm) -> tuple[np.ndarray, np.ndarray]:
        """``(sigma_x(z), sigma_y(z))`` in nm."""
        z = np.asarray(z_nm, dtype=np.float64)
        c, d = self.focal_offset_nm, self.depth_nm
        return (self.sigma0_nm * np.sqrt(1.0 + ((z - c) / d) ** 2),
                self.sigma0_nm * np.sqrt(1.0 + ((z + c) / d) ** 2))

    def render(self, x_px, y_px, z_nm=None, coeffs_nm=None, batch: int = 256) -> Patches:
        """Render patches; ``coeffs_nm`` is ignored."""
        x, y, z = _as_positions(x_px, y_px, z_nm)
        sx, sy = self.sigmas_nm(z)
        return _render_separable(x, y, sx / self.pixel_size_nm, sy / self.pixel_size_nm, self.radius_px, batch)


def _coeff_tuple(coeffs) -> tuple[tuple[int, float], ...]:
    if isinstance(coeffs, Mapping):
        coeffs = coeffs.items()
    return tuple(sorted((int(j), float(c)) for j, c in coeffs))


#: Emitters per Zernike render batch (see ZernikePSF.render)
ZERNIKE_BATCH = 32
#: ZernikePSF's defaults: pupil cells across the diameter, Gauss-Legendre nodes per pixel side
PUPIL_SIZE = 64
QUADRATURE = 3


def zernike_batch_bytes(pupil_size: int, samples_per_side: int, batch: int = ZERNIKE_BATCH) -> int:
    """Working memory of one Zernike render batch: pupils, phases, the two DFT products, intensities."""
    n, m = pupil_size, samples_per_side
    return batch * (5 * n * n + 2 * n * m + m * m) * 8


def zernike_working_bytes(radius_px: int, mode: str = "direct", oversample: int = 4,
                          quadrature: int = QUADRATURE, pupil_size: int = PUPIL_SIZE) -> int:
    """:func:`zernike_batch_bytes` of a :class:`ZernikePSF` with these settings (without building it)."""
    nodes, _ = sample_nodes(mode, quadrature, oversample)
    return zernike_batch_bytes(pupil_size, (2 * int(radius_px) + 1) * nodes.size)


@dataclass(frozen=True)
class ZernikePSF:
    """Scalar-pupil PSF with Zernike aberrations, rendered by an exact matrix DFT.

    Parameters
    ----------
    wavelength_nm, na, immersion_index : float
        Emission wavelength (vacuum), numerical aperture, immersion refractive index (``na < n``).
    pixel_size_nm : float
    radius_px : int
        Patch half-width.
    global_coeffs_nm : tuple of (int, float)
        Aberrations common to all emitters: (Noll index, RMS wavefront in nm). A mapping is accepted
        and normalized to a sorted tuple.
    noll : tuple of int
        Noll indices of the per-emitter coefficients passed to :meth:`render` (``coeffs_nm[:, i]``
        belongs to ``noll[i]``); they add to the global ones.
    aplanatic : bool
        Apodize the pupil amplitude by ``1 / sqrt(cos theta)`` (aplanatic emission).
    pupil_size : int
        Pupil cells across the diameter (even). 64 gives ~1e-4 of peak in focus, 0.2 % at 0.4 um
        defocus, 1.4 % at 1 um (physics.md); 128 is 4-5x better.
    mode : {"direct", "oversampled"}
        ``direct`` integrates each pixel with ``quadrature x quadrature`` Gauss-Legendre nodes
        (q=3: ~1e-5 of peak); ``oversampled`` averages the centres of ``oversample^2`` sub-pixels
        (s=4: ~5e-3 of peak), i.e. what rendering finer and binning gives.

    Notes
    -----
    Field ``E(r) = sum_k P(k) exp(+i 2 pi k.(r - r0))`` over the pupil cells with
    ``P = w A exp(i 2 pi W / lambda) exp(+i 2 pi (k_z - n/lambda) z)``, ``W = sum_j c_j Z_j``;
    the constant ``n/lambda`` only removes a piston (it keeps float32 phases small). The intensity
    is normalized by the continuous ``integral |P|^2 d^2k`` (cell sum) so that the PSF
    integrates to 1 over the plane. The discrete field is periodic with period ``1/dk`` pixels
    (137 px for 64 cells, NA 1.4, 600 nm, 100 nm px); over one period it integrates to
    ``sum |P_k|^2 dk^2 / integral |P|^2`` ~ 0.99, the missing ~1 % being the Airy tail that
    the periodic replica cannot hold. Patches are far smaller than the period. Arithmetic is complex64/float32: rounding is ~1e-6 of the peak,
    below the q=3 quadrature error.
    """

    wavelength_nm: float
    na: float
    immersion_index: float
    pixel_size_nm: float = 100.0
    radius_px: int = 7
    global_coeffs_nm: tuple[tuple[int, float], ...] = ()
    noll: tuple[int, ...] = ()
    aplanatic: bool = False
    pupil_size: int = PUPIL_SIZE
    mode: str = "direct"
    quadrature: int = QUADRATURE
    oversample: int = 4

    def __post_init__(self):
        object.__setattr__(self, "global_coeffs_nm", _coeff_tuple(self.global_coeffs_nm))
        object.__setattr__(self, "noll", tuple(int(j) for j in self.noll))
        if not (0 < self.na < self.immersion_index):
            raise ValueError(f"need 0 < na < immersion_index, got na={self.na}, n={self.immersion_index}")
        if not (self.wavelength_nm > 0 and self.pixel_size_nm > 0 and self.radius_px >= 0):
            raise ValueError(f"invalid ZernikePSF parameters: {self}")
        if any(j < 1 for j, _ in self.global_coeffs_nm) or any(j < 1 for j in self.noll):
            raise ValueError("Noll indices start at 1")
        self._precompute()

    # -- precomputation -------------------------------------------------------------------------
    def _precompute(self):
        sp = pupil_sampling(self.pupil_size, self.na, self.wavelength_nm, self.immersion_index,
                            self.pixel_size_nm, self.radius_px, self.global_coeffs_nm, self.noll,
                            self.mode, self.quadrature, self.oversample)
        grid = sp.grid
        w = grid.weight.ravel()
        amp = 1.0 / np.sqrt(sp.cos_t) if self.aplanatic else np.ones_like(w)
        inside = w > 0
        size = 2 * int(self.radius_px) + 1
        st = object.__setattr__
        st(self, "_sp", sp)
        st(self, "_grid", grid)
        st(self, "_inside", sp.inside)
        st(self, "_amp", (w * amp)[inside].astype(np.float32))
        # Unit-energy normalization by int |P|^2 d^2k, taken as the same cell sum dk^2 sum w A^2 as
        # the field (for A = 1 it equals pi K^2 to 2e-7). Using the same rule for field and norm
        # cancels the rim-cell bias of the aplanatic 1/cos(theta), which a closed-form norm would
        # not (measured at focus: 1.7e-4 vs 5.6e-4 of peak).  I = dk^2 |sum P e|^2 / sum w A^2.
        st(self, "_scale", float(grid.dk_px**2 / np.sum(w * amp**2)))
        # (N, M): the one DFT matrix of every emitter, transposed for right-multiplication
        st(self, "_base_t", np.ascontiguousarray(
            dft_matrix(grid.k_px, sp.positions, sp.sqrt_weights).T.astype(np.complex64)))
        st(self, "_samples_per_px", sp.samples_per_px)
        # Binning matrix: sums the q samples of a pixel along x and the real^2 + imag^2 parts
        # of the interleaved complex64 field in one float32 matmul.
        st(self, "_bin_x", np.kron(np.eye(size, dtype=np.float32), np.ones((2 * sp.samples_per_px, 1), np.float32)))

    # -- public ---------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Patch side in pixels, ``2 * radius_px + 1``."""
        return 2 * int(self.radius_px) + 1

    def pupil(self, z_nm=0.0, coeffs_nm=None, dtype=np.complex128) -> np.ndarray:
        """Discretized pupil function(s) ``w A exp(i phase)`` on the ``N x N`` grid.

        Parameters
        ----------
        z_nm : float or (n,) array
        coeffs_nm : (n, len(noll)) array, optional

        Returns
        -------
        (n, N, N) complex array (rows = k_y, columns = k_x).
        """
        z = np.atleast_1d(np.asarray(z_nm, dtype=np.float64))
        c = self._check_coeffs(coeffs_nm, z.size)
        n_cells = self.pupil_size
        real = np.float32 if dtype == np.complex64 else np.float64
        phase = self._phases(z.astype(real), c.astype(real))
        out = np.zeros((z.size, n_cells * n_cells), dtype=dtype)
        out[:, self._inside] = self._amp.astype(real) * np.exp(1j * phase)
        return out.reshape(z.size, n_cells, n_cells)

    def intensity(self, xs_px, ys_px, x0_px=0.0, y0_px=0.0, z_nm=0.0, coeffs_nm=None) -> np.ndarray:
        """Point intensity of one emitter on a grid, in complex128 (for checks and plots).

        Parameters
        ----------
        xs_px, ys_px : 1-D arrays
            Sample positions (columns, rows), frame pixel units.
        x0_px, y0_px, z_nm : float
            Emitter position.
        coeffs_nm : (len(noll),) array, optional

        Returns
        -------
        (len(ys_px), len(xs_px)) float64
            Intensity per pixel area; integrates to 1 over the plane.
        """
        k = self._grid.k_px
        c = None if coeffs_nm is None else np.asarray(coeffs_nm, dtype=np.float64).reshape(1, -1)
        p = self.pupil(z_nm, c)[0]
        ax = dft_matrix(k, np.asarray(xs_px, dtype=np.float64) - x0_px)
        ay = dft_matrix(k, np.asarray(ys_px, dtype=np.float64) - y0_px)
        e = ay @ p @ ax.T
        return (e.real**2 + e.imag**2) * self._scale

    def render(self, x_px, y_px, z_nm=None, coeffs_nm=None, batch: int = ZERNIKE_BATCH) -> Patches:
        """Render pixel-integrated patches.

        Parameters
        ----------
        x_px, y_px : (n,) float
            Emitter positions in frame pixels.
        z_nm : (n,) float or scalar, optional
            Axial position (0 = focal plane, > 0 away from the coverslip).
        coeffs_nm : (n, len(noll)) float, optional
            Per-emitter RMS wavefront coefficients (added to ``global_coeffs_nm``).
        batch : int
            Emitters per matrix-DFT batch. Working memory per batch is about
            at most ``batch * (5 N^2 + 2 N M + M^2) * 8`` bytes, ``M = (2r+1) * samples per
            pixel`` (:func:`zernike_batch_bytes`): ~7 MB for batch 32, N = 64, 15x15 px, q = 3. Small batches keep it in cache, which
            matters more than the GEMM size (32: ~2.5x faster than 256).

        Returns
        -------
        Patches
        """
        x, y, z = _as_positions(x_px, y_px, z_nm)
        c = self._check_coeffs(coeffs_nm, x.size)
        row0, col0 = patch_origin(x, y, self.radius_px)
        dx, dy = x - col0, y - row0  # emitter position inside its patch, in [r, r+1)
        out = np.empty((x.size, self.size, self.size), dtype=np.float32)
        batch = max(int(batch), 1)
        for s in range(0, x.size, batch):
            sl = slice(s, s + batch)
            out[sl] = self._render_batch(dx[sl], dy[sl], z[sl], c[sl])
        return Patches(out, row0, col0)

    # -- internals ------------------------------------------------------------------------------
    def _check_coeffs(self, coeffs_nm, n: int) -> np.ndarray:
        return per_emitter_coeffs(coeffs_nm, n, self.noll)

    def _phases(self, z: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Pupil phase (radians) at the inside cells, shape (n, cells); dtype follows ``z``."""
        return self._sp.phases(z, c)

    def _render_batch(self, dx, dy, z, c) -> np.ndarray:
        nb, n_cells, size = dx.size, self.pupil_size, self.size
        # The emitter's offset from the patch centre is a phase ramp on the pupil, so every
        # emitter shares one DFT matrix.
        centre = self.radius_px + 0.5
        phase = self._phases(z.astype(np.float32), c.astype(np.float32))
        self._sp.add_shift(phase, dx, dy, centre)
        # float32 sin/cos on contiguous arrays are SIMD-vectorized in numpy: far faster than a
        # complex exp (and than writing them straight into the strided real/imag views)
        re = np.cos(phase)
        re *= self._amp
        im = np.sin(phase)
        im *= self._amp
        pupil = np.zeros((nb, n_cells, n_cells), dtype=np.complex64)
        self._sp.scatter(re, pupil.real)
        self._sp.scatter(im, pupil.imag)
        base_t = self._base_t
        # one product per emitter (stacked matmul), never one across emitters: see _pupil.per_emitter_products
        half = np.matmul(pupil, base_t)  # (nb, ky, x samples)
        # E^T (x samples, y samples) = half^T A_y^T; GL weights are folded into the DFT matrix
        field_t = np.matmul(np.ascontiguousarray(half.transpose(0, 2, 1)), base_t)
        f = field_t.view(np.float32)  # (nb, M, 2M): interleaved real, imag
        f *= f
        q = self._samples_per_px
        # bin the y samples (and real^2 + imag^2) by a matmul, then the q x samples of each pixel
        pix_t = np.matmul(f, self._bin_x).reshape(nb, size, q, size).sum(axis=2)  # (nb, x pixel, y pixel)
        return pix_t.transpose(0, 2, 1) * np.float32(self._scale)  # float32
