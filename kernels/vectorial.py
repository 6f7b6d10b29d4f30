"""Vectorial PSF of a dipole emitter below an index-mismatched interface (physics §4.7).

:class:`VectorialPSF` is rendered like :class:`kernels.psf.ZernikePSF` (``render(x_px, y_px, z_nm,
coeffs_nm) -> Patches``, exact sub-pixel position by a pupil phase ramp, one shared DFT matrix,
``direct`` Gauss-Legendre or ``oversampled`` pixel integration, global + per-emitter Zernike
phase, batches) but its pupil carries the electric field of a dipole (Richards & Wolf 1959;
Axelrod 2012; Backer & Moerner 2014) instead of a scalar amplitude:

* **Geometry.** Sample (index ``n_s``) | coverslip | immersion (``n_i``). The coverslip is taken to
  have the immersion's index (and its design thickness), so it adds no phase and no interface:
  the only interface is sample | immersion, at depth 0. The emitter sits at ``depth >= 0`` above it.
  The objective (NA < n_i, aplanatic, designed for ``n_i``) is displaced so that its nominal focus
  is ``f`` above the interface: ``f`` is where it would focus if the sample had index ``n_i``
  (the stage position counted from the coverslip focus).
* **Axes.** x, y are the frame's (columns, rows), z points away from the coverslip into the
  sample (increasing depth). ``z_nm`` is the emitter's height above the *nominal* focal plane,
  ``z = depth - f``; by default the focus ``f`` is the model's ``focus_depth_nm`` and
  ``depth = focus_depth_nm + z``; ``render(..., depth_nm=d)`` instead fixes each emitter's depth
  and then ``f = d - z`` (a focus series of one emitter).
* **Pupil phase** (a pupil point ``u = sin(theta_i)``, ``n_i sin(theta_i) = n_s sin(theta_s)``)::

      Phi = k0 (n_s cos(theta_s) depth - n_i cos(theta_i) f)
          = k0 n_i cos(theta_i) z + k0 (n_s cos(theta_s) - n_i cos(theta_i)) depth

  (minus its on-axis value, a piston) plus ``2 pi W / lambda`` (Zernike) and the shift ramp. With
  ``n_s = n_i`` it is the scalar model's ``2 pi k_z z`` exactly. For ``n_i u > n_s``
  (supercritical angles, only when ``NA > n_s``) ``cos(theta_s) = i sqrt((n_i u / n_s)^2 - 1)``:
  those pupil points carry ``exp(-k0 n_s |cos(theta_s)| depth)`` (evanescent in the sample).
  For ``n_s < n_i`` the best focus lies below the nominal focal plane (``z < 0``, toward the
  coverslip): an emitter at depth 1 um in water under NA 1.45 oil is sharpest at f = 1.41 um.
* **Pupil field** of a dipole ``p`` (unit vector; polar angle from +z, azimuth from +x toward +y)::

      E_p = c tau_p (cos(theta_s) p_rho + sin(theta_s) p_z),   E_s = c tau_s p_phi
      E_x = cos(phi) E_p - sin(phi) E_s,                       E_y = sin(phi) E_p + cos(phi) E_s

  ``p_rho = p_x cos(phi) + p_y sin(phi)``, ``p_phi = -p_x sin(phi) + p_y cos(phi)``,
  ``c = kappa0 sqrt(cos(theta_i))`` (aplanatic emission), ``tau = t / cos(theta_s)`` with the
  Fresnel transmissions sample -> immersion ``t_s = 2 n_s cs / (n_s cs + n_i ci)``,
  ``t_p = 2 n_s cs / (n_i cs + n_s ci)`` (cs, ci = cos theta_s, cos theta_i); ``1 / cos(theta_s)``
  and the ``n_i cos(theta_i)`` of the far field come from the plane-wave expansion of the dipole
  field. ``kappa0 = sqrt(3/(8 pi) (n_i/n_s)^3)`` makes ``integral |E|^2 d^2u`` the collected power
  in units of the same dipole's power in an unbounded medium ``n_s``. The camera records
  ``|E_x|^2 + |E_y|^2`` (tube lens of low NA).
* **Orientation.** ``"free"``: the mean intensity of x, y and z dipoles (a dipole rotating fast
  compared with the excited-state lifetime). ``"fixed"``: per-emitter polar/azimuth angles; with a
  wobble cone of half-angle alpha (uniform within the cone, fast) the intensity is
  ``gamma I_fixed + (1 - gamma) I_free`` with ``gamma = cos(alpha)(1 + cos(alpha))/2`` (second
  moments of the cone; Backer & Moerner 2014, Stallinga 2015).
* **Normalization.** Each emitter's PSF integrates to 1 over the plane (photons = photons that
  reach the detector). :meth:`VectorialPSF.collection_efficiency` gives the fraction of the
  emitted power that the objective collects (orientation and depth dependent, supercritical light
  included), from 1-D integrals of the same pupil field and of the power radiated into both
  half-spaces (physics §4.7).

The five pupil functions of a free dipole (``a``, ``b cos 2phi``, ``b sin 2phi``, ``h cos phi``,
``h sin phi``; ``a, b = c (tau_p cs +- tau_s)``, ``h = c tau_p sin(theta_s)``) are even or odd in
``k_x``; the render folds every pupil into its even and odd parts in ``k_x`` and ``k_y`` so that
both DFT stages are real float32 GEMMs against a cosine and a sine matrix (half the flops of
complex GEMMs) shared by all emitters and fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._pupil import dft_matrix, per_emitter_coeffs, per_emitter_products, pupil_sampling, sample_nodes
from .psf import PUPIL_SIZE, QUADRATURE, Patches, _as_positions, _coeff_tuple, patch_origin

__all__ = ["VectorialPSF", "VECTORIAL_BATCH", "wobble_gamma", "dipole_powers", "vectorial_batch_bytes",
           "vectorial_working_bytes"]

#: Emitters per vectorial render batch (5 pupil fields each for a free dipole)
VECTORIAL_BATCH = 8
DIPOLES = ("free", "fixed")

# The pupil-function basis in render order: even in k_x first, then odd.
#   0: a   1: b cos 2phi   2: h sin phi   |   3: b sin 2phi   4: h cos phi
_N_EVEN = 3
#: weights of the five basis fields in the free-dipole intensity (1/6, 1/6, 1/3 | 1/6, 1/3)
_FREE_WEIGHTS = np.sqrt(np.array([1 / 6, 1 / 6, 1 / 3, 1 / 6, 1 / 3]))
#: parities (in k_x, in k_y) of the five basis fields
_FREE_PARITY = ((1, 1), (1, 1), (1, -1), (-1, -1), (-1, 1))


def wobble_gamma(half_angle_rad: float) -> float:
    """Fixed fraction ``gamma`` of a dipole wobbling uniformly in a cone of this half-angle.

    The cone's second moments are ``<p p^T> = gamma p0 p0^T + (1 - gamma)/3 Id`` with
    ``gamma = cos(a)(1 + cos(a))/2``: 1 for a = 0 (fixed), 0 for a = pi/2 (free).
    """
    c = math.cos(float(half_angle_rad))
    return c * (1.0 + c) / 2.0


def _cos_from_sin(s: np.ndarray) -> np.ndarray:
    """``sqrt(1 - s^2)`` as a complex array on the branch ``Im >= 0`` (decay into the sample)."""
    c = np.sqrt(1.0 - np.asarray(s, dtype=np.complex128) ** 2)
    return np.where(c.imag < 0, -c, c)


def _interface(u: np.ndarray, n_i: float, n_s: float):
    """cos(theta_i), sin(theta_s), cos(theta_s) (complex) and tau_s, tau_p = t / cos(theta_s)."""
    ci = np.sqrt(1.0 - u**2)
    ss = n_i * u / n_s
    cs = _cos_from_sin(ss)
    tau_s = 2.0 * n_s / (n_s * cs + n_i * ci)
    tau_p = 2.0 * n_s / (n_i * cs + n_s * ci)
    return ci, ss, cs, tau_s, tau_p


def _pupil_basis(u: np.ndarray, phi: np.ndarray, n_i: float, n_s: float) -> np.ndarray:
    """The five basis pupil functions (render order), complex, ``(5, *u.shape)``, without kappa0."""
    ci, ss, cs, tau_s, tau_p = _interface(u, n_i, n_s)
    c = np.sqrt(ci)
    a = c * (tau_p * cs + tau_s)
    b = c * (tau_p * cs - tau_s)
    h = c * tau_p * ss
    return np.stack([a, b * np.cos(2 * phi), h * np.sin(phi), b * np.sin(2 * phi), h * np.cos(phi)])


def _dipole_vector(polar_rad: np.ndarray, azimuth_rad: np.ndarray) -> np.ndarray:
    """(n, 3) unit dipole vectors: polar angle from +z, azimuth from +x toward +y."""
    st = np.sin(polar_rad)
    return np.stack([st * np.cos(azimuth_rad), st * np.sin(azimuth_rad), np.cos(polar_rad)], axis=1)


def _dipole_coefficients(p: np.ndarray) -> np.ndarray:
    """(n, 2, 5) coefficients of E_x, E_y on the basis for dipole vectors p (n, 3).

    E_x = p_x (F0 + F1)/2 + p_y F3/2 + p_z F4,   E_y = p_y (F0 - F1)/2 + p_z F2 + p_x F3/2.
    """
    px, py, pz = p[:, 0], p[:, 1], p[:, 2]
    zero = np.zeros_like(px)
    ex = np.stack([px / 2, px / 2, zero, py / 2, pz], axis=1)
    ey = np.stack([py / 2, -py / 2, pz, px / 2, zero], axis=1)
    return np.stack([ex, ey], axis=1)


# ----------------------------------------------------------------------------------------- power

@lru_cache(maxsize=64)
def _leggauss(n: int):
    return np.polynomial.legendre.leggauss(n)  # O(n^3): cached


def _gl(n: int, a: float, b: float):
    x, w = _leggauss(int(n))
    return (x + 1.0) / 2.0 * (b - a) + a, w / 2.0 * (b - a)


def _u_nodes(u_max: float, u_c: float, n: int):
    """Nodes and weights in u = sin(theta_i) on [0, u_max], smooth at the critical u_c = n_s/n_i.

    Subcritical u = u_c sin(psi) (cos(theta_s) = cos(psi)); supercritical
    u = u_c + (1 - u_c) sin^2(psi) (both square-root ends, at u_c and at u = 1, become smooth).
    """
    if u_c >= 1.0:
        p, w = _gl(n, 0.0, math.asin(u_max))
        return np.sin(p), w * np.cos(p)
    us, ws = [], []
    top = min(u_max, u_c)
    p, w = _gl(n, 0.0, math.asin(top / u_c))
    us.append(u_c * np.sin(p))
    ws.append(w * u_c * np.cos(p))
    if u_max > u_c:
        pm = math.asin(math.sqrt(min(1.0, (u_max - u_c) / (1.0 - u_c))))
        p, w = _gl(n, 0.0, pm)
        us.append(u_c + (1.0 - u_c) * np.sin(p) ** 2)
        ws.append(w * 2.0 * (1.0 - u_c) * np.sin(p) * np.cos(p))
    return np.concatenate(us), np.concatenate(ws)


def _down_power(depth: np.ndarray, k0: float, n_i: float, n_s: float, u_max: float, n: int):
    """Power transmitted into the immersion within sin(theta_i) < u_max: (parallel, perpendicular).

    dP/dOmega_i / P0 = 3/(8 pi) (n_i/n_s)^3 cos^2(theta_i) (|tau_s p_s|^2 + |tau_p p_p|^2) exp(-2 k0 n_s Im(cs) d),
    integrated over azimuth (x dipole: pi (|tau_s|^2 + |tau_p cs|^2); z dipole: 2 pi |tau_p|^2 sin^2(theta_s))
    and over dOmega_i = d^2u / cos(theta_i).
    """
    u, wu = _u_nodes(u_max, n_s / n_i, n)
    ci, ss, cs, tau_s, tau_p = _interface(u, n_i, n_s)
    pre = 3.0 / (8.0 * np.pi) * (n_i / n_s) ** 3 * ci * u * wu
    par = pre * np.pi * (np.abs(tau_s) ** 2 + np.abs(tau_p * cs) ** 2)
    perp = pre * 2.0 * np.pi * np.abs(tau_p) ** 2 * ss**2
    decay = np.exp(-2.0 * k0 * n_s * np.outer(depth, cs.imag))
    return decay @ par, decay @ perp


def _up_power(depth: np.ndarray, k0: float, n_i: float, n_s: float, n: int):
    """Power radiated into the sample half-space (direct + reflected wave): (parallel, perpendicular).

    Per direction theta_s (from +z): s: |p_s|^2 |1 + r_s e|^2, p: |cos p_rho - sin p_z + r_p (cos p_rho + sin p_z) e|^2,
    e = exp(2 i k0 n_s d cos(theta_s)), r_s = (n_s c1 - n_i c2)/(n_s c1 + n_i c2),
    r_p = (n_s c2 - n_i c1)/(n_i c1 + n_s c2) (p unit vectors that coincide at normal incidence).
    """
    sc = n_i / n_s  # sine of the total-reflection angle in the sample (if < 1)
    segments = []
    if sc >= 1.0:
        a, w = _gl(n, 0.0, np.pi / 2)
        segments.append((a, w))
    else:  # n_s > n_i: split at the critical angle, square-root ends made smooth as in _u_nodes
        p, w = _gl(n, 0.0, np.pi / 2)
        s = sc * np.sin(p)
        segments.append((np.arcsin(s), w * sc * np.cos(p) / np.sqrt(1.0 - s**2)))
        p, w = _gl(n, 0.0, np.pi / 2)
        s = sc + (1.0 - sc) * np.sin(p) ** 2
        segments.append((np.arcsin(s), w * 2.0 * (1.0 - sc) * np.sin(p) * np.cos(p) / np.sqrt(1.0 - s**2)))
    par = np.zeros(depth.shape)
    perp = np.zeros(depth.shape)
    for a, w in segments:
        c1, s1 = np.cos(a), np.sin(a)
        c2 = _cos_from_sin(s1 / sc)
        rs = (n_s * c1 - n_i * c2) / (n_s * c1 + n_i * c2)
        rp = (n_s * c2 - n_i * c1) / (n_i * c1 + n_s * c2)
        e = np.exp(2j * k0 * n_s * np.outer(depth, c1))
        wt = 3.0 / (8.0 * np.pi) * s1 * w
        par += (np.pi * (np.abs(1.0 + rs * e) ** 2 + c1**2 * np.abs(1.0 + rp * e) ** 2)) @ wt
        perp += (2.0 * np.pi * s1**2 * np.abs(rp * e - 1.0) ** 2) @ wt
    return par, perp


_POWER_CHUNK = 2048


def _up_nodes(depth_nm: np.ndarray, k0: float, n_s: float) -> np.ndarray:
    """Gauss-Legendre nodes for the oscillating factor exp(2 i k0 n_s d cos): from each depth alone."""
    omega = 2.0 * k0 * n_s * np.abs(depth_nm)  # total phase excursion over the hemisphere
    return 32 * np.ceil((48.0 + 0.75 * omega) / 32.0).astype(np.int64)


def dipole_powers(depth_nm, wavelength_nm: float, na: float, immersion_index: float, sample_index: float):
    """Collected and total radiated power of x- and z-dipoles at these depths above the interface.

    Returns
    -------
    collected_par, collected_perp, total_par, total_perp : (n,) float64
        In units of the power the same dipole radiates in an unbounded medium of index n_s.
        "par" is a dipole parallel to the interface, "perp" one along z. A dipole at polar angle
        theta has ``sin^2 * par + cos^2 * perp`` (the system is rotationally symmetric).
        Collected: within the objective's NA (supercritical light included). Total: into the
        sample half-space (direct + reflected) plus everything transmitted into the immersion;
        equals the dipole's self-field (Sommerfeld) result, which a test checks.
    """
    d = np.atleast_1d(np.asarray(depth_nm, dtype=np.float64))
    k0 = 2.0 * np.pi / wavelength_nm
    n_i, n_s = float(immersion_index), float(sample_index)
    out = np.empty((4, d.size))
    nodes = _up_nodes(d, k0, n_s)
    for s in range(0, d.size, _POWER_CHUNK):  # bounded memory: (chunk, nodes) arrays
        sl = slice(s, s + _POWER_CHUNK)
        out[0, sl], out[1, sl] = _down_power(d[sl], k0, n_i, n_s, na / n_i, 96)
        out[2, sl], out[3, sl] = _down_power(d[sl], k0, n_i, n_s, 1.0, 96)
        for m in np.unique(nodes[sl]):  # each emitter's quadrature depends on its own depth only
            sel = np.flatnonzero(nodes[sl] == m) + s
            up_par, up_perp = _up_power(d[sel], k0, n_i, n_s, int(m))
            out[2, sel] += up_par
            out[3, sel] += up_perp
    return out[0], out[1], out[2], out[3]


def orientation_weights(polar_rad, wobble_rad: float, n: int):
    """Weights of the parallel and perpendicular dipole powers: free (``polar_rad`` None) 2/3, 1/3;
    fixed sin², cos², mixed with the free weights by the wobble cone's γ."""
    if polar_rad is None:
        return np.full(n, 2.0 / 3.0), np.full(n, 1.0 / 3.0)
    pol = np.broadcast_to(np.asarray(polar_rad, dtype=np.float64), (n,))
    g = wobble_gamma(wobble_rad)
    return g * np.sin(pol) ** 2 + (1 - g) * 2.0 / 3.0, g * np.cos(pol) ** 2 + (1 - g) / 3.0


