"""Camera models: expected photons per pixel -> digital counts (ADU).

Chain (physics.md; Huang et al. 2013, Hirsch et al. 2013)::

    n_e  = Poisson(QE·λ·response + dark_e)   (or its mean when shot_noise is off)
    n_e  = min(n_e, full_well_e)               (if set)
    EMCCD: n_e <- Gamma(shape=n_e, scale=G) + CIC   (n_e = 0 stays 0)
    n_e += N(0, σ_read²)
    ADU  = n_e / e_per_adu + baseline + dsnu_adu   (sCMOS maps: n_e·gain[y,x] + offset[y,x])
    out  = clip(round(ADU), 0, 2**bit_depth - 1) as uint16

``response``, ``dark_e``, ``dsnu_adu`` and the clock-induced charge (CIC) are camera defects
(:mod:`kernels.defects`); all are off by default, and then nothing of the chain changes.

The expected photon image (signal + background) is drawn through Poisson once per pixel (for a
pixel that only holds background, the chain's exact outcome distribution is sampled instead).
Moments per pixel: sCMOS mean = o + gλQE, var = g²QEλ + σ²_ADU (+1/12 from rounding);
EMCCD var_e = 2G²QEλ (excess-noise factor √2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .defects import cic_electrons, cic_mean_e
from .lookup import LookupTable

__all__ = ["Camera", "background_pmf", "expected_adu", "expose", "expose_sparse"]

_KINDS = ("ideal", "scmos", "emccd")


_MAP_NAMES = ("offset_adu", "gain_adu_per_e", "variance_adu2", "dark_e", "response", "dsnu_adu")
# pixels with defects go through the chain next to the lit ones; beyond this share of the frame
# (e.g. a PRNU or DSNU map: every pixel differs) the whole frame does
_SPARSE_DEFECTS = 0.05


def _map(value, name: str) -> np.ndarray | None:
    if value is None:
        return None
    a = np.array(value, dtype=np.float32, copy=True)
    if a.ndim != 2:
        raise ValueError(f"Camera.{name} must be a 2-D (Y, X) map, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"Camera.{name} contains non-finite values")
    a.flags.writeable = False
    return a


def output_dtype(add_noise: bool) -> np.dtype:
    """uint16 with noise (for every bit depth ≤ 16, values clipped to the depth), else float32."""
    return np.dtype(np.uint16) if add_noise else np.dtype(np.float32)


@dataclass(frozen=True, eq=False)
class Camera:
    """Camera parameters.

    Parameters
    ----------
    kind : {"ideal", "scmos", "emccd"}
        "ideal": no noise at all (expected ADU, rounded and clipped).
    add_noise : bool
        False: :func:`expose` returns the expected image in ADU as float32 (any kind).
    shot_noise : bool
        Poisson on the expected electrons (signal + background).
    qe : float
        Quantum efficiency in ``(0, 1]``.
    readout_noise_e : float
        Read noise, electrons rms (before the ADC).
    e_per_adu : float
        Electrons per ADU (the conversion factor s).
    baseline_adu : float
        Offset added after conversion, ADU.
    em_gain : float
        EM gain G (EMCCD only), ``>= 1``.
    bit_depth : int
        ADC depth, 1..16; output is clipped to ``[0, 2**bit_depth - 1]`` and stored as uint16.
    offset_adu, gain_adu_per_e, variance_adu2 : ndarray (Y, X), optional
        sCMOS per-pixel maps (also accepted for "ideal", where only offset and gain matter):
        offset replaces ``baseline_adu``; gain [ADU/e⁻] replaces ``1/e_per_adu``; variance
        [ADU²] replaces ``(readout_noise_e / e_per_adu)²``. Each map must match the frame shape.
        With a gain map but no variance map, the read noise ``readout_noise_e`` (electrons) is
        converted with each pixel's gain, i.e. σ_ADU = readout_noise_e · gain[y, x].
    dark_e : ndarray (Y, X), optional
        Mean dark electrons per pixel per frame (hot pixels, :func:`kernels.defects.defect_maps`),
        added to the Poisson mean ``QE·λ·response``; any kind.
    response : ndarray (Y, X), optional
        Relative photo-response per pixel (PRNU; 0 = dead pixel): multiplies ``QE·λ`` before the
        Poisson draw; ``>= 0``; any kind.
    dsnu_adu : ndarray (Y, X), optional
        Fixed offset pattern (DSNU), ADU, added after the conversion; any kind.
    cic_probability : float
        EMCCD clock-induced charge: events per pixel per frame, in [0, 1]; each adds the
        partially amplified electron of :func:`kernels.defects.cic_electrons`.
    em_stages : int
        Stages of the EM register (for CIC's partial gain), ``>= 1``.
    full_well_e : float, optional
        Full-well capacity: collected electrons (photo + dark) are clipped to it before the EM
        register and the read noise. None: no limit (the ADC limit ``max_adu`` always applies).

    Notes
    -----
    ``eq=False`` because fields may be arrays; compare fields explicitly.
    """

    kind: str = "scmos"
    add_noise: bool = True
    shot_noise: bool = True
    qe: float = 1.0
    readout_noise_e: float = 10.0
    e_per_adu: float = 1.0
    baseline_adu: float = 100.0
    em_gain: float = 300.0
    bit_depth: int = 16
    offset_adu: np.ndarray | None = None
    gain_adu_per_e: np.ndarray | None = None
    variance_adu2: np.ndarray | None = None
    dark_e: np.ndarray | None = None
    response: np.ndarray | None = None
    dsnu_adu: np.ndarray | None = None
    cic_probability: float = 0.0
    em_stages: int = 536
    full_well_e: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Camera.kind must be one of {_KINDS}, got {self.kind!r}")
        if not 0.0 < self.qe <= 1.0:
            raise ValueError(f"Camera.qe must be in (0, 1], got {self.qe}")
        if not self.readout_noise_e >= 0.0:
            raise ValueError(f"Camera.readout_noise_e must be >= 0, got {self.readout_noise_e}")
        if not self.e_per_adu > 0.0:
            raise ValueError(f"Camera.e_per_adu must be > 0, got {self.e_per_adu}")
        if not np.isfinite(self.baseline_adu):
            raise ValueError(f"Camera.baseline_adu must be finite, got {self.baseline_adu}")
        if self.kind == "emccd" and not self.em_gain >= 1.0:
            raise ValueError(f"Camera.em_gain must be >= 1, got {self.em_gain}")
        if int(self.bit_depth) != self.bit_depth or not 1 <= self.bit_depth <= 16:
            raise ValueError(f"Camera.bit_depth must be an integer in 1..16, got {self.bit_depth}")
        if not 0.0 <= self.cic_probability <= 1.0:
            raise ValueError(f"Camera.cic_probability must be in [0, 1], got {self.cic_probability}")
        if int(self.em_stages) != self.em_stages or self.em_stages < 1:
            raise ValueError(f"Camera.em_stages must be a positive integer, got {self.em_stages}")
        if self.full_well_e is not None and not self.full_well_e > 0:
            raise ValueError(f"Camera.full_well_e must be > 0, got {self.full_well_e}")
        maps = {}
        for name in _MAP_NAMES:
            maps[name] = _map(getattr(self, name), name)
            object.__setattr__(self, name, maps[name])
        present = [m for m in maps.values() if m is not None]
        if present:
            if self.kind == "emccd" and any(maps[k] is not None for k in _MAP_NAMES[:3]):
                raise ValueError("per-pixel maps are an sCMOS model; not supported for 'emccd'")
            if any(m.shape != present[0].shape for m in present):
                raise ValueError(
                    "Camera maps differ in shape: "
                    + ", ".join(f"{k}={v.shape}" for k, v in maps.items() if v is not None)
                )
        if maps["gain_adu_per_e"] is not None and not np.all(maps["gain_adu_per_e"] > 0):
            raise ValueError("Camera.gain_adu_per_e must be > 0 everywhere")
        if maps["variance_adu2"] is not None and not np.all(maps["variance_adu2"] >= 0):
            raise ValueError("Camera.variance_adu2 must be >= 0 everywhere")
        for name in ("dark_e", "response"):
            if maps[name] is not None and not np.all(maps[name] >= 0):
                raise ValueError(f"Camera.{name} must be >= 0 everywhere")
        # flat indices of the pixels whose chain differs from a defect-free pixel's
        defective = np.zeros(present[0].shape if present else (0,), dtype=bool)
        if maps["dark_e"] is not None:
            defective |= maps["dark_e"] != 0
        if maps["response"] is not None:
            defective |= maps["response"] != 1
        if maps["dsnu_adu"] is not None:
            defective |= maps["dsnu_adu"] != 0
        object.__setattr__(self, "_defect_index", np.flatnonzero(defective))
        object.__setattr__(self, "_dense_defects", bool(defective.sum() > _SPARSE_DEFECTS * defective.size))

    @property
    def has_cic(self) -> bool:
        return self.kind == "emccd" and self.cic_probability > 0

    @property
    def output_dtype(self) -> np.dtype:
        return output_dtype(self.add_noise)

    @property
    def max_adu(self) -> int:
        """Largest digital value, ``2**bit_depth - 1``."""
        return (1 << int(self.bit_depth)) - 1

    @property
    def _electron_gain(self) -> float:
        # mean electrons out of the (EM) register per photo-electron
        return float(self.em_gain) if self.kind == "emccd" else 1.0

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        for name in _MAP_NAMES:
            m = getattr(self, name)
            if m is not None and m.shape != tuple(shape):
                raise ValueError(f"Camera.{name} has shape {m.shape}, frame has shape {tuple(shape)}")


def _as_image(photons: np.ndarray) -> np.ndarray:
    a = np.asarray(photons)
    if a.ndim != 2:
        raise ValueError(f"photons must be a 2-D (Y, X) image, got shape {a.shape}")
    return a


def _at(m: np.ndarray, at: np.ndarray | None) -> np.ndarray:
    """A (Y, X) map at the pixels being drawn: all of them, or the flat indices ``at`` as (1, k)."""
    return m if at is None else m.reshape(-1)[at][None, :]


def _mean_electrons(camera: Camera, photons: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """Expected collected electrons ``QE·λ·response + dark_e`` (float64; negative ringing → 0)."""
    # float64 because Generator.poisson needs float64 rates anyway
    lam = np.multiply(photons, camera.qe, dtype=np.float64)
    if camera.response is not None:
        lam *= _at(camera.response, at)
    if camera.dark_e is not None:
        lam += _at(camera.dark_e, at)
    np.maximum(lam, 0.0, out=lam)  # numerical ringing must not make Poisson raise
    return lam


def expected_adu(camera: Camera, photons: np.ndarray) -> np.ndarray:
    """Mean image in ADU (no noise, no rounding, no clipping), float32.

    ``baseline + QE·λ·G·/e_per_adu`` (G = EM gain for EMCCD, else 1), or with sCMOS maps
    ``offset[y,x] + QE·λ·gain[y,x]``. With defects: ``QE·λ`` becomes ``QE·λ·response + dark_e``
    (capped at ``full_well_e``, the noise-free image's saturation), CIC adds its mean
    ``p·E[X]/e_per_adu`` and ``dsnu_adu`` is added.

    Parameters
    ----------
    camera : Camera
    photons : ndarray (Y, X)
        Expected photons per pixel (signal + background).

    Returns
    -------
    ndarray of float32, shape (Y, X)
    """
    lam = _as_image(photons)
    camera._check_shape(lam.shape)
    if camera.response is None and camera.dark_e is None and camera.full_well_e is None:
        out = np.array(lam, dtype=np.float32, copy=True)
        electrons_per_photon = camera.qe * camera._electron_gain
    else:
        mean_e = _mean_electrons(camera, lam)
        if camera.full_well_e is not None:
            np.minimum(mean_e, camera.full_well_e, out=mean_e)
        out = mean_e.astype(np.float32)
        electrons_per_photon = camera._electron_gain
    if camera.gain_adu_per_e is None:
        out *= np.float32(electrons_per_photon / camera.e_per_adu)
    else:
        out *= np.float32(electrons_per_photon)
        out *= camera.gain_adu_per_e
    if camera.has_cic:
        out += np.float32(camera.cic_probability * cic_mean_e(camera.em_gain, camera.em_stages) / camera.e_per_adu)
    if camera.offset_adu is None:
        out += np.float32(camera.baseline_adu)
    else:
        out += camera.offset_adu
    if camera.dsnu_adu is not None:
        out += camera.dsnu_adu
    return out


def _digitize(adu: np.ndarray, camera: Camera) -> np.ndarray:
    """Round half to even, clip to the ADC range, uint16 (in place on ``adu``)."""
    np.rint(adu, out=adu)
    np.clip(adu, 0, camera.max_adu, out=adu)
    return adu.astype(np.uint16)


def _plain_scmos(camera: Camera) -> bool:
    return (camera.kind == "scmos" and camera.offset_adu is None and camera.gain_adu_per_e is None
            and camera.variance_adu2 is None)


def background_pmf(camera: Camera, photons: float) -> tuple[int, np.ndarray]:
    """Exact distribution of the recorded value of a pixel with ``photons`` expected photons.

    For the sCMOS chain without per-pixel maps, of a pixel without defects: Poisson(QE·λ)
    electrons (or QE·λ without shot noise), capped at ``full_well_e`` + N(0, σ_read²) → ÷ e_per_adu → + baseline → round → clip. Electrons below
    μ − 15√μ − 10 or above μ + 15√μ + 20 and read noise beyond ±12σ are cut (mass < 1e-30).

    Returns
    -------
    offset : int
        The value of ``pmf[0]``.
    pmf : ndarray of float64
        ``P(recorded value = offset + i)``, summing to 1.
    """
    from scipy.special import gammaln

    if not _plain_scmos(camera):
        raise ValueError("background_pmf models the sCMOS chain without per-pixel maps")
    mu = camera.qe * float(photons)
    if camera.shot_noise and mu > 0:
        spread = 15.0 * np.sqrt(mu)
        n = np.arange(max(0, int(mu - spread - 10)), int(np.ceil(mu + spread + 20)) + 1, dtype=np.float64)
        weight = np.exp(n * np.log(mu) - mu - gammaln(n + 1.0))
    else:
        n, weight = np.array([0.0 if camera.shot_noise else mu]), np.ones(1)
    if camera.full_well_e is not None:
        n = np.minimum(n, float(camera.full_well_e))  # saturated counts share one row of the mixture
    s, b, sigma, top = camera.e_per_adu, camera.baseline_adu, camera.readout_noise_e, camera.max_adu
    if sigma > 0:
        k_lo, readout = readout_probabilities(camera, n)
        pmf = weight @ readout
    else:
        # no read noise: the value is a function of the electron count; use the chain's float32 arithmetic
        values = np.rint(n.astype(np.float32) * np.float32(1.0 / s) + np.float32(b))
        values = np.clip(values, 0, top).astype(np.int64)
        k_lo = int(values.min())
        pmf = np.bincount(values - k_lo, weights=weight)
    return k_lo, pmf / pmf.sum()


def readout_probabilities(camera: Camera, electrons: np.ndarray) -> tuple[int, np.ndarray]:
    """``R[i, j] = P(recorded value = offset + j | electrons[i])`` of the sCMOS readout with read noise:
    + N(0, σ_read²), ÷ e_per_adu, + baseline, round, clip. ``electrons`` ascending; values beyond
    ±12σ of them are cut (mass < 1e-30), the clipped tails collected into the end values. Returns
    ``(offset, R)``."""
    from scipy.special import ndtr

    n = electrons
    s, b, sigma, top = camera.e_per_adu, camera.baseline_adu, camera.readout_noise_e, camera.max_adu
    k_lo = int(np.clip(np.floor((n[0] - 12 * sigma) / s + b) - 1, 0, top))
    k_hi = int(np.clip(np.ceil((n[-1] + 12 * sigma) / s + b) + 1, 0, top))
    k = np.arange(k_lo, k_hi + 2, dtype=np.float64)
    edges = (k - 0.5 - b) * s  # electrons at the lower rounding edge of each value
    if k_lo == 0:
        edges[0] = -np.inf  # clipping collects the whole lower tail into 0
    if k_hi == top:
        edges[-1] = np.inf
    return k_lo, np.diff(ndtr((edges[None, :] - n[:, None]) / sigma), axis=1)


@lru_cache(maxsize=32)
def _background_table(camera: Camera, photons: float) -> LookupTable:
    return LookupTable.from_pmf(*reversed(background_pmf(camera, photons)))


def _table_fits(camera: Camera, photons):
    """Whether the exact outcome table of a pixel with ``photons`` expected photons is small enough
    to build (scalar or per level). Very bright backgrounds make the pmf's (electrons x values)
    matrix large; the chain is then used, which is exact too (the limit keeps a table's set-up
    under ~50 MB and 0.2 s)."""
    electrons = 30 * np.sqrt(camera.qe * np.asarray(photons, dtype=np.float64)) + 30
    values = (electrons + 24 * camera.readout_noise_e) / camera.e_per_adu
    return electrons * values < 6e6


def _table_applies(camera: Camera, background: float) -> bool:
    return (camera.add_noise and _plain_scmos(camera) and bool(_table_fits(camera, background))
            and not camera._dense_defects)


def expose(camera: Camera, photons: np.ndarray, rng: np.random.Generator,
           background: float | None = None) -> np.ndarray:
    """Record one frame.

    Parameters
    ----------
    camera : Camera
    photons : ndarray (Y, X)
        Expected photons per pixel (signal + background) of one frame, ``>= 0``
        (tiny negative values from numerical PSF ringing are treated as 0).
    rng : numpy.random.Generator
        That frame's ``"camera"`` stream. Not used for ``add_noise=False`` or ``"ideal"``.
    background : float, optional
        The photons of a pixel that no emitter reaches. With an sCMOS camera without maps, such
        pixels (``photons == background``) are drawn in one step from the exact distribution of
        their recorded value (:func:`background_pmf`, a look-up table: 32 random bits per pixel),
        and only the other pixels go through the chain. Same distribution, several times faster.

    Returns
    -------
    ndarray
        ``add_noise=False``: :func:`expected_adu` (float32). Otherwise uint16 digital counts.

    Notes
    -----
    Draw order per frame is fixed: Poisson (if shot noise), Gamma (EMCCD), the CIC events
    (EMCCD with ``cic_probability > 0``, :func:`kernels.defects.cic_electrons`), Normal (if read
    noise > 0), each over the whole frame in C order; with the background table, first the
    table's bits for every pixel, then that chain over the other pixels only (C order): the lit
    ones and those with defects (hot, dead, ...). Working arrays are float32 except the
    Poisson draw (numpy draws Poisson as int64 from float64 rates).
    """
    if not camera.add_noise:
        return expected_adu(camera, photons)
    if camera.kind == "ideal":
        return _digitize(expected_adu(camera, photons), camera)
    if background is not None and _table_applies(camera, float(background)):
        image = _as_image(photons)
        lit = np.flatnonzero(image != np.float32(background))
        return expose_sparse(camera, image.shape, rng, background, lit, image.reshape(-1)[lit])

    lam_in = _as_image(photons)
    camera._check_shape(lam_in.shape)
    return _chain(camera, lam_in, rng)


def _chain(camera: Camera, photons: np.ndarray, rng: np.random.Generator,
           at: np.ndarray | None = None, extra_e: np.ndarray | None = None) -> np.ndarray:
    """The noisy chain over a whole frame (``at`` None) or over the pixels ``at`` (photons (1, k)).

    ``extra_e`` (int, the shape of ``photons``): electrons added to the Poisson counts (shot noise
    only), e.g. the remainder ``M`` of :mod:`kernels.mapsampler`'s split of a pixel's Poisson draw.
    """
    e = _electrons(camera, photons, rng, at, extra_e)
    _add_read_noise(camera, e, rng, at)
    return _digitize(_to_adu(camera, e, at), camera)


def _electrons(camera: Camera, photons: np.ndarray, rng: np.random.Generator,
               at: np.ndarray | None = None, extra_e: np.ndarray | None = None) -> np.ndarray:
    """Collected electrons (Poisson if shot noise, plus ``extra_e``), through the EM register for an EMCCD; float32."""
    lam = _mean_electrons(camera, photons, at)
    if extra_e is not None and not camera.shot_noise:
        raise ValueError("extra_e is part of the Poisson draw: it needs shot noise")
    if camera.shot_noise:
        counts = rng.poisson(lam)  # int64
        del lam
        if extra_e is not None:
            counts += extra_e
        e = counts.astype(np.float32)
        del counts
    else:
        e = lam.astype(np.float32)
        del lam
    if camera.full_well_e is not None:
        np.minimum(e, np.float32(camera.full_well_e), out=e)
    if camera.kind == "emccd":
        # Gamma(shape=n, scale=G): the EM register's output for n input electrons
        # (an Erlang sum of n exponentials for integer n); shape 0 gives exactly 0.
        rng.standard_gamma(e, dtype=np.float32, out=e)
        e *= np.float32(camera.em_gain)
        if camera.has_cic:
            if at is not None:
                raise ValueError("CIC is drawn over whole frames only")
            index, cic = cic_electrons(rng, e.size, camera.cic_probability, camera.em_gain, camera.em_stages)
            e.reshape(-1)[index] += cic
    return e


def _add_read_noise(camera: Camera, e: np.ndarray, rng: np.random.Generator,
                    at: np.ndarray | None = None) -> None:
    """Read noise, expressed in electrons so one buffer carries the whole chain (in place)."""
    if camera.variance_adu2 is not None:
        gain = _at(camera.gain_adu_per_e, at) if camera.gain_adu_per_e is not None else np.float32(1.0 / camera.e_per_adu)
        sigma_e = np.sqrt(_at(camera.variance_adu2, at)) / gain
    elif camera.readout_noise_e > 0:
        sigma_e = np.float32(camera.readout_noise_e)
    else:
        return
    noise = rng.standard_normal(e.shape, dtype=np.float32)
    noise *= sigma_e
    e += noise


def _to_adu(camera: Camera, e: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """Electrons → ADU, plus the offset (in place)."""
    if camera.gain_adu_per_e is None:
        e *= np.float32(1.0 / camera.e_per_adu)
    else:
        e *= _at(camera.gain_adu_per_e, at)
    if camera.offset_adu is None:
        e += np.float32(camera.baseline_adu)
    else:
        e += _at(camera.offset_adu, at)
    if camera.dsnu_adu is not None:
        e += _at(camera.dsnu_adu, at)
    return e


def expose_sparse(camera: Camera, shape: tuple[int, int], rng: np.random.Generator, background: float,
                  index: np.ndarray, photons: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Record a frame that holds ``background`` photons everywhere except at some pixels.

    The same frame, bit for bit and with the same random draws, as :func:`expose` of the full
    image with ``background=background`` — without building that image where the camera allows
    the one-step draw of background pixels (the exact table describes a pixel without defects:
    pixels with sparse defects, e.g. hot or dead ones, go through the chain with the lit ones).

    Parameters
    ----------
    shape : (Y, X)
    background : float
        Expected photons of every pixel not listed (float32 like the image).
    index : (k,) int, ascending
        Flat (C-order) indices of the pixels whose expected photons differ from ``background``.
    photons : (k,) float32
        Their expected photons.
    out : ndarray (Y, X) of the camera's output dtype, C-contiguous, optional
        Where to record the frame (returned).
    """
    if not _table_applies(camera, float(background)):
        image = np.full(shape, background, dtype=np.float32)
        image.reshape(-1)[index] = photons
        frame = expose(camera, image, rng)
        if out is None:
            return frame
        out[...] = frame
        return out
    camera._check_shape(tuple(shape))
    photons = np.asarray(photons, dtype=np.float32)
    if camera._defect_index.size:
        level = np.float32(background)
        index, photons = _with_defects(camera._defect_index, np.asarray(index), photons,
                                       lambda at: np.full(at.size, level, dtype=np.float32))
    table = _background_table(camera, float(np.float32(background)))
    out = np.empty(shape, dtype=np.uint16) if out is None else out
    table.sample(rng, int(np.prod(shape)), out=out.reshape(-1))
    if len(index):
        out.reshape(-1)[index] = _chain(camera, photons[None, :], rng, index)[0]
    return out


def _with_defects(defects: np.ndarray, index: np.ndarray, photons: np.ndarray,
                  background_at: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The lit pixels and the defective ones (ascending), with their expected photons: ``photons``
    at the lit ones, ``background_at(flat indices)`` (float32) at the others."""
    merged = np.union1d(index, defects)
    values = background_at(merged)
    values[np.searchsorted(merged, index)] = photons
    return merged, values
