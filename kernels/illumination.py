"""Excitation (illumination) profiles: relative intensity at each emitter's position.

Every profile maps emitter positions ``(x_nm, y_nm)`` (design.md §6: x right, y down, origin at
the top-left corner of pixel (0, 0)) to a relative excitation intensity in ``[0, 1]``. The
caller scales photon rates by it (and, optionally, activation rates: the ``activation_scale``
of :func:`kernels.photophysics.markov_events` / :func:`~kernels.photophysics.four_state_events`).

Pure numpy (scipy.special for the logistic function); no draws: profiles are deterministic.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "gaussian_profile",
    "flat_top_profile",
    "image_profile",
    "radial_sigmoid_profile",
]


def _positions(x_nm, y_nm) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.broadcast_arrays(np.asarray(x_nm, dtype=np.float64),
                               np.asarray(y_nm, dtype=np.float64))
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x_nm, y_nm must be finite")
    return x, y


def _point(name: str, value) -> tuple[float, float]:
    p = np.asarray(value, dtype=np.float64)
    if p.shape != (2,) or not np.all(np.isfinite(p)):
        raise ValueError(f"{name} must be two finite numbers (x_nm, y_nm), got {value!r}")
    return float(p[0]), float(p[1])


def _positive(name: str, value) -> float:
    value = float(value)
    if not (value > 0 and np.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def _r2_nm2(x_nm, y_nm, centre_nm) -> np.ndarray:
    x, y = _positions(x_nm, y_nm)
    cx, cy = _point("centre_nm", centre_nm)
    return (x - cx) ** 2 + (y - cy) ** 2


def gaussian_profile(x_nm, y_nm, centre_nm, waist_nm: float) -> np.ndarray:
    """Gaussian beam, ``I = exp(-2 r² / w²)``.

    Parameters
    ----------
    x_nm, y_nm : array_like
        Positions in nm (broadcast against each other).
    centre_nm : (float, float)
        Beam centre ``(x, y)`` in nm.
    waist_nm : float
        1/e² intensity radius ``w`` in nm (the laser-optics waist convention: ``I = e⁻²`` at
        ``r = w``, ``I = 1/2`` at ``r = w √(ln 2 / 2) ≈ 0.589 w``).

    Returns
    -------
    ndarray of float64
        Relative intensity in ``[0, 1]``, 1 at the centre.
    """
    w = _positive("waist_nm", waist_nm)
    return np.exp(-2.0 * _r2_nm2(x_nm, y_nm, centre_nm) / (w * w))


def flat_top_profile(x_nm, y_nm, centre_nm, waist_nm: float, order: float) -> np.ndarray:
    """Super-Gaussian ("flat-top") beam, ``I = exp(-2 (r / w)^(2·order))``.

    Parameters
    ----------
    x_nm, y_nm : array_like
        Positions in nm.
    centre_nm : (float, float)
        Beam centre in nm.
    waist_nm : float
        Radius ``w`` (nm) where ``I = e⁻²``, whatever the order.
    order : float
        Super-Gaussian order ``>= 1``; 1 is the Gaussian beam of :func:`gaussian_profile`,
        larger orders give a flatter top and steeper edge.

    Returns
    -------
    ndarray of float64
        Relative intensity in ``[0, 1]``, 1 at the centre.
    """
    w = _positive("waist_nm", waist_nm)
    order = float(order)
    if not (order >= 1 and np.isfinite(order)):
        raise ValueError(f"order must be a finite number >= 1, got {order}")
    return np.exp(-2.0 * (_r2_nm2(x_nm, y_nm, centre_nm) / (w * w)) ** order)


def image_profile(x_nm, y_nm, image, pixel_size_nm: float,
                  origin_nm=(0.0, 0.0)) -> np.ndarray:
    """Profile from a measured or designed 2-D image, bilinear between pixel centres.

    Parameters
    ----------
    x_nm, y_nm : array_like
        Positions in nm.
    image : array_like, shape (ny, nx)
        Non-negative intensities; rows are y, columns x. Normalized to its maximum (which must
        be > 0), so the brightest pixel is 1.
    pixel_size_nm : float
        Pixel pitch of the image in nm (need not equal the camera's).
    origin_nm : (float, float)
        Position ``(x, y)`` in nm of the image's top-left corner: the centre of image pixel
        ``(row i, column j)`` is at ``origin + ((j + 0.5) p, (i + 0.5) p)``.

    Returns
    -------
    ndarray of float64
        Relative intensity in ``[0, 1]``; equal to the normalized image at pixel centres.
        Outside the centres' span a position is clamped to the nearest edge (the edge values
        continue outwards).
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"image must be a non-empty 2-D array, got shape {img.shape}")
    if not np.all(np.isfinite(img)) or img.min() < 0:
        raise ValueError("image must be finite and >= 0")
    peak = img.max()
    if not peak > 0:
        raise ValueError("image is zero everywhere: no profile to normalize")
    img = img / peak
    p = _positive("pixel_size_nm", pixel_size_nm)
    ox, oy = _point("origin_nm", origin_nm)
    x, y = _positions(x_nm, y_nm)
    ny, nx = img.shape

    # continuous pixel index: centres at integers, clamped to the image's span
    u = np.clip((x - ox) / p - 0.5, 0.0, nx - 1.0)
    v = np.clip((y - oy) / p - 0.5, 0.0, ny - 1.0)
    j0 = np.clip(np.floor(u).astype(np.int64), 0, max(nx - 2, 0))
    i0 = np.clip(np.floor(v).astype(np.int64), 0, max(ny - 2, 0))
    j1, i1 = np.minimum(j0 + 1, nx - 1), np.minimum(i0 + 1, ny - 1)
    fu, fv = u - j0, v - i0
    top = (1.0 - fu) * img[i0, j0] + fu * img[i0, j1]
    bottom = (1.0 - fu) * img[i1, j0] + fu * img[i1, j1]
    out = (1.0 - fv) * top + fv * bottom
    return np.clip(out, 0.0, 1.0)  # weights sum to 1 only up to the last ulp


