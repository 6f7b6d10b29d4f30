"""Structured and time-varying background: the expected background photons per pixel per frame.

Model
-----
The expected background of pixel ``p`` in frame ``t`` is ::

    b[t, p] = map[p] · f(t),     map[p] = base · pattern[p],
    pattern = max(1 + amplitude · field, 0)        (a smooth random field, :func:`smooth_field`)
              or image / mean(image)               (a user map, e.g. from a file)
              or their product when both are given

``base`` is the configured background (photons / pixel / frame): the mean of the map before the
clipping at 0 (which only matters for ``amplitude`` ≳ 0.3: P(field < −1/amplitude)).
The structure is *multiplicative*, so a sweep over the background level keeps its shape.

``f(t)`` (:func:`temporal_factor`) is exponential bleaching of the background, ``exp(−t/τ)`` with
``t`` the 0-based frame index (frame 0 has factor 1), times an optional per-frame log-normal
fluctuation of mean 1. The expected image (``b`` plus the emitters' PSF spots) is then drawn
through Poisson once per pixel by the camera (:mod:`kernels.camera`).

All functions are pure numpy and take explicit random generators.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["smooth_field", "background_map", "temporal_factor", "field_autocorrelation"]

# the padding (in filter sigmas) that makes the FFT's periodic wrap-around invisible in the crop:
# the periodic copies are >= 2·4 s away, correlation exp(-(8 s)^2 / (4 s^2)) = e^-16 ≈ 1e-7
_PAD_SIGMAS = 4.0


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], length_px: float) -> np.ndarray:
    """A stationary, smooth Gaussian random field of zero mean and unit variance.

    White noise (one standard normal per pixel of a padded grid, C order) filtered by a Gaussian
    of standard deviation ``s = length_px / √2`` (in Fourier space), divided by the process's
    exact standard deviation, and cropped to ``shape``. Its autocorrelation is ::

        ρ(r) = exp(−r² / (2 · length_px²)) = exp(−r² / (4 s²))

    i.e. ``length_px`` is the standard deviation of the Gaussian autocorrelation (ρ = e^−½ at
    ``r = length_px``, ρ = 1/e at ``r = √2 · length_px``).

    Parameters
    ----------
    rng : numpy.random.Generator
        The job's background stream (draws ``prod(padded shape)`` standard normals, float64).
    shape : (int, int)
        (Y, X) pixels.
    length_px : float
        Correlation length in pixels, ``>= 1`` (below ~1 px a pixel grid cannot hold the
        Gaussian spectrum without aliasing; the error of ρ is ~exp(−2π² length_px²)).

    Returns
    -------
    ndarray of float64, shape (Y, X)
        Every pixel is N(0, 1) (the variance of the process, not of one realisation: a field
        of a few correlation lengths has a sample variance below 1).

    Notes
    -----
    The field is the crop of a periodic field on a grid padded by ``4 s`` on every side (rounded
    up), so the crop's correlations differ from ρ(r) by < 1e-7.
    """
    height, width = (int(n) for n in shape)
    if height < 1 or width < 1:
        raise ValueError(f"shape must be positive, got {shape}")
    if not np.isfinite(length_px) or length_px < 1.0:
        raise ValueError(f"length_px must be >= 1, got {length_px}")
    s = float(length_px) / np.sqrt(2.0)
    pad = int(np.ceil(_PAD_SIGMAS * s))
    ny, nx = height + 2 * pad, width + 2 * pad
    noise = rng.standard_normal((ny, nx))
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    transfer = np.exp(-2.0 * np.pi**2 * s**2 * (ky**2 + kx**2))  # Fourier transform of the unit-sum Gaussian
    field = np.fft.irfft2(np.fft.rfft2(noise) * transfer, s=(ny, nx))
    # exact variance of every pixel of the filtered periodic white noise: mean of |H|^2 over the full grid
    weight = np.full(kx.shape[1], 2.0)
    weight[0] = 1.0
    if nx % 2 == 0:
        weight[-1] = 1.0  # the Nyquist column appears once in the full spectrum
    variance = float((transfer**2 * weight).sum()) / (ny * nx)
    return field[pad:pad + height, pad:pad + width] / np.sqrt(variance)


def background_map(base_photons: float, shape: tuple[int, int], field: np.ndarray | None = None,
                   amplitude: float = 0.0, image: np.ndarray | None = None) -> np.ndarray:
    """Expected background photons per pixel per frame (before the temporal factor).

    ``base_photons · max(1 + amplitude · field, 0) · image / mean(image)`` (factors that are not
    given are 1).

    Parameters
    ----------
    base_photons : float
        Mean background, photons / pixel / frame, ``>= 0``.
    shape : (int, int)
    field : ndarray (Y, X), optional
        A unit-variance field, e.g. :func:`smooth_field`.
    amplitude : float
        Relative modulation of the field, ``>= 0`` (the map's relative standard deviation
        before clipping at 0).
    image : ndarray (Y, X), optional
        A relative background pattern (e.g. read from a file), finite, ``>= 0``, not all 0;
        normalized to mean 1 here.

    Returns
    -------
    ndarray of float32, shape (Y, X)
    """
    if not (np.isfinite(base_photons) and base_photons >= 0):
        raise ValueError(f"base_photons must be finite and >= 0, got {base_photons}")
    if not (np.isfinite(amplitude) and amplitude >= 0):
        raise ValueError(f"amplitude must be finite and >= 0, got {amplitude}")
    pattern = np.ones(tuple(shape), dtype=np.float64)
    if field is not None:
        field = np.asarray(field, dtype=np.float64)
        if field.shape != pattern.shape:
            raise ValueError(f"field has shape {field.shape}, expected {pattern.shape}")
        pattern = np.maximum(1.0 + amplitude * field, 0.0)
    if image is not None:
        image = np.asarray(image, dtype=np.float64)
        if image.shape != pattern.shape:
            raise ValueError(f"image has shape {image.shape}, expected {pattern.shape}")
        if not np.all(np.isfinite(image)) or np.any(image < 0) or not image.sum() > 0:
            raise ValueError("image must be finite, >= 0 and not all 0")
        pattern = pattern * (image / image.mean())
    return (float(base_photons) * pattern).astype(np.float32)


def temporal_factor(frames: Sequence[int] | np.ndarray, bleach_tau_frames: float | None = None,
                    fluctuation: float = 0.0,
                    rngs: Sequence[np.random.Generator] | None = None) -> np.ndarray:
    """Per-frame multiplier of the background: bleaching times a random fluctuation.

    ``f(t) = exp(−t / bleach_tau_frames) · exp(fluctuation · z_t − fluctuation² / 2)``,
    ``z_t ~ N(0, 1)`` drawn from frame ``t``'s own generator, so a frame's factor does not
    depend on the chunk it is rendered in. The fluctuation is log-normal: always positive, mean
    exactly 1, relative standard deviation ``sqrt(exp(fluctuation²) − 1)`` (≈ ``fluctuation``).

    Parameters
    ----------
    frames : sequence of int
        0-based frame indices ``t``.
    bleach_tau_frames : float, optional
        Bleaching time constant in frames, ``> 0``; None: no bleaching.
    fluctuation : float
        Standard deviation of ``log f`` from frame to frame, ``>= 0``.
    rngs : sequence of numpy.random.Generator, optional
        One generator per frame (e.g. ``generator(key, "background", frame=t)``), each drawing one
        standard normal (float64). Required when ``fluctuation > 0``, unused otherwise.

    Returns
    -------
    ndarray of float64, shape (len(frames),)
    """
    t = np.asarray(frames, dtype=np.float64).reshape(-1)
    factor = np.ones(t.shape)
    if bleach_tau_frames is not None:
        if not (np.isfinite(bleach_tau_frames) and bleach_tau_frames > 0):
            raise ValueError(f"bleach_tau_frames must be > 0, got {bleach_tau_frames}")
        factor *= np.exp(-t / float(bleach_tau_frames))
    if not (np.isfinite(fluctuation) and fluctuation >= 0):
        raise ValueError(f"fluctuation must be finite and >= 0, got {fluctuation}")
    if fluctuation > 0:
        if rngs is None or len(rngs) != t.size:
            raise ValueError("fluctuation > 0 needs one generator per frame (rngs)")
        z = np.array([rng.standard_normal() for rng in rngs])
        factor *= np.exp(fluctuation * z - 0.5 * fluctuation**2)
    return factor


def field_autocorrelation(field: np.ndarray, max_lag_px: int) -> np.ndarray:
    """Sample autocorrelation of a field along rows and columns, lags ``0 .. max_lag_px``.

    ``mean(field[y, x] · field[y, x + r])`` averaged with the same along y, divided by the
    mean square (no mean removal: the field's mean is 0 by construction). For tests and for
    checking a map read from elsewhere.

    Returns
    -------
    ndarray of float64, shape (max_lag_px + 1,)
    """
    f = np.asarray(field, dtype=np.float64)
    out = np.empty(max_lag_px + 1)
    for r in range(max_lag_px + 1):
        x = (f[:, : f.shape[1] - r] * f[:, r:]).mean()
        y = (f[: f.shape[0] - r, :] * f[r:, :]).mean()
        out[r] = 0.5 * (x + y)
    return out / out[0]
