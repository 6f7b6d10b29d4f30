"""Emitter placement, blinking and photons per frame (kernels.photophysics).

Statistical checks use >= 1e4 samples and accept |estimate - expected| < 5 standard errors,
with the standard error computed from the sample (or the binomial formula for fractions).
"""

import numpy as np
import pytest

from kernels.photophysics import (
    Events,
    four_state_events,
    frame_photons,
    markov_events,
    paint_events,
    place_emitters,
    single_events,
    total_photons,
)

Z5 = 5.0  # standard errors


def rng(seed=0):
    return np.random.default_rng(seed)


def assert_mean(sample, expected, what=""):
    sample = np.asarray(sample, dtype=np.float64)
    se = sample.std(ddof=1) / np.sqrt(sample.size)
    assert abs(sample.mean() - expected) < Z5 * se, f"{what}: {sample.mean()} vs {expected} (se {se})"


def assert_fraction(k, n, p, what=""):
    se = np.sqrt(p * (1 - p) / n)
    assert abs(k / n - p) < Z5 * se, f"{what}: {k / n} vs {p} (se {se})"


# ---------------------------------------------------------------- placement


def test_place_emitters_area_z_flux():
    n, roi, px, area = 20000, (64, 128), 100.0, 50.0
    em = place_emitters(rng(1), n, roi, px, area, z_range_um=1.0, intensity_mu=1000.0,
                        intensity_sigma=200.0)
    assert len(em) == n and em.x_nm.dtype == np.float64
    cx, cy, half = 128 * px / 2, 64 * px / 2, area * px / 2
    assert np.all((em.x_nm >= cx - half) & (em.x_nm <= cx + half))
    assert np.all((em.y_nm >= cy - half) & (em.y_nm <= cy + half))
    assert np.all(np.abs(em.z_nm) <= 500.0)
    # uniform: centred on the ROI centre, variance side^2/12 (mean SE = side/sqrt(12 n))
    assert_mean(em.x_nm, cx, "x")
    assert_mean(em.y_nm, cy, "y")
    assert_mean(em.z_nm, 0.0, "z")
    assert em.z_nm.min() < -450 and em.z_nm.max() > 450  # spans the range, not a sub-range
    assert_mean(em.flux_photons, 1000.0, "flux")
    np.testing.assert_array_equal(em.ids, np.arange(n))


def test_flux_clipped_at_zero():
    n = 20000
    em = place_emitters(rng(2), n, (32, 32), 100.0, 32.0, 0.0, intensity_mu=0.0, intensity_sigma=1.0)
    assert em.flux_photons.min() == 0.0
    assert_fraction(np.count_nonzero(em.flux_photons == 0.0), n, 0.5, "clipped fraction")
    np.testing.assert_array_equal(em.z_nm, 0.0)


def test_positions_honoured_exactly():
    pos3 = np.array([[1.5, 2.5, -30.0], [1000.0, -5.0, 12.0], [0.0, 0.0, 0.0]])
    em = place_emitters(rng(3), 999, (16, 16), 100.0, 16.0, 1.0, 500.0, 10.0, positions_nm=pos3)
    assert len(em) == 3
    np.testing.assert_array_equal(np.column_stack([em.x_nm, em.y_nm, em.z_nm]), pos3)
    pos2 = pos3[:, :2]
    em2 = place_emitters(rng(3), 0, (16, 16), 100.0, 16.0, 1.0, 500.0, 10.0, positions_nm=pos2)
    np.testing.assert_array_equal(np.column_stack([em2.x_nm, em2.y_nm]), pos2)
    assert np.all(np.abs(em2.z_nm) <= 500.0)
    with pytest.raises(ValueError):
        place_emitters(rng(3), 0, (16, 16), 100.0, 16.0, 1.0, 500.0, 10.0, positions_nm=pos3[:, :1])


# ---------------------------------------------------------------- single blinking