def radiated_power(depth_nm, wavelength_nm: float, na: float, immersion_index: float, sample_index: float,
                   polar_rad=None, wobble_rad: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(collected, total) power per emitter, in units of the dipole's power in an unbounded n_s:
    :func:`dipole_powers` weighted by the orientation (:func:`orientation_weights`)."""
    d = np.atleast_1d(np.asarray(depth_nm, dtype=np.float64))
    c_par, c_perp, t_par, t_perp = dipole_powers(d, wavelength_nm, na, immersion_index, sample_index)
    w_par, w_perp = orientation_weights(polar_rad, wobble_rad, d.size)
    return w_par * c_par + w_perp * c_perp, w_par * t_par + w_perp * t_perp


def collection_efficiency(depth_nm, wavelength_nm: float, na: float, immersion_index: float, sample_index: float,
                          polar_rad=None, wobble_rad: float = 0.0) -> np.ndarray:
    """Collected / emitted power per emitter (what :meth:`VectorialPSF.collection_efficiency` gives),
    without building a PSF: the ground truth needs it, not the pupil."""
    collected, total = radiated_power(depth_nm, wavelength_nm, na, immersion_index, sample_index, polar_rad, wobble_rad)
    return collected / total


def vectorial_batch_bytes(pupil_size: int, samples_per_side: int, fields: int, batch: int = VECTORIAL_BATCH) -> int:
    """Working memory of one vectorial render batch: phases, folded pupils, the two DFT stages.

    An upper bound (float32 arrays per emitter: 12 N^2 + F (2 N^2 + 4 N M + 3 M^2)); the peak
    measured by tracemalloc is 50-100 % of it (free, fixed and wobbling dipoles, 15x15 and 25x25).
    """
    n, m = pupil_size, samples_per_side
    per_emitter = 12 * n * n + fields * (2 * n * n + 4 * n * m + 3 * m * m)
    return batch * per_emitter * 4


def vectorial_working_bytes(radius_px: int, mode: str = "direct", oversample: int = 4, quadrature: int = QUADRATURE,
                            pupil_size: int = PUPIL_SIZE, dipole: str = "free", wobble_rad: float = 0.0) -> int:
    """:func:`vectorial_batch_bytes` of a :class:`VectorialPSF` with these settings (without building it)."""
    nodes, _ = sample_nodes(mode, quadrature, oversample)
    fields = 5 if dipole == "free" else (2 if wobble_rad == 0 else 7)  # a wobble: rigid 2 + isotropic 5
    return vectorial_batch_bytes(pupil_size, (2 * int(radius_px) + 1) * nodes.size, fields)


# ------------------------------------------------------------------------------------------ model

@dataclass(frozen=True)
class VectorialPSF:
    """Dipole PSF through a sample | immersion interface, rendered by an exact matrix DFT.

    Parameters
    ----------
    wavelength_nm, na, immersion_index : float
        As :class:`kernels.psf.ZernikePSF` (``na < immersion_index``); the coverslip has the
        immersion's index.
    pixel_size_nm, radius_px, global_coeffs_nm, noll, pupil_size, mode, quadrature, oversample
        As :class:`kernels.psf.ZernikePSF` (the pupil is always aplanatic).
    sample_index : float, optional
        Refractive index n_s of the sample (default: ``immersion_index``, no interface).
    focus_depth_nm : float
        Nominal focus f above the interface: ``depth = focus_depth_nm + z_nm`` (module docstring).
    dipole : {"free", "fixed"}
        ``fixed`` needs ``polar_rad`` and ``azimuth_rad`` per emitter in :meth:`render`.
    wobble_rad : float
        ``fixed`` only: half-angle of the cone the dipole wobbles in (0 = rigid, pi/2 = free).
    """

    wavelength_nm: float
    na: float
    immersion_index: float
    pixel_size_nm: float = 100.0
    radius_px: int = 7
    global_coeffs_nm: tuple[tuple[int, float], ...] = ()
    noll: tuple[int, ...] = ()
    pupil_size: int = PUPIL_SIZE
    mode: str = "direct"
    quadrature: int = QUADRATURE
    oversample: int = 4
    sample_index: float | None = None
    focus_depth_nm: float = 0.0
    dipole: str = "free"
    wobble_rad: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "global_coeffs_nm", _coeff_tuple(self.global_coeffs_nm))
        object.__setattr__(self, "noll", tuple(int(j) for j in self.noll))
        if self.sample_index is None:
            object.__setattr__(self, "sample_index", float(self.immersion_index))
        if not (0 < self.na < self.immersion_index):
            raise ValueError(f"need 0 < na < immersion_index, got na={self.na}, n={self.immersion_index}")
        if not (self.wavelength_nm > 0 and self.pixel_size_nm > 0 and self.radius_px >= 0 and self.sample_index > 0):
            raise ValueError(f"invalid VectorialPSF parameters: {self}")
        if any(j < 1 for j, _ in self.global_coeffs_nm) or any(j < 1 for j in self.noll):
            raise ValueError("Noll indices start at 1")
        if self.dipole not in DIPOLES:
            raise ValueError(f"dipole must be one of {DIPOLES}, got {self.dipole!r}")
        if not (0.0 <= self.wobble_rad <= np.pi / 2):
            raise ValueError(f"wobble_rad must be in [0, pi/2], got {self.wobble_rad}")
        if self.mismatched and self.focus_depth_nm < 0:
            raise ValueError(f"focus_depth_nm must be >= 0, got {self.focus_depth_nm}")
        self._precompute()

    # -- precomputation -------------------------------------------------------------------------
    def _precompute(self):
        sp = pupil_sampling(self.pupil_size, self.na, self.wavelength_nm, self.immersion_index,
                            self.pixel_size_nm, self.radius_px, self.global_coeffs_nm, self.noll,
                            self.mode, self.quadrature, self.oversample)
        grid = sp.grid
        n, h = self.pupil_size, self.pupil_size // 2
        n_i, n_s, lam = float(self.immersion_index), float(self.sample_index), float(self.wavelength_nm)
        kappa0 = math.sqrt(3.0 / (8.0 * np.pi) * (n_i / n_s) ** 3)
        st = object.__setattr__
        st(self, "_sp", sp)
        st(self, "_grid", grid)
        st(self, "_kappa0", kappa0)
        # Static pupil basis on the k_x > 0 half (columns h..N-1); column h + j mirrors h - 1 - j.
        w_half = grid.weight[:, h:]
        basis = kappa0 * _pupil_basis(grid.rho[:, h:] * self.na / n_i, grid.theta[:, h:], n_i, n_s)
        field = basis * w_half  # the pupil value of a cell carries its area weight (as ZernikePSF)
        # The render folds every pupil in k_x: P(k) +- P(-k) on the k_x > 0 half, laid out as
        # [even part | odd part] along the last axis; a static field then appears duplicated over
        # the two halves, times 2 (the folded phase factors carry cos/sin of half-sums, see
        # _folded_phase), its imaginary part (supercritical cells) with the sign -1 on the left half.
        sign = np.concatenate([-np.ones(h), np.ones(h)])
        g_re = 2.0 * np.concatenate([field.real, field.real], axis=2)            # (5, k_y, k_x)
        g_im = 2.0 * np.concatenate([field.imag, field.imag], axis=2) * sign
        st(self, "_complex", bool(np.any(field.imag != 0)))
        # fixed dipoles: per-emitter combinations (per_emitter_products), layout (basis, k_y x k_x)
        st(self, "_b_re", np.ascontiguousarray(g_re.reshape(5, -1), dtype=np.float32))
        st(self, "_b_im", np.ascontiguousarray(g_im.reshape(5, -1), dtype=np.float32))
        # free dipoles: the weighted static fields, layout (field, k_y, 1, k_x) against (k_y, emitter, k_x)
        wf = _FREE_WEIGHTS[:, None, None]
        st(self, "_free_re", np.ascontiguousarray((g_re * wf)[:, :, None, :], dtype=np.float32))
        st(self, "_free_im", np.ascontiguousarray((g_im * wf)[:, :, None, :], dtype=np.float32))
        # Energy (the normalization): sum over the full grid of w |G|^2 exp(-2 kappa d) for the
        # basis pairs, G = field / w. Pairs of opposite k_x parity cancel between mirrored cells.
        par = np.array([1, 1, 1, -1, -1])
        pair = (1 + par[:, None] * par[None, :])  # 2 for equal parity (the mirror half), 0 otherwise
        safe_w = np.where(w_half > 0, w_half, 1.0)
        gram_cells = np.einsum("bij,cij->ijbc", field, field.conj()).real / safe_w[:, :, None, None] * pair
        u_half = grid.rho[:, h:] * self.na / n_i
        k0 = 2 * np.pi / lam
        kappa_half = k0 * n_s * _interface(u_half, n_i, n_s)[2].imag  # 1/nm, 0 if subcritical
        sup_half = (kappa_half > 0) & (w_half > 0)
        st(self, "_gram_sub", gram_cells[~sup_half].sum(axis=0))
        st(self, "_gram_sup", gram_cells[sup_half].reshape(-1, 25))
        st(self, "_kappa_sup_half", kappa_half[sup_half])
        rows, cols = np.nonzero(sup_half)
        st(self, "_sup_rows", rows)
        st(self, "_sup_cols", cols)
        st(self, "_kappa_sup32", kappa_half[sup_half].astype(np.float32))
        # Phase on the half grid, split into its parts even and odd in k_x (phi(k) = s + a,
        # phi(-k) = s - a): defocus, depth mismatch, global and per-emitter Zernike terms, ramps.
        ci, _, cs, _, _ = _interface(sp.rho * self.na / n_i, n_i, n_s)
        dphase = k0 * (n_s * cs.real - n_i * ci - (n_s - n_i))  # per nm of depth, piston removed
        kappa = k0 * n_s * cs.imag
        st(self, "_dphase", dphase.astype(np.float32))  # compact, for the reference path
        st(self, "_sup", np.flatnonzero(kappa > 0))
        st(self, "_kappa_sup", kappa[kappa > 0].astype(np.float32))

        def split(compact):
            full = np.zeros(n * n)
            full[sp.inside] = compact
            full = full.reshape(n, n)
            right, left = full[:, h:], full[:, h - 1::-1]
            return (right + left) / 2, (right - left) / 2

        f32 = np.float32
        st(self, "_kz_s", split(sp.kz_phase.astype(np.float64))[0].astype(f32)[:, None, :])
        st(self, "_dphase_s", split(dphase)[0].astype(f32)[:, None, :])
        p0s, p0a = split(sp.phase0.astype(np.float64))
        st(self, "_phase0_s", p0s.astype(f32)[:, None, :])
        st(self, "_phase0_a", p0a.astype(f32)[:, None, :])
        bs = [split(b.astype(np.float64)) for b in sp.basis]
        empty = np.zeros((0, n * h))  # layout (mode, k_y x k_x), for per_emitter_products
        st(self, "_basis_s", np.ascontiguousarray(np.stack([b[0].ravel() for b in bs]) if bs else empty, dtype=f32))
        st(self, "_basis_a", np.ascontiguousarray(np.stack([b[1].ravel() for b in bs]) if bs else empty, dtype=f32))
        st(self, "_ky_ramp", (-2.0 * np.pi * grid.k_px).astype(f32)[:, None, None])
        st(self, "_kx_ramp", (-2.0 * np.pi * grid.k_px[h:]).astype(f32)[None, None, :])
        # DFT along one axis, folded: E(x) = sum_{k>0} [Re Pe cos - Im Po sin] + i [Im Pe cos + Re Po sin]
        k_pos = grid.k_px[h:]
        arg = 2 * np.pi * np.outer(k_pos, sp.positions)
        cos_m = np.cos(arg) * sp.sqrt_weights
        sin_m = np.sin(arg) * sp.sqrt_weights
        w1 = np.concatenate([cos_m, -sin_m])  # (N, M): [Re Pe | Im Po] -> real part
        w2 = np.concatenate([cos_m, sin_m])   # [Im Pe | Re Po] -> imaginary part
        st(self, "_w1t", np.ascontiguousarray(w1.T, dtype=f32))  # stage 2 (left factor)
        st(self, "_w2t", np.ascontiguousarray(w2.T, dtype=f32))
        # stage 1 (right factor): the x samples padded with zero columns to a multiple of 16,
        # which OpenBLAS's sgemm kernels run ~25 % faster than 45 columns; the swapped forms
        # serve the fields odd in k_x, whose halves trade places
        m = w1.shape[1]
        pad = -m % 16

        def right(w):
            return np.ascontiguousarray(np.pad(w, ((0, 0), (0, pad))), dtype=f32)

        st(self, "_w1", right(w1))
        st(self, "_w2", right(w2))
        st(self, "_w1s", right(np.concatenate([-sin_m, cos_m])))
        st(self, "_w2s", right(np.concatenate([sin_m, cos_m])))
        st(self, "_free_w_re", np.stack([self._w1 if sx > 0 else self._w1s for sx, _ in _FREE_PARITY]))
        st(self, "_free_w_im", np.stack([self._w2 if sx > 0 else self._w2s for sx, _ in _FREE_PARITY]))
        size = self.size
        q = sp.samples_per_px
        st(self, "_bin", np.pad(np.kron(np.eye(size, dtype=f32), np.ones((q, 1), f32)), ((0, pad), (0, 0))))

    # -- public ---------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Patch side in pixels, ``2 * radius_px + 1``."""
        return 2 * int(self.radius_px) + 1

    @property
    def mismatched(self) -> bool:
        """True when the sample index differs from the immersion index (an interface exists)."""
        return float(self.sample_index) != float(self.immersion_index)

    @property
    def fields(self) -> int:
        """Pupil fields per emitter: 5 (free), 2 (fixed), 6 (fixed with a wobble cone)."""
        if self.dipole == "free":
            return 5
        return 2 if self.wobble_rad == 0 else 6

    def depth(self, z_nm=None, depth_nm=None) -> np.ndarray:
        """Emitter depth above the interface (nm): ``depth_nm`` if given, else ``focus_depth_nm + z``."""
        if depth_nm is None:
            d = self.focus_depth_nm + np.atleast_1d(np.asarray(0.0 if z_nm is None else z_nm, dtype=np.float64))
        else:
            d = np.atleast_1d(np.asarray(depth_nm, dtype=np.float64))
            if z_nm is not None:
                d = np.broadcast_to(d, np.shape(np.atleast_1d(z_nm))).astype(np.float64)
        if self.mismatched and np.any(d < 0):
            raise ValueError(f"emitters below the interface (depth < 0 nm, min {d.min():.1f}): "
                             f"raise focus_depth_nm or move them")
        return d

    def radiated_power(self, z_nm=None, *, depth_nm=None, polar_rad=None) -> tuple[np.ndarray, np.ndarray]:
        """(collected, total) power per emitter, in units of the dipole's power in an unbounded n_s.

        Collected: within the NA (what the unit-energy PSF stands for); total: everything the
        dipole radiates (into the sample half-space and the immersion). Both depend on the depth
        and the polar angle only (aberrations are phase-only).
        """
        d = self.depth(z_nm, depth_nm)
        pol, _ = self._angles(d.size, polar_rad, None, need_azimuth=False)
        return radiated_power(d, self.wavelength_nm, self.na, self.immersion_index, self.sample_index, pol,
                              self.wobble_rad)

    def collection_efficiency(self, z_nm=None, *, depth_nm=None, polar_rad=None) -> np.ndarray:
        """Fraction of each emitter's emitted photons that the objective collects, (n,) float64.

        ``photons`` of the unit-energy PSF are detected photons; ``photons / efficiency`` are the
        photons emitted (quantum yield aside). Depends on depth and polar angle (and the wobble
        cone); a free dipole averages the powers of x, y and z dipoles.
        """
        collected, total = self.radiated_power(z_nm, depth_nm=depth_nm, polar_rad=polar_rad)
        return collected / total

    def pupil(self, z_nm=0.0, coeffs_nm=None, *, depth_nm=None, polar_rad=None, azimuth_rad=None,
              dtype=np.complex128) -> np.ndarray:
        """Pupil fields ``w E exp(i Phi)`` of each emitter on the ``N x N`` grid (rows = k_y).

        Returns
        -------
        (n, F, N, N) complex array
            F = :attr:`fields`; the intensity is ``sum_F |DFT|^2`` (free: weights folded in).
        """
        z = np.atleast_1d(np.asarray(z_nm, dtype=np.float64))
        c = self._check_coeffs(coeffs_nm, z.size)
        d = self.depth(z, depth_nm)
        coef = self._field_coefficients(z.size, polar_rad, azimuth_rad)  # (n, F, 5)
        full = self._full_basis()  # (5, N*N) complex128
        real = np.float32 if dtype == np.complex64 else np.float64
        phase = self._sp.phases(z.astype(real), c.astype(real))
        if self.mismatched:
            phase += np.multiply.outer(d.astype(real), self._dphase.astype(real))
        amp = np.ones(phase.shape)
        if self._sup.size:
            amp[:, self._sup] = np.exp(-np.multiply.outer(d, self._kappa_sup.astype(np.float64)))
        q = np.zeros((z.size, self.pupil_size**2), dtype=np.complex128)
        q[:, self._sp.inside] = amp * np.exp(1j * phase)
        out = np.einsum("efb,bk,ek->efk", coef, full, q)
        return out.reshape(z.size, coef.shape[1], self.pupil_size, self.pupil_size).astype(dtype)

    def intensity(self, xs_px, ys_px, x0_px=0.0, y0_px=0.0, z_nm=0.0, coeffs_nm=None, *, depth_nm=None,
                  polar_rad=None, azimuth_rad=None) -> np.ndarray:
        """Point intensity of one emitter on a grid, complex128 full-grid DFT (checks and plots).

        Returns
        -------
        (len(ys_px), len(xs_px)) float64
            Intensity per pixel area; integrates to 1 over the plane.
        """
        k = self._grid.k_px
        c = None if coeffs_nm is None else np.asarray(coeffs_nm, dtype=np.float64).reshape(1, -1)
        pol = None if polar_rad is None else np.atleast_1d(polar_rad)
        azi = None if azimuth_rad is None else np.atleast_1d(azimuth_rad)
        dep = None if depth_nm is None else np.atleast_1d(depth_nm)
        p = self.pupil(z_nm, c, depth_nm=dep, polar_rad=pol, azimuth_rad=azi)[0]
        ax = dft_matrix(k, np.asarray(xs_px, dtype=np.float64) - x0_px)
        ay = dft_matrix(k, np.asarray(ys_px, dtype=np.float64) - y0_px)
        out = np.zeros((ay.shape[0], ax.shape[0]))
        for field in p:  # 2-D products (a stacked complex matmul is far slower in numpy)
            e = ay @ field @ ax.T
            out += e.real**2 + e.imag**2
        w = self._grid.weight.ravel()
        energy = np.sum(np.abs(p.reshape(p.shape[0], -1)) ** 2 / np.where(w > 0, w, 1.0))
        return out * (self._grid.dk_px**2 / energy)

    def render(self, x_px, y_px, z_nm=None, coeffs_nm=None, batch: int = VECTORIAL_BATCH, *, depth_nm=None,
               polar_rad=None, azimuth_rad=None) -> Patches:
        """Render pixel-integrated patches.

        Parameters
        ----------
        x_px, y_px : (n,) float
            Emitter positions in frame pixels.
        z_nm : (n,) float or scalar, optional
            Height above the nominal focal plane (> 0 away from the coverslip).
        coeffs_nm : (n, len(noll)) float, optional
            Per-emitter RMS wavefront coefficients (added to ``global_coeffs_nm``).
        batch : int
            Emitters per batch; working memory at most :func:`vectorial_batch_bytes` (5.7 MB for
            8 free dipoles, N = 64, 15x15 px, q = 3; 2.8 MB measured). Small batches stay in cache.
        depth_nm : (n,) float, optional
            Depth above the interface; default ``focus_depth_nm + z_nm`` (then the focus is
            ``depth - z`` per emitter).
        polar_rad, azimuth_rad : (n,) float
            ``fixed`` dipoles only: polar angle from +z (into the sample) and azimuth from +x
            toward +y of the dipole axis.

        Returns
        -------
        Patches
            Each patch: the fraction of the emitter's detected photons per pixel.
        """
        x, y, z = _as_positions(x_px, y_px, z_nm)
        c = self._check_coeffs(coeffs_nm, x.size)
        d = self.depth(z, depth_nm) if x.size else np.zeros(0)
        coef = self._render_coefficients(x.size, polar_rad, azimuth_rad)
        row0, col0 = patch_origin(x, y, self.radius_px)
        dx, dy = x - col0, y - row0  # emitter position inside its patch, in [r, r+1)
        out = np.empty((x.size, self.size, self.size), dtype=np.float32)
        batch = max(int(batch), 1)
        for s in range(0, x.size, batch):
            sl = slice(s, s + batch)
            out[sl] = self._render_batch(dx[sl], dy[sl], z[sl], c[sl], d[sl], coef[sl])
        return Patches(out, row0, col0)

    # -- internals ------------------------------------------------------------------------------
    def _check_coeffs(self, coeffs_nm, n: int) -> np.ndarray:
        return per_emitter_coeffs(coeffs_nm, n, self.noll)

    def _angles(self, n: int, polar_rad, azimuth_rad, need_azimuth: bool = True):
        if self.dipole == "free":
            if polar_rad is not None or azimuth_rad is not None:
                raise ValueError("a free dipole takes no polar_rad/azimuth_rad")
            return None, None
        if polar_rad is None or (need_azimuth and azimuth_rad is None):
            raise ValueError("dipole='fixed' needs polar_rad and azimuth_rad per emitter")
        pol = np.broadcast_to(np.asarray(polar_rad, dtype=np.float64), (n,))
        azi = None if azimuth_rad is None else np.broadcast_to(np.asarray(azimuth_rad, dtype=np.float64), (n,))
        return pol, azi

    def _field_coefficients(self, n: int, polar_rad, azimuth_rad) -> np.ndarray:
        """(n, F, 5) coefficients of each pupil field on the basis (free: the weighted basis)."""
        pol, azi = self._angles(n, polar_rad, azimuth_rad)
        if pol is None:
            return np.broadcast_to(np.diag(_FREE_WEIGHTS), (n, 5, 5))
        p = _dipole_vector(pol, azi)
        if self.wobble_rad == 0:
            return _dipole_coefficients(p)
        st, ct, sa, ca = np.sin(pol), np.cos(pol), np.sin(azi), np.cos(azi)
        g = wobble_gamma(self.wobble_rad)
        e_t = np.stack([ct * ca, ct * sa, -st], axis=1)
        e_a = np.stack([-sa, ca, np.zeros_like(sa)], axis=1)
        # eigen-decomposition of the second moments: p (g + (1-g)/3), e_theta and e_phi ((1-g)/3)
        lam = (math.sqrt(g + (1 - g) / 3), math.sqrt((1 - g) / 3), math.sqrt((1 - g) / 3))
        return np.concatenate([_dipole_coefficients(v) * s for v, s in zip((p, e_t, e_a), lam)], axis=1)

    def _full_basis(self) -> np.ndarray:
        """The basis on the full grid (5, N*N), complex128, area weights included (reference path)."""
        g = self._grid
        b = self._kappa0 * _pupil_basis(g.rho * self.na / self.immersion_index, g.theta, self.immersion_index,
                                        self.sample_index) * g.weight
        return b.reshape(5, -1)

    def _energy(self, d: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """Pupil energy sum_k w |sum_F field|^2 per emitter: the unit-energy normalization."""
        gram = np.broadcast_to(self._gram_sub.reshape(1, 25), (d.size, 25))
        if self._kappa_sup_half.size:
            decay = np.exp(-2.0 * np.multiply.outer(d, self._kappa_sup_half))
            gram = gram + np.matmul(decay[:, None, :], self._gram_sup)[:, 0]  # per emitter
        gram = gram.reshape(-1, 5, 5)
        return np.einsum("efb,ebc,efc->e", coef, gram, coef)

    def _folded_phase(self, dx, dy, z, c, d):
        """Folded phase factors of a batch on the k_x > 0 half, layout (k_y, emitter, k_x):
        ``A = [cos(a) C | sin(a) C]``, ``B = [cos(a) S | -sin(a) S]`` with ``C, S = D cos(s), D sin(s)``,
        i.e. ``A = [Re Q+ | Im Q-] / 2``, ``B = [Im Q+ | Re Q-] / 2`` for ``Q+- = Q(k) +- Q(-k)``,
        ``Q = D exp(i phi)``, ``phi = s +- a`` at ``+-k_x`` and D the evanescent decay."""
        n, h = self.pupil_size, self.pupil_size // 2
        nb = dx.size
        f32 = np.float32
        centre = self.radius_px + 0.5
        zz = z.astype(f32)[None, :, None]
        s = self._kz_s * zz  # (k_y, nb, k_x)
        s += self._phase0_s
        s += self._ky_ramp * (dy - centre).astype(f32)[None, :, None]
        if self.mismatched:
            s += self._dphase_s * d.astype(f32)[None, :, None]
        a = self._kx_ramp * (dx - centre).astype(f32)[None, :, None]
        a = a + self._phase0_a  # (k_y, nb, k_x)
        if c.shape[1]:
            c32 = c.astype(f32)
            s += per_emitter_products(c32, self._basis_s).reshape(nb, n, h).transpose(1, 0, 2)
            a += per_emitter_products(c32, self._basis_a).reshape(nb, n, h).transpose(1, 0, 2)
        cs, sn = np.cos(s), np.sin(s)
        ca, sa = np.cos(a), np.sin(a)
        if self._sup_rows.size:
            decay = np.exp(np.multiply.outer(self._kappa_sup32, -d.astype(f32)))  # (cells, nb)
            cs[self._sup_rows, :, self._sup_cols] *= decay
            sn[self._sup_rows, :, self._sup_cols] *= decay
        qa = np.empty((n, nb, n), dtype=f32)
        qb = np.empty((n, nb, n), dtype=f32)
        np.multiply(ca, cs, out=qa[:, :, :h])
        np.multiply(sa, cs, out=qa[:, :, h:])
        np.multiply(ca, sn, out=qb[:, :, :h])
        np.multiply(sa, sn, out=qb[:, :, h:])
        np.negative(qb[:, :, h:], out=qb[:, :, h:])
        return qa, qb

    def _render_coefficients(self, n: int, polar_rad, azimuth_rad) -> np.ndarray:
        """Render path: (n, F, 5) coefficients of the per-emitter fields (fixed: the rigid dipole's
        E_x, E_y scaled by sqrt(gamma); a wobble's isotropic share 1 - gamma goes through the
        free-dipole fields, :attr:`_free_share`); free: the static weights."""
        pol, azi = self._angles(n, polar_rad, azimuth_rad)
        if pol is None:
            return np.broadcast_to(np.diag(_FREE_WEIGHTS), (n, 5, 5))
        return _dipole_coefficients(_dipole_vector(pol, azi)) * math.sqrt(wobble_gamma(self.wobble_rad))

    @property
    def _free_share(self) -> float:
        """Weight of the free-dipole intensity in the render: 1 (free), 1 - gamma (fixed)."""
        return 1.0 if self.dipole == "free" else 1.0 - wobble_gamma(self.wobble_rad)

    def _render_batch(self, dx, dy, z, c, d, coef) -> np.ndarray:
        qa, qb = self._folded_phase(dx, dy, z, c, d)
        nb = dx.size
        intensity, energy = 0.0, 0.0
        if self.dipole == "fixed":
            y1, y2 = self._fold_rows(*self._combined_stage1(qa, qb, coef))
            intensity = self._stage2_pixels(y1, y2, nb)  # (nb, y, x), unnormalized
            energy = self._energy(d, coef)
        share = self._free_share
        if share > 1e-12:  # free dipole, or the isotropic part of a wobbling one
            y1, y2 = self._free_stage1(qa, qb)
            free = self._stage2_pixels(y1, y2, nb)
            free_energy = self._energy(d, np.broadcast_to(np.diag(_FREE_WEIGHTS), (nb, 5, 5)))
            if self.dipole == "free":
                intensity, energy = free, free_energy
            else:
                intensity = intensity + np.float32(share) * free
                energy = energy + share * free_energy
        scale = (self._grid.dk_px**2 / energy).astype(np.float32)
        return intensity * scale[:, None, None]

    def _free_stage1(self, qa, qb):
        """Stage 1 of the five static fields, already folded in k_y for stage 2.

        Stage 2 needs, per field, ``[Re He | Im Ho]`` and ``[Im He | Re Ho]`` with
        ``He, Ho = H(k_y) +- H(-k_y)``, H the stage-1 field. Stage 1 is linear in the rows, and a
        static field of k_y parity s has ``G(-k_y) = s G(k_y)``, so the fold is applied to the
        phase factors instead (``q(k_y) +- s q(-k_y)``, once per emitter) and the GEMMs write
        the folded rows directly. In k_x, an even field has inputs ``T1 = G_re A + G_im B``
        (-> real part, W1) and ``T2 = G_re B - G_im A`` (-> imaginary part, W2); an odd field has
        its folded halves swapped, which the swapped matrices W1s, W2s absorb (T2 -> real, T1 -> imaginary).
        Returns y1, y2 of shape (5, k_y, emitter x sample).
        """
        n, nb, _ = qa.shape
        h, m1 = n // 2, self._w1.shape[1]
        fold = {}
        for name, q in (("a", qa), ("b", qb)):
            fold[name, 1] = q[h:] + q[h - 1::-1]   # (k_y > 0, nb, k_x)
            fold[name, -1] = q[h:] - q[h - 1::-1]
        gr, gi = self._free_re[:, h:], self._free_im[:, h:]  # (field, k_y > 0, 1, k_x)
        # inputs of the four products: rows [0:h] of y1 (Re He), y1 [h:] (Im Ho), y2 [0:h] (Im He), y2 [h:] (Re Ho)
        u = np.empty((4, 5, h, nb, n), dtype=np.float32)
        for f, (sx, sy) in enumerate(_FREE_PARITY):
            # T1 and T2 with the + and - fold of parity sy: T1(+-) = G_re qa(+-s) + G_im qb(+-s), ...
            t1p, t2p, t1m, t2m = (("a", "b", sy, 1), ("b", "a", sy, -1), ("a", "b", -sy, 1), ("b", "a", -sy, -1))
            roles = (t1p, t2m, t2p, t1m) if sx > 0 else (t2p, t1m, t1p, t2m)
            for k, (main, other, s, sign) in enumerate(roles):
                np.multiply(gr[f], fold[main, s], out=u[k, f])
                if self._complex:
                    if sign > 0:
                        u[k, f] += gi[f] * fold[other, s]
                    else:
                        u[k, f] -= gi[f] * fold[other, s]
        y1 = np.empty((5, n, nb * m1), dtype=np.float32)
        y2 = np.empty((5, n, nb * m1), dtype=np.float32)
        w_re, w_im = self._free_w_re, self._free_w_im  # (field, N, m1): W1 / W1s, W2 / W2s by k_x parity
        for k, (out, rows, w) in enumerate(((y1, slice(0, h), w_re), (y1, slice(h, n), w_im),
                                             (y2, slice(0, h), w_im), (y2, slice(h, n), w_re))):
            # one product per (field, emitter): see render on why emitters never share a product
            np.matmul(u[k].transpose(0, 2, 1, 3), w[:, None],
                      out=out[:, rows].reshape(5, h, nb, m1).transpose(0, 2, 1, 3))
        return y1, y2

    @staticmethod
    def _swap(x: np.ndarray) -> np.ndarray:
        h = x.shape[-1] // 2
        return np.concatenate([x[..., h:], x[..., :h]], axis=-1)

    def _combined_stage1(self, qa, qb, coef):
        """Stage 1 of per-emitter combinations of the basis (fixed dipoles); layout (1, k_y, field x emitter x sample).

        A field with even part Ge and odd part Go: X1 = Ge_re A + Ge_im B + Go_re Bs + Go_im As,
        X2 = Ge_re B - Ge_im A + Go_re As - Go_im Bs (As, Bs: halves swapped); Er = X1 W1, Ei = X2 W2.
        """
        n, nb, _ = qa.shape
        nf = coef.shape[1]
        e, m1 = _N_EVEN, self._w1.shape[1]
        c = coef.astype(np.float32).transpose(1, 0, 2)  # (field, nb, basis)
        ce, co = c[:, :, :e].reshape(nf * nb, e), c[:, :, e:].reshape(nf * nb, 5 - e)

        def amplitudes(c, basis):  # (k_y, field, emitter, k_x): one product per (field, emitter)
            return per_emitter_products(c, basis).reshape(nf, nb, n, n).transpose(2, 0, 1, 3)

        ge_re, go_re = amplitudes(ce, self._b_re[:e]), amplitudes(co, self._b_re[e:])
        qa_s, qb_s = self._swap(qa)[:, None], self._swap(qb)[:, None]
        qa, qb = qa[:, None], qb[:, None]
        x1 = ge_re * qa
        x1 += go_re * qb_s
        x2 = ge_re * qb
        x2 += go_re * qa_s
        if self._complex:
            ge_im, go_im = amplitudes(ce, self._b_im[:e]), amplitudes(co, self._b_im[e:])
            x1 += ge_im * qb
            x1 += go_im * qa_s
            x2 -= ge_im * qa
            x2 -= go_im * qb_s
        er = np.empty((1, n, nf, nb, m1), dtype=np.float32)
        ei = np.empty((1, n, nf, nb, m1), dtype=np.float32)
        np.matmul(x1.transpose(1, 2, 0, 3), self._w1, out=er[0].transpose(1, 2, 0, 3))  # per (field, emitter)
        np.matmul(x2.transpose(1, 2, 0, 3), self._w2, out=ei[0].transpose(1, 2, 0, 3))
        return er.reshape(1, n, -1), ei.reshape(1, n, -1)

    @staticmethod
    def _fold_rows(er, ei):
        """``[Re He | Im Ho]``, ``[Im He | Re Ho]`` of stage-1 results (groups, k_y, rows)."""
        g, n, r = er.shape
        h = n // 2
        # k_y is the leading axis of each group: the fold works on contiguous blocks
        y1 = np.empty((g, n, r), dtype=np.float32)
        y2 = np.empty((g, n, r), dtype=np.float32)
        top_r, bot_r = er[:, h:], er[:, h - 1::-1]
        top_i, bot_i = ei[:, h:], ei[:, h - 1::-1]
        np.add(top_r, bot_r, out=y1[:, :h])
        np.subtract(top_i, bot_i, out=y1[:, h:])
        np.add(top_i, bot_i, out=y2[:, :h])
        np.subtract(top_r, bot_r, out=y2[:, h:])
        return y1, y2

    def _stage2_pixels(self, y1, y2, nb: int) -> np.ndarray:
        """Stage 2 (along k_y) and pixel sums of sum_F |E|^2; (nb, y, x) float32.

        ``y1, y2``: the folded stage-1 fields (groups, k_y, rows), rows = (fields per group,
        emitter, x sample); E_re = W1^T y1, E_im = W2^T y2.
        """
        g, n = y1.shape[:2]
        m1, size, q = self._w1.shape[1], self.size, self._sp.samples_per_px
        m_y = self._w1t.shape[0]

        def stage2(w, y):  # (groups, M_y, fields, nb, m1): one product per (group, field, emitter)
            out = np.empty((g, m_y, y.shape[2] // (nb * m1), nb, m1), dtype=np.float32)
            items = y.reshape(g, n, -1, nb, m1).transpose(0, 2, 3, 1, 4)
            np.matmul(w, items, out=out.transpose(0, 2, 3, 1, 4))
            return out

        fr = stage2(self._w1t, y1)  # real part
        fi = stage2(self._w2t, y2)
        fr *= fr
        fi *= fi
        fr += fi
        # sum the fields, bin the x samples by a matmul, then the q y samples of each pixel
        total = fr.sum(axis=(0, 2))  # (M_y, nb, m1)
        pix = np.matmul(total.transpose(1, 0, 2), self._bin)  # (nb, M_y, x): per emitter
        return pix.reshape(nb, size, q, size).sum(axis=2)  # (nb, y, x)
