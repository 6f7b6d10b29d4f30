"""Emitter placement, blinking and per-frame photon budgets.

Conventions (design.md §6)
--------------------------
* Coordinates in nm; origin at the top-left corner of pixel (0, 0); x to the right (columns),
  y down (rows); z = 0 is the focal plane.
* Time is continuous and measured in frames: frame ``f`` is the interval ``[f, f + 1)``.
* An emitter emits ``flux_photons`` photons per frame while fully on; photons in frame ``f`` are
  ``flux × |on-time ∩ [f, f + 1)|`` (physics.md, "single" as in DECODE).

All functions are pure numpy and take an explicit ``numpy.random.Generator``, so the caller
(pipeline) decides which stream (:mod:`kernels.rng`) feeds which draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Emitters",
    "place_emitters",
    "draw_flux",
    "Events",
    "single_events",
    "markov_events",
    "four_state_events",
    "paint_events",
    "FramePhotons",
    "frame_photons",
    "total_photons",
]


def _readonly(a: np.ndarray) -> np.ndarray:
    # Results are shared between tasks (and frozen dataclasses promise immutability):
    # forbid in-place edits that would silently change ground truth elsewhere.
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------
# Emitters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Emitters:
    """Ground-truth emitters; row ``i`` is emitter id ``i``.

    Attributes
    ----------
    x_nm, y_nm, z_nm : ndarray of float64, shape (n,)
        Position in nm (x right, y down, origin at the top-left corner of pixel (0, 0)).
    flux_photons : ndarray of float64, shape (n,)
        Photons per frame while fully on (reaching the detector, before QE), ``>= 0``.

    Notes
    -----
    ``eq=False``: comparing dataclasses of arrays element-wise is ambiguous; compare fields.
    """

    x_nm: np.ndarray
    y_nm: np.ndarray
    z_nm: np.ndarray
    flux_photons: np.ndarray

    def __post_init__(self) -> None:
        n = None
        for name in ("x_nm", "y_nm", "z_nm", "flux_photons"):
            a = np.array(getattr(self, name), dtype=np.float64, copy=True)
            if a.ndim != 1:
                raise ValueError(f"Emitters.{name} must be 1-D, got shape {a.shape}")
            if n is None:
                n = a.shape[0]
            elif a.shape[0] != n:
                raise ValueError(f"Emitters.{name} has {a.shape[0]} rows, expected {n}")
            object.__setattr__(self, name, _readonly(a))

    def __len__(self) -> int:
        return int(self.x_nm.shape[0])

    @property
    def ids(self) -> np.ndarray:
        """Emitter ids ``0..n-1`` (int64)."""
        return np.arange(len(self), dtype=np.int64)


def place_emitters(
    rng: np.random.Generator,
    num_emitters: int,
    roi_shape: tuple[int, int],
    pixel_size_nm: float,
    area_px: float,
    z_range_um: float,
    intensity_mu: float,
    intensity_sigma: float,
    positions_nm: np.ndarray | None = None,
) -> Emitters:
    """Place emitters uniformly in a square centred on the ROI and draw their flux.

    Parameters
    ----------
    rng : numpy.random.Generator
        The job's ``"emitters"`` stream.
    num_emitters : int
        Number of emitters (ignored when ``positions_nm`` is given).
    roi_shape : (int, int)
        Frame shape ``(Y, X)`` in pixels.
    pixel_size_nm : float
        Pixel pitch in nm.
    area_px : float
        Side of the square (pixels) over which x and y are uniform, centred on the ROI centre.
        May exceed the ROI (emitters outside the frame still contribute their PSF tails).
    z_range_um : float
        z is uniform in ``[-z_range_um/2, +z_range_um/2]`` µm (returned in nm).
    intensity_mu, intensity_sigma : float
        Flux ~ N(mu, sigma) photons per frame, clipped at 0.
    positions_nm : ndarray, shape (n, 2) or (n, 3), optional
        Explicit positions ``(x_nm, y_nm[, z_nm])``: the emitters are exactly these rows (z is
        drawn as above when absent); flux is still drawn.

    Returns
    -------
    Emitters

    Notes
    -----
    Draw order is fixed (x, y, z, flux; each a vector over all emitters) so a given stream
    always yields the same emitters.
    """
    ny, nx = (int(v) for v in roi_shape)
    if ny <= 0 or nx <= 0:
        raise ValueError(f"roi_shape must be positive, got {roi_shape}")
    if not pixel_size_nm > 0:
        raise ValueError(f"pixel_size_nm must be > 0, got {pixel_size_nm}")
    if not z_range_um >= 0:
        raise ValueError(f"z_range_um must be >= 0, got {z_range_um}")
    if not intensity_sigma >= 0:
        raise ValueError(f"intensity_sigma must be >= 0, got {intensity_sigma}")
    half_z_nm = 0.5 * z_range_um * 1000.0

    if positions_nm is None:
        n = int(num_emitters)
        if n < 0:
            raise ValueError(f"num_emitters must be >= 0, got {num_emitters}")
        if not area_px >= 0:
            raise ValueError(f"area_px must be >= 0, got {area_px}")
        half_side = 0.5 * area_px * pixel_size_nm
        cx, cy = 0.5 * nx * pixel_size_nm, 0.5 * ny * pixel_size_nm
        x = rng.uniform(cx - half_side, cx + half_side, n)
        y = rng.uniform(cy - half_side, cy + half_side, n)
        z = rng.uniform(-half_z_nm, half_z_nm, n)
    else:
        pos = np.asarray(positions_nm, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] not in (2, 3):
            raise ValueError(f"positions_nm must have shape (n, 2) or (n, 3), got {pos.shape}")
        if not np.all(np.isfinite(pos)):
            raise ValueError("positions_nm contains non-finite values")
        n = pos.shape[0]
        x, y = pos[:, 0].copy(), pos[:, 1].copy()
        z = pos[:, 2].copy() if pos.shape[1] == 3 else rng.uniform(-half_z_nm, half_z_nm, n)

    return Emitters(x_nm=x, y_nm=y, z_nm=z, flux_photons=draw_flux(rng, n, intensity_mu, intensity_sigma))


def draw_flux(rng: np.random.Generator, n: int, intensity_mu: float, intensity_sigma: float) -> np.ndarray:
    """Photons per frame of ``n`` emitters while fully on: N(mu, sigma), clipped at 0 (physics.md)."""
    flux = rng.normal(intensity_mu, intensity_sigma, n)
    np.maximum(flux, 0.0, out=flux)  # a negative brightness is unphysical
    return flux


# --------------------------------------------------------------------------------------------
# Blinking: on-intervals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Events:
    """On-intervals of all emitters, sorted by ``(t_on, emitter)``.

    Attributes
    ----------
    emitter : ndarray of int64, shape (m,)
        Emitter id of each on-interval.
    t_on, t_off : ndarray of float64, shape (m,)
        Start and end of the on-interval, in frames (continuous time; ``t_off`` may exceed the
        movie length: the physical process is not truncated, windows and totals clip it).
    t_off_runmax : ndarray of float64, shape (m,)
        ``maximum.accumulate(t_off)``: nondecreasing, so the first event that can still be on
        at time ``t`` is a binary search away (see :meth:`window`).

    Notes
    -----
    Build with ``Events(emitter, t_on, t_off)``; sorting and the running max are done in
    ``__post_init__`` (``t_off_runmax`` must not be passed).
    """

    emitter: np.ndarray
    t_on: np.ndarray
    t_off: np.ndarray
    t_off_runmax: np.ndarray | None = None

    def __post_init__(self) -> None:
        e = np.asarray(self.emitter, dtype=np.int64).ravel()
        a = np.asarray(self.t_on, dtype=np.float64).ravel()
        b = np.asarray(self.t_off, dtype=np.float64).ravel()
        if not (e.shape == a.shape == b.shape):
            raise ValueError("Events: emitter, t_on, t_off must have the same length")
        if a.size and not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
            raise ValueError("Events: non-finite times")
        if np.any(b < a):
            raise ValueError("Events: t_off < t_on")
        if np.any(e < 0):
            raise ValueError("Events: negative emitter id")
        # Global order (t_on, then emitter) is what makes windowed queries reproducible: every
        # window sees the same events in the same order, whatever the split.
        order = np.lexsort((e, a))
        e, a, b = e[order], a[order], b[order]
        run = np.maximum.accumulate(b) if b.size else b.copy()
        for name, arr in (("emitter", e), ("t_on", a), ("t_off", b), ("t_off_runmax", run)):
            object.__setattr__(self, name, _readonly(arr))

    def __len__(self) -> int:
        return int(self.t_on.shape[0])

    def window(self, t0: float, t1: float) -> slice:
        """Candidate slice of events that may overlap ``[t0, t1)``.

        Every event overlapping the window lies inside the slice; events outside it cannot
        overlap. The slice starts at the first event whose running-max ``t_off`` exceeds
        ``t0`` and stops before the first event starting at or after ``t1``, so its length is
        the number of events near the window, not the movie length (two binary searches).
        """
        hi = int(np.searchsorted(self.t_on, t1, side="left"))
        lo = int(np.searchsorted(self.t_off_runmax, t0, side="right"))
        return slice(lo, max(lo, hi))


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0 and np.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def _activation_scale(activation_scale, n: int) -> np.ndarray | None:
    """Validate a per-emitter activation factor: ``None`` or float64 of shape (n,) in [0, 1]."""
    if activation_scale is None:
        return None
    s = np.asarray(activation_scale, dtype=np.float64)
    if s.ndim > 1 or (s.ndim == 1 and s.shape[0] != n):
        raise ValueError(f"activation_scale must be a scalar or have shape ({n},), got {s.shape}")
    s = np.broadcast_to(s, (n,))
    if not np.all((s >= 0.0) & (s <= 1.0)):  # also refuses NaN
        raise ValueError("activation_scale must lie in [0, 1]")
    return s


def _stretch(durations: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``durations / scale`` (an Exp(m) draw divided by s is Exp(m/s)); infinite where s = 0."""
    out = np.full(durations.shape, np.inf)
    np.divide(durations, scale, out=out, where=scale > 0)
    return out