def test_single_on_time_and_frames_touched():
    n, frames, tau = 20000, 1000, 2.5
    ev = single_events(rng(4), n, frames, tau)
    assert len(ev) == n and np.all(np.diff(ev.t_on) >= 0)
    assert np.all((ev.t_on >= 0) & (ev.t_on < frames))
    np.testing.assert_array_equal(np.sort(ev.emitter), np.arange(n))
    assert_mean(ev.t_off - ev.t_on, tau, "on-time")
    # frames touched: ceil(u + d) with u = frac(t_on) ~ U(0,1) => E = tau + 1 exactly.
    # Query past the movie end so that no event is truncated.
    flux = np.full(n, 100.0)
    fp = frame_photons(ev, flux, 0, int(np.ceil(ev.t_off.max())) + 1)
    touched = np.bincount(fp.emitter, minlength=n)
    assert touched.min() >= 1
    assert_mean(touched, tau + 1.0, "frames touched")


def test_photons_fully_on_frame_equals_flux():
    n = 10000
    em = place_emitters(rng(5), n, (32, 32), 100.0, 32.0, 0.0, 5000.0, 1000.0)
    ev = single_events(rng(6), n, 100, 3.0)
    fp = frame_photons(ev, em.flux_photons, 0, 100)
    full = fp.on_fraction == 1.0
    assert full.sum() > 1000
    np.testing.assert_array_equal(fp.photons[full], em.flux_photons[fp.emitter[full]])
    np.testing.assert_array_equal(fp.photons, em.flux_photons[fp.emitter] * fp.on_fraction)
    assert np.all((fp.on_fraction > 0) & (fp.on_fraction <= 1))
    # physics.md: a fully-on frame has mean photons = intensity_mu
    assert_mean(fp.photons[full], 5000.0, "photons in fully-on frames")
    # sorted by (frame, emitter), unique rows
    key = fp.frame * n + fp.emitter
    assert np.all(np.diff(key) > 0)


# ---------------------------------------------------------------- markov blinking


def test_markov_duty_cycle_and_on_time():
    n, frames, on, off = 20000, 200, 2.0, 6.0
    ev = markov_events(rng(7), n, frames, on, off, 0.0)
    duty = on / (on + off)
    # stationary from the start: the fraction of emitters on at t is the duty cycle at any t
    for t in (0.0, 0.37, 100.5, 199.9):
        k = np.count_nonzero((ev.t_on <= t) & (ev.t_off > t))
        assert_fraction(k, n, duty, f"on fraction at t={t}")
    assert_mean(ev.t_off - ev.t_on, on, "markov on-time")
    assert np.all(ev.t_on < frames)
    # intervals of one emitter never overlap, and alternate with gaps
    o = np.lexsort((ev.t_on, ev.emitter))
    same = ev.emitter[o][1:] == ev.emitter[o][:-1]
    assert np.all(ev.t_on[o][1:][same] >= ev.t_off[o][:-1][same])


def test_markov_bleaching_mean_events():
    n, p = 10000, 0.2
    # a movie long enough that every emitter bleaches: events per emitter ~ Geometric(p), mean 1/p
    ev = markov_events(rng(8), n, 10**9, 1.0, 1.0, p)
    per = np.bincount(ev.emitter, minlength=n)
    assert per.min() >= 1
    assert_mean(per, 1.0 / p, "on-events before bleaching")
    ev1 = markov_events(rng(9), n, 10**9, 1.0, 1.0, 1.0)
    np.testing.assert_array_equal(np.bincount(ev1.emitter, minlength=n), 1)
    # no bleaching: on-starts form a stationary point process of rate 1/(on+off), plus the
    # interval already on at t=0 (probability = duty cycle)
    T, on, off = 2000, 1.0, 3.0
    ev0 = markov_events(rng(9), 300, T, on, off, 0.0)
    assert_mean(np.bincount(ev0.emitter, minlength=300), T / (on + off) + on / (on + off),
                "events without bleaching")