def radial_sigmoid_profile(x_nm, y_nm, centre_nm, half_max_radius_nm: float,
                           quarter_max_radius_nm: float, half_max_offset_nm=0.0) -> np.ndarray:
    """Radial sigmoid of the SMLM Challenge 2016 simulator.

    ``I = 1 - 1 / (1 + exp(-k (r - r_half)))  =  1 / (1 + exp(k (r - r_half)))``,
    ``k = ln 3 / (r_quarter - r_half)``, so that ``I = 1/2`` at ``r_half`` and ``1/4`` at
    ``r_quarter`` (``powerIllumination`` in ``activation_4states.m``, SMLM-Challenge/
    Challenge2016; Sage et al. 2019, Nat Methods 16:387).

    Parameters
    ----------
    x_nm, y_nm : array_like
        Positions in nm.
    centre_nm : (float, float)
        Centre of the profile in nm.
    half_max_radius_nm, quarter_max_radius_nm : float
        Radii (nm) of half and quarter intensity, ``0 < r_half < r_quarter``.
    half_max_offset_nm : float or array_like
        Added to ``r_half`` in the exponent only (``k`` keeps the nominal radii), broadcast
        against the positions: the Challenge jitters ``r_half`` per emitter.

    Returns
    -------
    ndarray of float64
        Values in ``(0, 1)``. Not normalized to a peak of 1: at the centre
        ``I = 1 / (1 + 3^(-r_half / (r_quarter - r_half)))`` (0.982 with the Challenge's radii).

    Notes
    -----
    The Challenge's recipe, for a square field of view of side ``fov`` nm: centre =
    ``fov/2 + 0.2 fov (1/2 - U)`` per axis (misalignment, ``U`` uniform on [0, 1), drawn once),
    ``r_half = 0.55 fov``, ``r_quarter = 0.7 fov``, per-emitter offset
    ``0.05 r_half (1/2 - U)`` (a fresh ``U`` per emitter), and the emitter's photon flux is
    multiplied by ``I / mean(I)``, the mean taken over the points ``(i p, j p)``,
    ``i, j = 1..fov/p`` of the camera pixel grid (so the mean flux over the field is the
    nominal one and central emitters get more than it).
    """
    r_half = _positive("half_max_radius_nm", half_max_radius_nm)
    r_quarter = _positive("quarter_max_radius_nm", quarter_max_radius_nm)
    if not r_quarter > r_half:
        raise ValueError(f"need half_max_radius_nm < quarter_max_radius_nm, got {r_half}, "
                         f"{r_quarter}")
    offset = np.asarray(half_max_offset_nm, dtype=np.float64)
    if not np.all(np.isfinite(offset)):
        raise ValueError("half_max_offset_nm must be finite")
    slope_per_nm = np.log(3.0) / (r_quarter - r_half)
    r = np.sqrt(_r2_nm2(x_nm, y_nm, centre_nm))
    from scipy.special import expit  # (here: 0.25 s of import for the one profile that needs it)

    # expit(z) = 1/(1 + e^-z), overflow-free far outside the field
    return expit(-slope_per_nm * (r - (r_half + offset)))