def single_events(rng: np.random.Generator, n: int, frames: int, lifetime_avg: float) -> Events:
    """One on-event per emitter (DECODE-style).

    Parameters
    ----------
    rng : numpy.random.Generator
        The job's ``"blinking"`` stream.
    n : int
        Number of emitters (ids ``0..n-1``).
    frames : int
        Movie length; starts are uniform over ``[0, frames)``.
    lifetime_avg : float
        Mean on-time in frames (exponential).

    Returns
    -------
    Events
    """
    n, frames = int(n), int(frames)
    if n < 0 or frames <= 0:
        raise ValueError(f"need n >= 0 and frames > 0, got n={n}, frames={frames}")
    tau = _check_positive("lifetime_avg", lifetime_avg)
    t_on = rng.uniform(0.0, frames, n)
    t_off = t_on + rng.exponential(tau, n)
    return Events(np.arange(n, dtype=np.int64), t_on, t_off)


def markov_events(
    rng: np.random.Generator,
    n: int,
    frames: int,
    lifetime_avg: float,
    off_time_avg: float,
    bleach_prob: float,
    activation_scale: np.ndarray | float | None = None,
) -> Events:
    """Two-state blinking (on/off) with bleaching, started in the stationary state.

    Each emitter alternates Exp(mean ``lifetime_avg``) on-times and Exp(mean ``off_time_avg``)
    off-times. At ``t = 0`` it is on with probability ``on / (on + off)`` (the stationary duty
    cycle); by memorylessness the residual time of the current state is again exponential
    with the same mean, so the process is stationary from the first frame. Each on-event ends
    in bleaching with probability ``bleach_prob`` (the bleaching event itself is emitted; no
    event follows it). Events starting at or after ``frames`` are not generated.

    Parameters
    ----------
    rng : numpy.random.Generator
        The job's ``"blinking"`` stream.
    n, frames : int
        Number of emitters and movie length (frames).
    lifetime_avg, off_time_avg : float
        Mean on- and off-times in frames.
    bleach_prob : float
        Probability in ``[0, 1]`` that an on-event ends in bleaching.
    activation_scale : ndarray of shape (n,) or float, optional
        Per-emitter factor in ``[0, 1]`` on the activation rate (e.g. the local excitation
        intensity, :mod:`kernels.illumination`): emitter ``i`` has mean off-time
        ``off_time_avg / activation_scale[i]`` (its duty cycle at ``t = 0`` follows); on-times
        are unchanged. ``0`` = never activated. ``None`` (default) and all-ones give the same
        draws, bit for bit.

    Returns
    -------
    Events

    Notes
    -----
    Vectorized in rounds: each round draws one on-time, one bleaching decision and one
    off-time for every emitter still alive and not yet past the movie end (in id order), so
    the number of Python iterations is the number of on/off cycles, not of events.
    """
    n, frames = int(n), int(frames)
    if n < 0 or frames <= 0:
        raise ValueError(f"need n >= 0 and frames > 0, got n={n}, frames={frames}")
    t_on_avg = _check_positive("lifetime_avg", lifetime_avg)
    t_off_avg = _check_positive("off_time_avg", off_time_avg)
    p = float(bleach_prob)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bleach_prob must be in [0, 1], got {bleach_prob}")

    scale = _activation_scale(activation_scale, n)

    if scale is None:
        duty = t_on_avg / (t_on_avg + t_off_avg)
    else:
        duty = t_on_avg / (t_on_avg + _stretch(np.full(n, t_off_avg), scale))
    starts_on = rng.random(n) < duty
    t = np.zeros(n)
    # Emitters that start off first sit out a (residual) off-time.
    d_off = rng.exponential(t_off_avg, int(np.count_nonzero(~starts_on)))
    t[~starts_on] = d_off if scale is None else _stretch(d_off, scale[~starts_on])
    ids = np.flatnonzero(t < frames)
    t = t[ids]

    chunks_e, chunks_on, chunks_off = [], [], []
    while ids.size:
        d_on = rng.exponential(t_on_avg, ids.size)
        bleached = rng.random(ids.size) < p
        d_off = rng.exponential(t_off_avg, ids.size)
        if scale is not None:
            d_off = _stretch(d_off, scale[ids])
        chunks_e.append(ids)
        chunks_on.append(t)
        chunks_off.append(t + d_on)
        t = t + d_on + d_off
        keep = ~bleached & (t < frames)
        ids, t = ids[keep], t[keep]

    if not chunks_e:
        empty = np.empty(0)
        return Events(np.empty(0, dtype=np.int64), empty, empty)
    return Events(np.concatenate(chunks_e), np.concatenate(chunks_on), np.concatenate(chunks_off))


