"""Zernike polynomials in Noll's single-index ordering (Noll 1976, JOSA 66:207).

Conventions (see ``physics.md``):

* ``Z_j = sqrt(n+1) R_n^|m|(rho) * {1 (m=0); sqrt(2) cos(m theta) (m>0); sqrt(2) sin(|m| theta) (m<0)}``
* RMS-normalized over the unit disk: ``(1/pi) * integral(Z_i Z_j dA) = delta_ij``, so a
  coefficient is the RMS wavefront it contributes.
* Even ``j`` is a cosine term (``m > 0``), odd ``j`` a sine term (``m < 0``).
* ``theta`` is measured from pupil x toward pupil y; arrays are ``[row = y, column = x]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["noll_to_nm", "nm_to_noll", "radial_coefficients", "zernike", "zernike_basis"]


def noll_to_nm(j: int) -> tuple[int, int]:
    """Radial order and signed azimuthal frequency of Noll index ``j``.

    Parameters
    ----------
    j : int
        Noll index, ``j >= 1`` (1 = piston, 4 = defocus, 11 = primary spherical).

    Returns
    -------
    (n, m) : tuple of int
        ``m < 0`` denotes the sine term.
    """
    j = int(j)
    if j < 1:
        raise ValueError(f"Noll index must be >= 1, got {j}")
    # integer search instead of the float formula ceil((-3+sqrt(1+8j))/2): exact for any j
    n = 0
    while (n + 1) * (n + 2) // 2 < j:
        n += 1
    p = j - n * (n + 1) // 2 - 1
    if n % 2 == 0:
        m = 2 * ((p + 1) // 2)
    else:
        m = 2 * (p // 2) + 1
    if m != 0 and j % 2 == 1:
        m = -m
    return n, m


def nm_to_noll(n: int, m: int) -> int:
    """Noll index of the Zernike term ``(n, m)`` (``m < 0`` = sine term).

    Raises
    ------
    ValueError
        If ``|m| > n`` or ``n - |m|`` is odd (no such polynomial).
    """
    n, m = int(n), int(m)
    if n < 0 or abs(m) > n or (n - abs(m)) % 2:
        raise ValueError(f"no Zernike polynomial with n={n}, m={m}")
    # Order n occupies Noll indices n(n+1)/2+1 ... (n+1)(n+2)/2; search that short range.
    for j in range(n * (n + 1) // 2 + 1, (n + 1) * (n + 2) // 2 + 1):
        if noll_to_nm(j) == (n, m):
            return j
    raise AssertionError("unreachable: every valid (n, m) has a Noll index")


@lru_cache(maxsize=256)
def radial_coefficients(n: int, m: int) -> tuple[tuple[int, float], ...]:
    """Terms ``(power, coefficient)`` of the radial polynomial ``R_n^|m|``.

    ``R_n^m(rho) = sum_s (-1)^s (n-s)! / [s! ((n+m)/2-s)! ((n-m)/2-s)!] rho^(n-2s)``.
    """
    m = abs(m)
    terms = []
    for s in range((n - m) // 2 + 1):
        c = (-1) ** s * math.factorial(n - s) / (
            math.factorial(s) * math.factorial((n + m) // 2 - s) * math.factorial((n - m) // 2 - s)
        )
        terms.append((n - 2 * s, float(c)))
    return tuple(terms)


def _radial(n: int, m: int, rho: np.ndarray) -> np.ndarray:
    out = np.zeros_like(rho, dtype=np.float64)
    for power, c in radial_coefficients(n, m):
        out += c * rho**power
    return out


def zernike(j: int, rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """RMS-normalized Zernike polynomial ``Z_j`` (Noll) at polar coordinates.

    Parameters
    ----------
    j : int
        Noll index.
    rho, theta : array_like
        Normalized pupil radius (1 = pupil edge) and azimuth (from x toward y), broadcastable.
        Values with ``rho > 1`` are the polynomial's extrapolation (no masking here).

    Returns
    -------
    numpy.ndarray
        float64, the broadcast shape of ``rho`` and ``theta``.
    """
    n, m = noll_to_nm(j)
    rho = np.asarray(rho, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    r = np.sqrt(n + 1.0) * _radial(n, m, rho)
    if m == 0:
        return np.broadcast_to(r, np.broadcast_shapes(rho.shape, theta.shape)).copy()
    if m > 0:
        return np.sqrt(2.0) * r * np.cos(m * theta)
    return np.sqrt(2.0) * r * np.sin(-m * theta)


def zernike_basis(noll: Sequence[int], rho: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Stack of Zernike polynomials.

    Parameters
    ----------
    noll : sequence of int
        Noll indices.
    rho, theta : array_like
        Polar pupil coordinates (same shape, or broadcastable).

    Returns
    -------
    numpy.ndarray
        float64 of shape ``(len(noll), *shape)``.
    """
    rho = np.asarray(rho, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    shape = np.broadcast_shapes(rho.shape, theta.shape)
    out = np.empty((len(noll), *shape), dtype=np.float64)
    for i, j in enumerate(noll):
        out[i] = zernike(j, rho, theta)
    return out