def test_markov_validation():
    with pytest.raises(ValueError):
        markov_events(rng(), 10, 10, 1.0, 1.0, 1.5)
    with pytest.raises(ValueError):
        markov_events(rng(), 10, 10, 0.0, 1.0, 0.1)


# ---------------------------------------------------------------- windows and totals


def _fast_blinker():
    # short on/off times: several on-intervals of one emitter inside one frame
    n = 3000
    ev = markov_events(rng(10), n, 30, 0.3, 0.2, 0.05)
    flux = rng(11).uniform(10.0, 1000.0, n)
    return n, ev, flux


def test_total_photons_equals_frame_rows():
    n, ev, flux = _fast_blinker()
    fp = frame_photons(ev, flux, 0, 30)
    summed = np.bincount(fp.emitter, weights=fp.photons, minlength=n)
    np.testing.assert_allclose(total_photons(ev, flux, 30), summed, rtol=1e-12, atol=0)
    # single events that run past the movie end are clipped in both
    ev_s = single_events(rng(12), n, 30, 5.0)
    fp_s = frame_photons(ev_s, flux, 0, 30)
    np.testing.assert_allclose(total_photons(ev_s, flux, 30),
                               np.bincount(fp_s.emitter, weights=fp_s.photons, minlength=n),
                               rtol=1e-12, atol=0)
    assert np.all(fp.on_fraction <= 1.0)


@pytest.mark.parametrize("kind", ["markov", "single"])
def test_window_split_byte_identical(kind):
    n, ev, flux = _fast_blinker()
    if kind == "single":
        ev = single_events(rng(13), n, 10, 2.5)
    whole = frame_photons(ev, flux, 0, 10)
    parts = [frame_photons(ev, flux, a, b) for a, b in ((0, 3), (3, 10))]
    parts3 = [frame_photons(ev, flux, a, a + 1) for a in range(10)]
    for split in (parts, parts3):
        for name in ("frame", "emitter", "photons", "on_fraction"):
            joined = np.concatenate([getattr(p, name) for p in split])
            assert joined.dtype == getattr(whole, name).dtype
            assert joined.tobytes() == getattr(whole, name).tobytes(), name


def test_window_query_touches_only_nearby_events():
    n, frames, tau = 20000, 10000, 2.0
    ev = single_events(rng(14), n, frames, tau)
    t0, t1 = 5000, 5010
    sl = ev.window(t0, t1)
    overlapping = np.flatnonzero((ev.t_on < t1) & (ev.t_off > t0))
    # complete: every overlapping event is a candidate
    assert overlapping.min() >= sl.start and overlapping.max() < sl.stop
    # local: candidates start no earlier than t0 minus the longest on-time (running-max bound)
    dmax = (ev.t_off - ev.t_on).max()
    bound = np.count_nonzero((ev.t_on >= t0 - dmax) & (ev.t_on < t1))
    assert sl.stop - sl.start <= bound
    assert bound < len(ev) / 100  # i.e. proportional to the window, not the movie
    # and the rows equal a brute-force evaluation over all events
    fp = frame_photons(ev, np.ones(n), t0, t1)
    brute = frame_photons(Events(ev.emitter[overlapping], ev.t_on[overlapping],
                                 ev.t_off[overlapping]), np.ones(n), t0, t1)
    assert fp.frame.tobytes() == brute.frame.tobytes()
    assert fp.on_fraction.tobytes() == brute.on_fraction.tobytes()
    assert set(fp.frame.tolist()) <= set(range(t0, t1))


def test_events_sorted_and_readonly():
    ev = Events([2, 0, 1], [5.0, 1.0, 1.0], [6.0, 2.0, 9.0])
    np.testing.assert_array_equal(ev.emitter, [0, 1, 2])
    np.testing.assert_array_equal(ev.t_off_runmax, [2.0, 9.0, 9.0])
    with pytest.raises(ValueError):
        ev.t_on[0] = 3.0
    with pytest.raises(ValueError):
        Events([0], [2.0], [1.0])
    empty = frame_photons(Events([], [], []), np.ones(0), 0, 5)
    assert len(empty) == 0 and empty.frame.dtype == np.int64