def four_state_events(
    rng: np.random.Generator,
    n: int,
    frames: int,
    t_on: float,
    t_off: float | None,
    t_dark: float,
    t_bleach: float,
    activation_scale: np.ndarray | float | None = None,
    lead_in_frames: float = 0.0,
) -> Events:
    """Four-state photophysics of the SMLM Challenge 2016 (off, on, dark, bleached).

    The model of the Challenge's simulator (``activation_4states.m`` /
    ``brightness_palmSubframe.m``, S. Holden, T. Lukes, D. Sage, EPFL BIG; repository
    SMLM-Challenge/Challenge2016, ``challenge_simulator/photophysics``)::

                 activation      1/t_bleach
          OFF -------------> ON -----------> BLEACHED
                             |  ^
                   1/t_on    |  |  1/t_dark
                             v  |
                             DARK

    * OFF is the never-activated state; every emitter starts there and leaves it once.
      Challenge: the activation time is uniform over the simulated movie (not exponential),
      "to reflect constant imaging density" (``t_off=None`` here).
    * ON decays by two competing paths: to DARK with rate ``1/t_on`` and to BLEACHED with
      rate ``1/t_bleach``. Hence an on-interval lasts Exp(mean ``1/(1/t_on + 1/t_bleach)``)
      (1 frame for the published 3 and 1.5) and ends in bleaching with probability
      ``t_on / (t_on + t_bleach)`` (2/3); the total on-time before bleaching is
      Exp(mean ``t_bleach``).
    * DARK returns to ON after Exp(mean ``t_dark``).

    All times are in frames, as in the source (its loop compares switching times with the
    frame count; the frame rate only sets photons per frame). Published values
    ``t_on = 3``, ``t_dark = 2.5``, ``t_bleach = 1.5``. Times are continuous; photons per
    frame integrate the on-time inside each frame, as the source's sub-frame version does.

    Parameters
    ----------
    rng : numpy.random.Generator
        The job's ``"blinking"`` stream.
    n, frames : int
        Number of emitters and movie length (frames).
    t_on : float
        Mean time (frames) of the ON -> DARK transition (the Challenge's ``Ton``); this is
        not the mean on-interval, see above.
    t_off : float or None
        ``None``: the Challenge's activation, uniform over ``[-lead_in_frames, frames)``.
        A number: activation after Exp(mean ``t_off``) frames counted from
        ``-lead_in_frames`` (a constant activation rate).
    t_dark : float
        Mean DARK -> ON time, frames (the Challenge's ``Tdark``).
    t_bleach : float
        Mean time (frames) of the ON -> BLEACHED transition (the Challenge's ``Tbleaching``).
    activation_scale : ndarray of shape (n,) or float, optional
        Per-emitter factor in ``[0, 1]`` on the activation (OFF -> ON) rate: the activation
        delay is divided by it (uniform: an emitter with factor ``s`` is activated with
        density ``s / (frames + lead_in_frames)`` per frame, so a fraction ``s`` within the
        window; exponential: mean ``t_off / s``). ``0`` = never activated. ``t_dark`` is not
        scaled. ``None`` and all-ones give the same draws, bit for bit.
    lead_in_frames : float
        Frames simulated before frame 0 (the Challenge simulated 20 extra frames and removed
        them, so that the first frames already have the steady density of blinking
        emitters). On-intervals ending at or before 0 are dropped.

    Returns
    -------
    Events
        On-intervals; events starting at or after ``frames`` are not generated.

    Notes
    -----
    Draw order: one activation vector over all emitters (``rng.random`` for uniform,
    ``rng.exponential`` otherwise), then rounds over the emitters still alive (in id order),
    each drawing ON -> BLEACHED times, ON -> DARK times and DARK -> ON times (three vectors).
    The source's threshold (a frame counts only above 1 % of the flux) is a ground-truth
    choice for the caller, not part of the kinetics.
    """
    n, frames = int(n), int(frames)
    if n < 0 or frames <= 0:
        raise ValueError(f"need n >= 0 and frames > 0, got n={n}, frames={frames}")
    tau_dark = _check_positive("t_on", t_on)
    tau_return = _check_positive("t_dark", t_dark)
    tau_bleach = _check_positive("t_bleach", t_bleach)
    lead = float(lead_in_frames)
    if not (lead >= 0 and np.isfinite(lead)):
        raise ValueError(f"lead_in_frames must be a finite number >= 0, got {lead_in_frames}")
    scale = _activation_scale(activation_scale, n)

    if t_off is None:
        delay = rng.random(n) * (frames + lead)
    else:
        delay = rng.exponential(_check_positive("t_off", t_off), n)
    if scale is not None:
        delay = _stretch(delay, scale)
    t = delay - lead
    ids = np.flatnonzero(t < frames)
    t = t[ids]

    chunks_e, chunks_on, chunks_off = [], [], []
    while ids.size:
        d_bleach = rng.exponential(tau_bleach, ids.size)
        d_dark = rng.exponential(tau_dark, ids.size)
        d_return = rng.exponential(tau_return, ids.size)
        bleached = d_bleach < d_dark  # the first of the two competing transitions wins
        t_end = t + np.minimum(d_bleach, d_dark)
        chunks_e.append(ids)
        chunks_on.append(t)
        chunks_off.append(t_end)
        t = t_end + d_return
        keep = ~bleached & (t < frames)
        ids, t = ids[keep], t[keep]

    if not chunks_e:
        empty = np.empty(0)
        return Events(np.empty(0, dtype=np.int64), empty, empty)
    e, a, b = np.concatenate(chunks_e), np.concatenate(chunks_on), np.concatenate(chunks_off)
    seen = b > 0.0  # intervals that ended during the lead-in are never observed
    return Events(e[seen], a[seen], b[seen])


