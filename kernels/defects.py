"""Camera defects: fixed-pattern maps (hot, dead, DSNU, PRNU) and EMCCD clock-induced charge.

Where each defect enters the camera chain (:mod:`kernels.camera`)::

    mean electrons  μ = QE·λ·response[p] + dark_e[p]        (response = PRNU, 0 for dead pixels)
    electrons       n = min(Poisson(μ), full_well_e)        (one Poisson draw per pixel)
    EMCCD           n ← Gamma(n, G) + CIC[p]                (CIC: partial gain, below)
    ADU               = (n + N(0, σ²)) / e_per_adu + baseline + dsnu_adu[p] → round → clip

- Hot pixel: a fraction ``hot_fraction`` of the pixels (chosen uniformly, fixed for the job)
  collects ``hot_dark_e`` extra dark electrons per frame on average; they are part of the
  Poisson mean (dark current is shot-noise limited), multiplied by the EM gain like signal.
- Dead pixel: a fraction ``dead_fraction`` (disjoint from the hot ones) collects no charge —
  no photo- and no dark electrons (response 0). It is still read out: its value is the offset
  (baseline + DSNU) plus read noise and, on an EMCCD, the register's CIC. Its mean is the
  baseline, whatever the light.
- DSNU (dark-signal non-uniformity): a fixed offset per pixel, N(0, dsnu_adu²), in ADU.
- PRNU (photo-response non-uniformity): the pixel's relative response, ``1 + prnu · N(0, 1)``
  (clipped at 0), multiplies the expected photo-electrons before the Poisson draw (a QE
  variation: the pixel stays shot-noise limited). It does not scale dark charge or read noise.
- CIC (:func:`cic_electrons`): spurious electrons created in the EM gain register.

All functions are pure numpy and take an explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["defect_maps", "stage_gain", "cic_electrons", "cic_cdf", "cic_mean_e"]


def defect_maps(rng: np.random.Generator, shape: tuple[int, int], hot_fraction: float = 0.0,
                hot_dark_e: float = 0.0, dead_fraction: float = 0.0, dsnu_adu: float = 0.0,
                prnu: float = 0.0) -> dict[str, np.ndarray]:
    """Fixed-pattern defect maps of one camera (draw once per job and keep).

    Draw order (fixed, each over the whole frame in C order): one uniform per pixel (float64)
    deciding hot (``u < hot_fraction``) and dead (``hot_fraction <= u < hot_fraction +
    dead_fraction``); then, if ``dsnu_adu > 0``, one standard normal per pixel; then, if
    ``prnu > 0``, one standard normal per pixel.

    Parameters
    ----------
    rng : numpy.random.Generator
        The job's defect stream.
    shape : (int, int)
        (Y, X) pixels.
    hot_fraction, dead_fraction : float
        Expected fraction of hot / dead pixels, each in [0, 1], sum <= 1.
    hot_dark_e : float
        Mean extra dark electrons per hot pixel per frame, ``>= 0``.
    dsnu_adu : float
        Standard deviation of the fixed offset pattern, ADU, ``>= 0``.
    prnu : float
        Relative standard deviation of the response, ``>= 0`` (e.g. 0.01 = 1 %).

    Returns
    -------
    dict of (Y, X) arrays
        ``"hot"``, ``"dead"``: bool masks; ``"dark_e"``: float32 mean dark electrons per frame
        (``hot_dark_e`` on hot pixels, 0 elsewhere); ``"dsnu_adu"``: float32 offset pattern, ADU;
        ``"response"``: float32 relative response (PRNU; 0 on dead pixels, 1 = nominal).
        The Camera takes ``dark_e``, ``dsnu_adu`` and ``response`` (:class:`kernels.camera.Camera`).
    """
    for name, value in (("hot_fraction", hot_fraction), ("dead_fraction", dead_fraction)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    if hot_fraction + dead_fraction > 1.0:
        raise ValueError("hot_fraction + dead_fraction must be <= 1")
    for name, value in (("hot_dark_e", hot_dark_e), ("dsnu_adu", dsnu_adu), ("prnu", prnu)):
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value}")
    shape = tuple(int(n) for n in shape)
    u = rng.random(shape)
    hot = u < hot_fraction
    dead = (u >= hot_fraction) & (u < hot_fraction + dead_fraction)
    dark = np.where(hot, np.float32(hot_dark_e), np.float32(0.0)).astype(np.float32)
    offset = (rng.standard_normal(shape) * dsnu_adu).astype(np.float32) if dsnu_adu > 0 \
        else np.zeros(shape, np.float32)
    response = np.maximum(1.0 + prnu * rng.standard_normal(shape), 0.0) if prnu > 0 \
        else np.ones(shape)
    response = np.where(dead, 0.0, response).astype(np.float32)
    return {"hot": hot, "dead": dead, "dark_e": dark, "dsnu_adu": offset, "response": response}


# --------------------------------------------------------------------------------------------
# Clock-induced charge in the EM register
# --------------------------------------------------------------------------------------------
#
# Model (Basden et al. 2003, MNRAS 345:985, for the stage-wise register; Hirsch et al. 2013,
# PLoS ONE 8:e53671 and the SMLM Challenge 2016 for CIC as spurious electrons, 0.002 per pixel
# per frame): the register has N stages, each multiplying an electron with probability q, so a
# photo-electron entering the first stage sees the full mean gain G = (1 + q)^N. A CIC event
# (probability p per pixel per frame, at most one) creates one electron at a stage drawn
# uniformly; with m stages left to pass (m uniform on 1..N, the stage it is born in included),
# its mean gain is g_m = (1 + q)^m = G^(m/N). Its output is geometric on {1, 2, ...} with mean
# g_m (the single-electron output of a multiplication register, Basden 2003: P(x) ≈ e^(-x/g)/g),
# so the output x of an event has
#
#     P(X <= x) = 1 − (1/N) Σ_{m=1..N} (1 − 1/g_m)^⌊x⌋,      E[X] = (1/N) Σ_m g_m ≈ G / ln G.
#
# A CIC electron born in the first stage sees the full gain; one born in the last stage usually
# leaves as 1 electron. Photo-electrons keep the chain's Gamma(n, G) model.


def stage_gain(em_gain: float, em_stages: int) -> np.ndarray:
    """Mean gain ``g_m = G^(m/N)`` of an electron with ``m = 1..N`` stages to pass, float64 (N,)."""
    if not em_gain >= 1.0:
        raise ValueError(f"em_gain must be >= 1, got {em_gain}")
    if int(em_stages) != em_stages or em_stages < 1:
        raise ValueError(f"em_stages must be a positive integer, got {em_stages}")
    m = np.arange(1, int(em_stages) + 1, dtype=np.float64)
    return np.exp(m / em_stages * np.log(em_gain))


def cic_mean_e(em_gain: float, em_stages: int) -> float:
    """Mean output electrons of one CIC event, ``(1/N) Σ_m g_m``."""
    return float(stage_gain(em_gain, em_stages).mean())


def cic_cdf(x_e: np.ndarray, em_gain: float, em_stages: int) -> np.ndarray:
    """``P(X <= x)`` of the output electrons ``X`` of one CIC event (formula in the module notes)."""
    g = stage_gain(em_gain, em_stages)
    k = np.floor(np.asarray(x_e, dtype=np.float64))
    keep = np.where(g > 1.0, 1.0 - 1.0 / g, 0.0)  # g = 1 (G = 1): the electron leaves alone
    tail = np.where(k[..., None] >= 1, keep ** np.maximum(k[..., None], 0.0), 1.0).mean(axis=-1)
    return np.where(k >= 1, 1.0 - tail, 0.0)


def cic_electrons(rng: np.random.Generator, n_pixels: int, probability: float, em_gain: float,
                  em_stages: int) -> tuple[np.ndarray, np.ndarray]:
    """CIC events of one frame: which pixels, and the electrons each adds at the register's output.

    Draw order: the number of events ``K ~ Binomial(n_pixels, probability)``; ``K`` distinct
    pixels uniformly (``Generator.choice`` without replacement), sorted; ``K`` stages
    (``integers``); ``K`` geometric outputs. O(K) work, K ≈ p · Y · X.

    Parameters
    ----------
    rng : numpy.random.Generator
        The frame's camera stream.
    n_pixels : int
        Pixels of the frame (flat C-order indices ``0 .. n_pixels - 1``).
    probability : float
        CIC events per pixel per frame, in [0, 1].
    em_gain : float
        Full mean EM gain G.
    em_stages : int
        Stages N of the register.

    Returns
    -------
    index : (K,) int64, ascending
    electrons : (K,) float32
        Output electrons of each event (integers >= 1).
    """
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    g = stage_gain(em_gain, em_stages)
    k = int(rng.binomial(int(n_pixels), probability))
    index = np.sort(rng.choice(int(n_pixels), size=k, replace=False)).astype(np.int64)
    m = rng.integers(0, g.size, size=k)
    electrons = rng.geometric(1.0 / g[m]).astype(np.float32)
    return index, electrons