# ---------------------------------------------------------------- helpers for interval statistics


def assert_exp_mean(sample, mean, what=""):
    """Mean of an Exp(mean) sample within 5 SE, SE = mean / sqrt(N)."""
    sample = np.asarray(sample, dtype=np.float64)
    se = mean / np.sqrt(sample.size)
    assert abs(sample.mean() - mean) < Z5 * se, f"{what}: {sample.mean()} vs {mean} (se {se})"


def gaps(ev, start_before=np.inf):
    """Dark gaps between consecutive on-intervals of one emitter, and the emitter of each.

    A gap is seen only if the next interval starts inside the movie, which censors long gaps.
    Keep gaps starting before ``frames - 40 × mean``: each of them is seen unless it exceeds
    40 means (probability e^-40), so they are an uncensored sample.
    """
    o = np.lexsort((ev.t_on, ev.emitter))
    e, a, b = ev.emitter[o], ev.t_on[o], ev.t_off[o]
    keep = (e[1:] == e[:-1]) & (b[:-1] < start_before)
    return (a[1:] - b[:-1])[keep], e[1:][keep]


def same_bytes(a, b):
    return all(getattr(a, k).tobytes() == getattr(b, k).tobytes()
               for k in ("emitter", "t_on", "t_off"))


# ---------------------------------------------------------------- 4-state (SMLM Challenge 2016)

T_ON, T_DARK, T_BLEACH = 3.0, 2.5, 1.5  # published values (frames)


def test_four_state_on_dark_and_bleach_statistics():
    n, frames = 20000, 10**6
    ev = four_state_events(rng(20), n, frames, T_ON, None, T_DARK, T_BLEACH)
    first_on = np.full(n, np.inf)
    np.minimum.at(first_on, ev.emitter, ev.t_on)
    # Keep emitters activated well before the end (a selection on the activation time only,
    # independent of the kinetics that follow): none of their blinking is cut off.
    done = first_on < frames - 1000
    assert done.sum() > 0.99 * n
    sel = done[ev.emitter]
    sub = Events(ev.emitter[sel], ev.t_on[sel], ev.t_off[sel])
    # one on-interval: the first of two competing exponentials
    assert_exp_mean(sub.t_off - sub.t_on, 1.0 / (1.0 / T_ON + 1.0 / T_BLEACH), "on-interval")
    assert_exp_mean(gaps(sub)[0], T_DARK, "dark time")
    # bleaching acts only while on: the on-time accumulated until bleaching is Exp(t_bleach)
    total_on = np.bincount(sub.emitter, weights=sub.t_off - sub.t_on, minlength=n)[done]
    assert_exp_mean(total_on, T_BLEACH, "on-time until bleaching")
    # on-intervals per emitter ~ Geometric(p = t_on / (t_on + t_bleach))
    p = T_ON / (T_ON + T_BLEACH)
    per = np.bincount(sub.emitter, minlength=n)[done]
    se = np.sqrt((1 - p) / p**2 / per.size)
    assert per.min() >= 1 and abs(per.mean() - 1 / p) < Z5 * se, (per.mean(), 1 / p)