def paint_events(
    rng: np.random.Generator,
    n: int,
    frames: int,
    binding_rate_per_s: float,
    tau_bound_s: float,
    frame_interval_ms: float,
) -> Events:
    """DNA-PAINT binding kinetics: on-intervals are the times an imager strand is bound.

    Each docking site binds an imager with rate ``binding_rate_per_s`` (``k_on · c``: the
    association constant times the imager concentration, per second) and the imager stays
    bound Exp(mean ``tau_bound_s``) seconds (Jungmann et al. 2014, Nat Methods 11:313;
    Schnitzbauer et al. 2017, Nat Protoc 12:1198). Imagers are replenished from solution, so
    there is no bleaching. Each site starts in the stationary state: bound with probability
    ``k τ / (1 + k τ)``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The job's ``"blinking"`` stream.
    n, frames : int
        Number of docking sites and movie length (frames).
    binding_rate_per_s : float
        ``k_on · c`` in 1/s; the mean unbound (dark) time is ``1 / binding_rate_per_s`` s.
    tau_bound_s : float
        Mean bound time in s.
    frame_interval_ms : float
        Time between frame starts, ms: converts seconds into frames.

    Returns
    -------
    Events
        Bound intervals in frames.

    Notes
    -----
    The process is the two-state chain of :func:`markov_events` with on-time
    ``tau_bound_s / dt`` and off-time ``1 / (binding_rate_per_s · dt)`` frames
    (``dt = frame_interval_ms / 1000`` s) and no bleaching; its draws are those of
    :func:`markov_events`.
    """
    k_per_s = _check_positive("binding_rate_per_s", binding_rate_per_s)
    tau_s = _check_positive("tau_bound_s", tau_bound_s)
    dt_s = _check_positive("frame_interval_ms", frame_interval_ms) / 1000.0
    return markov_events(rng, n, frames, tau_s / dt_s, 1.0 / (k_per_s * dt_s), 0.0)


# --------------------------------------------------------------------------------------------
# Photons per frame
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FramePhotons:
    """Photons per (frame, emitter) with non-zero on-time, sorted by ``(frame, emitter)``.

    Attributes
    ----------
    frame, emitter : ndarray of int64
    photons : ndarray of float64
        Expected photons emitted in that frame (``flux × on_fraction``).
    on_fraction : ndarray of float64
        Total on-time of the emitter inside the frame, in frames, ``(0, 1]``.
    """

    frame: np.ndarray
    emitter: np.ndarray
    photons: np.ndarray
    on_fraction: np.ndarray

    def __len__(self) -> int:
        return int(self.frame.shape[0])


def _overlaps(events: Events, sl: slice, t0: int, t1: int):
    """Expand candidate events into (frame, emitter, overlap) rows inside ``[t0, t1)``."""
    a = events.t_on[sl]
    b = events.t_off[sl]
    e = events.emitter[sl]
    hit = (b > t0) & (a < t1) & (b > a)  # zero-length events emit nothing
    a, b, e = a[hit], b[hit], e[hit]
    first = np.maximum(np.floor(a), t0).astype(np.int64)
    last = np.minimum(np.ceil(b), t1).astype(np.int64)  # exclusive
    counts = last - first
    total = int(counts.sum())
    idx = np.repeat(np.arange(a.size), counts)
    # position of each row inside its event's run of frames
    offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    frame = first[idx] + offs
    ff = frame.astype(np.float64)
    # Written without t0/t1 on purpose: the overlap with frame f depends only on the event
    # and f, so every window split yields bit-identical values.
    overlap = np.minimum(b[idx], ff + 1.0) - np.maximum(a[idx], ff)
    return frame, e[idx], overlap