def test_four_state_activation_uniform_and_constant_density():
    n, frames = 20000, 100
    ev = four_state_events(rng(21), n, frames, T_ON, None, T_DARK, T_BLEACH)
    first_on = np.full(n, np.inf)
    np.minimum.at(first_on, ev.emitter, ev.t_on)
    # every emitter is activated once inside the movie, uniformly over [0, frames)
    assert np.all(first_on < frames) and first_on.min() >= 0
    se = frames / np.sqrt(12 * n)
    assert abs(first_on.mean() - frames / 2) < Z5 * se
    assert_fraction(np.count_nonzero(first_on < 25), n, 0.25, "activated in [0, 25)")
    # With a lead-in the density of emitters on is flat from frame 0: fraction on at t =
    # (expected on-time t_bleach) / (frames + lead), less the on-time left after age t + lead
    # (< 1 % of t_bleach from age 20 on: far below the standard error).
    lead = 20.0
    ev = four_state_events(rng(22), n, frames, T_ON, None, T_DARK, T_BLEACH, lead_in_frames=lead)
    assert np.all(ev.t_off > 0)  # intervals over before frame 0 are dropped
    assert ev.t_on.min() < 0  # ... but those still on at frame 0 are kept
    density = T_BLEACH / (frames + lead)
    for t in (0.0, 0.5, 50.2, 99.0):
        k = np.count_nonzero((ev.t_on <= t) & (ev.t_off > t))
        assert_fraction(k, n, density, f"on fraction at t={t}")


def test_four_state_exponential_activation_and_scale():
    n, t_off = 20000, 40.0
    scale = np.where(np.arange(n) % 2 == 0, 1.0, 0.25)
    ev = four_state_events(rng(23), n, 10**9, T_ON, t_off, T_DARK, T_BLEACH,
                           activation_scale=scale)
    first_on = np.full(n, np.inf)
    np.minimum.at(first_on, ev.emitter, ev.t_on)
    for s in (1.0, 0.25):
        assert_exp_mean(first_on[scale == s], t_off / s, f"activation delay, scale {s}")
    # the scale acts on activation only: on-intervals keep their mean
    assert_exp_mean(ev.t_off - ev.t_on, 1.0 / (1.0 / T_ON + 1.0 / T_BLEACH), "on-interval")


def test_four_state_uniform_activation_scale_is_a_density():
    n, frames = 20000, 100
    scale = np.where(np.arange(n) % 2 == 0, 0.3, 0.0)
    ev = four_state_events(rng(24), n, frames, T_ON, None, T_DARK, T_BLEACH,
                           activation_scale=scale)
    assert not np.any(scale[ev.emitter] == 0)  # zero light: never activated
    active = np.unique(ev.emitter)
    assert_fraction(active.size, n // 2, 0.3, "activated within the movie at scale 0.3")
    first_on = np.full(n, np.inf)
    np.minimum.at(first_on, ev.emitter, ev.t_on)
    # given activation, still uniform over the movie
    se = frames / np.sqrt(12 * active.size)
    assert abs(first_on[active].mean() - frames / 2) < Z5 * se


def test_four_state_deterministic_and_scale_one_is_default():
    args = (500, 200, T_ON, None, T_DARK, T_BLEACH)
    a = four_state_events(rng(25), *args, lead_in_frames=20)
    b = four_state_events(rng(25), *args, lead_in_frames=20)
    c = four_state_events(rng(25), *args, lead_in_frames=20, activation_scale=np.ones(500))
    d = four_state_events(rng(26), *args, lead_in_frames=20)
    assert len(a) > 500 and same_bytes(a, b) and same_bytes(a, c)
    assert not same_bytes(a, d)


def test_four_state_validation():
    with pytest.raises(ValueError):
        four_state_events(rng(), 10, 10, 0.0, None, T_DARK, T_BLEACH)
    with pytest.raises(ValueError):
        four_state_events(rng(), 10, 10, T_ON, -1.0, T_DARK, T_BLEACH)
    with pytest.raises(ValueError):
        four_state_events(rng(), 10, 10, T_ON, None, T_DARK, T_BLEACH, lead_in_frames=-1)
    with pytest.raises(ValueError):
        four_state_events(rng(), 10, 10, T_ON, None, T_DARK, T_BLEACH,
                          activation_scale=np.ones(9))


# ---------------------------------------------------------------- markov activation scale


def test_markov_activation_scale_divides_off_time():
    n, frames, on, off = 4000, 3000, 2.0, 6.0
    scale = np.where(np.arange(n) % 2 == 0, 1.0, 0.2)
    ev = markov_events(rng(27), n, frames, on, off, 0.0, activation_scale=scale)
    g, owner = gaps(ev, start_before=frames - 40 * off / 0.2)
    for s in (1.0, 0.2):
        assert_exp_mean(g[scale[owner] == s], off / s, f"off-time at scale {s}")
        mine = scale[ev.emitter] == s
        assert_exp_mean((ev.t_off - ev.t_on)[mine], on, f"on-time at scale {s}")
        # stationary start with the emitter's own duty cycle
        duty = on / (on + off / s)
        for t in (0.0, 5.0, 200.3):  # 5: the first (residual) off-time is scaled too
            k = np.count_nonzero(mine & (ev.t_on <= t) & (ev.t_off > t))
            assert_fraction(k, n // 2, duty, f"on fraction at t={t}, scale {s}")


def test_markov_activation_scale_default_and_refusals():
    args = (2000, 50, 1.0, 3.0, 0.1)
    base = markov_events(rng(28), *args)
    assert same_bytes(base, markov_events(rng(28), *args, activation_scale=np.ones(2000)))
    assert same_bytes(base, markov_events(rng(28), *args, activation_scale=1.0))
    half = markov_events(rng(28), *args, activation_scale=0.5)
    assert not same_bytes(base, half)
    dark = np.arange(2000) < 1000
    ev = markov_events(rng(28), *args, activation_scale=np.where(dark, 0.0, 1.0))
    assert not np.any(dark[ev.emitter]) and len(ev) > 0  # zero activation: never on
    for bad in (np.full(2000, 1.5), np.full(2000, -0.1), np.full(2000, np.nan), np.ones(3)):
        with pytest.raises(ValueError):
            markov_events(rng(), *args, activation_scale=bad)


# ---------------------------------------------------------------- DNA-PAINT


def test_paint_bound_and_unbound_times_in_seconds():
    n, frames, k_per_s, tau_s, dt_ms = 2000, 50000, 0.05, 0.4, 100.0
    ev = paint_events(rng(29), n, frames, k_per_s, tau_s, dt_ms)
    dt_s = dt_ms / 1000.0
    on_frames, off_frames = tau_s / dt_s, 1.0 / (k_per_s * dt_s)  # 4 and 200 frames
    assert_exp_mean(ev.t_off - ev.t_on, on_frames, "bound time")
    assert_exp_mean(gaps(ev, start_before=frames - 40 * off_frames)[0], off_frames,
                    "unbound time")
    # no bleaching: binding events keep coming at rate 1/(on + off) per site
    duty = k_per_s * tau_s / (1 + k_per_s * tau_s)
    per = np.bincount(ev.emitter, minlength=n)
    assert_mean(per, frames / (on_frames + off_frames) + duty, "events per site")
    assert np.all(ev.t_on < frames)
    # stationary from the start: bound fraction k tau / (1 + k tau) at any time
    n = 20000
    ev = paint_events(rng(32), n, 100, k_per_s, tau_s, dt_ms)
    for t in (0.0, 0.5, 3.0, 99.0):
        k = np.count_nonzero((ev.t_on <= t) & (ev.t_off > t))
        assert_fraction(k, n, duty, f"bound fraction at t={t}")


def test_paint_deterministic_and_refusals():
    a = paint_events(rng(30), 300, 500, 0.1, 0.5, 50.0)
    assert same_bytes(a, paint_events(rng(30), 300, 500, 0.1, 0.5, 50.0))
    assert not same_bytes(a, paint_events(rng(31), 300, 500, 0.1, 0.5, 50.0))
    for bad in ((0.0, 0.5, 50.0), (0.1, -1.0, 50.0), (0.1, 0.5, 0.0), (np.inf, 0.5, 50.0)):
        with pytest.raises(ValueError):
            paint_events(rng(), 10, 10, *bad)