def frame_photons(events: Events, flux_photons: np.ndarray, t0: int, t1: int) -> FramePhotons:
    """Photons of every emitter in every frame of ``[t0, t1)``.

    Parameters
    ----------
    events : Events
    flux_photons : ndarray, shape (n,)
        Photons per fully-on frame, indexed by emitter id.
    t0, t1 : int
        Frame window ``[t0, t1)``.

    Returns
    -------
    FramePhotons
        One row per (frame, emitter) with positive on-time; several on-intervals of one
        emitter inside a frame are summed (in ``t_on`` order). ``photons = flux × on_fraction``.

    Notes
    -----
    Cost is proportional to the events in ``events.window(t0, t1)`` (events near the window),
    not to the movie length. Results are bit-identical however ``[0, T)`` is split into windows.
    """
    t0, t1 = int(t0), int(t1)
    if t1 < t0:
        raise ValueError(f"empty window: t0={t0} > t1={t1}")
    flux = np.asarray(flux_photons, dtype=np.float64)
    frame, emitter, overlap = _overlaps(events, events.window(t0, t1), t0, t1)

    if frame.size:
        # stable sort keeps the t_on order inside a (frame, emitter) group: reproducible sums
        order = np.lexsort((emitter, frame))
        frame, emitter, overlap = frame[order], emitter[order], overlap[order]
        new = np.empty(frame.size, dtype=bool)
        new[0] = True
        np.not_equal(frame[1:], frame[:-1], out=new[1:])
        new[1:] |= emitter[1:] != emitter[:-1]
        starts = np.flatnonzero(new)
        if starts.size != frame.size:  # several intervals of one emitter in a frame (markov)
            overlap = np.add.reduceat(overlap, starts)
            frame, emitter = frame[starts], emitter[starts]
        # (overlap ≤ 1 mathematically; clamp the last-ulp excess of summed pieces)
        np.minimum(overlap, 1.0, out=overlap)
    photons = flux[emitter] * overlap
    return FramePhotons(frame=frame, emitter=emitter, photons=photons, on_fraction=overlap)


def total_photons(events: Events, flux_photons: np.ndarray, frames: int) -> np.ndarray:
    """Photons emitted by each emitter inside the movie ``[0, frames)``.

    Parameters
    ----------
    events : Events
    flux_photons : ndarray, shape (n,)
    frames : int

    Returns
    -------
    ndarray of float64, shape (n,)
        ``flux × |on-time ∩ [0, frames)|``; equals the per-emitter sum of
        :func:`frame_photons` rows over ``[0, frames)`` up to floating-point rounding.
    """
    flux = np.asarray(flux_photons, dtype=np.float64)
    on = np.clip(events.t_off, 0.0, frames) - np.clip(events.t_on, 0.0, frames)
    time_on = np.bincount(events.emitter, weights=on, minlength=flux.shape[0])
    if time_on.shape[0] != flux.shape[0]:
        raise ValueError("events reference emitter ids beyond flux_photons")
    return flux * time_on
