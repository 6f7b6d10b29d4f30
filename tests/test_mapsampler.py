"""The exact per-level sampler of structured-background frames (kernels.mapsampler) against the full chain.

Distribution tests are Pearson χ² of ADU histograms (cells pooled to >= 5 expected), rejected
below p = 1e-6 (a 5-sigma-like threshold; seeds are fixed, so a test either always passes or
always fails). Moments: per-pixel means and variances over frames as χ² sums over pixels,
within 5 standard deviations of their expectation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from kernels.background import background_map, smooth_field
from kernels.camera import Camera, background_pmf, expose
from kernels.mapsampler import (_BATCH, MIN_PIXELS, LevelTables, MapSampler, _alias_draw, _integer_weights,
                                _integer_weights_rows, alias_table, alias_tables, level_bounds, level_pmfs,
                                level_step_photons,
                                map_sampler)
from kernels.photophysics import place_emitters, single_events
from kernels.psf import GaussianPSF
from kernels.render import Scene, render_chunk, render_expected
from kernels.rng import generator, key_words

P_MIN = 1e-6
Z5 = 5.0


def _chi2_pvalue(counts: np.ndarray, pmf: np.ndarray, min_expected: float = 5.0) -> float:
    """Pearson χ² of counts against a pmf, pooling the smallest cells to >= min_expected each."""
    expected = pmf * counts.sum()
    obs, exp, acc_o, acc_e = [], [], 0.0, 0.0
    for i in np.argsort(expected):
        acc_o, acc_e = acc_o + counts[i], acc_e + expected[i]
        if acc_e >= min_expected:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o = acc_e = 0.0
    obs[-1] += acc_o
    exp[-1] += acc_e
    obs, exp = np.array(obs), np.array(exp)
    return stats.chi2.sf(((obs - exp) ** 2 / exp).sum(), len(obs) - 1)


def _two_sample_pvalue(a: np.ndarray, b: np.ndarray, min_expected: float = 5.0) -> float:
    """χ² test of homogeneity of two integer samples (values pooled where either expects < 5)."""
    lo = min(a.min(), b.min())
    ca = np.bincount(a - lo)
    cb = np.bincount(b - lo, minlength=ca.size)
    ca = np.pad(ca, (0, cb.size - ca.size))
    total = ca + cb
    pooled_a, pooled_b, acc_a, acc_b = [], [], 0, 0
    for i in range(total.size):  # pool neighbouring values (in order) until both expect enough
        acc_a, acc_b = acc_a + ca[i], acc_b + cb[i]
        if (acc_a + acc_b) * min(a.size, b.size) / (a.size + b.size) >= min_expected:
            pooled_a.append(acc_a)
            pooled_b.append(acc_b)
            acc_a = acc_b = 0
    pooled_a[-1] += acc_a
    pooled_b[-1] += acc_b
    table = np.array([pooled_a, pooled_b])
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    return p


SCMOS = {
    "r10": Camera(readout_noise_e=10.0),
    "r1.5-s0.5-qe0.8": Camera(readout_noise_e=1.5, e_per_adu=0.5, qe=0.8),
    "r0-s1": Camera(readout_noise_e=0.0, e_per_adu=1.0, baseline_adu=10.0),  # counts seen exactly
    "r2-8bit": Camera(readout_noise_e=2.0, bit_depth=8),                      # clips at 255
    "r1-fullwell": Camera(readout_noise_e=1.0, full_well_e=30.0),
}


@pytest.mark.parametrize("name", sorted(SCMOS))
def test_level_pmfs_are_background_pmf(name):
    camera = SCMOS[name]
    levels = np.array([0.0, 0.0625, 3.5, 41.25, 180.0])
    offset, pmf = level_pmfs(camera, levels)
    for photons, row in zip(levels, pmf):
        o, want = background_pmf(camera, photons)
        got = np.zeros(max(offset + row.size, o + want.size) - min(offset, o))
        ref = got.copy()
        got[offset - min(offset, o):][: row.size] = row
        ref[o - min(offset, o):][: want.size] = want
        # the union of the electron windows keeps a little more than background_pmf's own: < 1e-30
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13)


def test_level_pmfs_with_an_extra_electron_shift_the_law():
    # 1 e-/ADU and an integer baseline: one more electron is one more ADU (no clipping in range)
    camera = SCMOS["r10"]
    offset0, pmf0 = level_pmfs(camera, np.array([37.25, 120.0]))
    offset1, pmf1 = level_pmfs(camera, np.array([37.25, 120.0]), extra_e=1)
    for row0, row1 in zip(pmf0, pmf1):
        a = np.zeros(row0.size + row1.size + 4)
        b = a.copy()
        a[offset0 - min(offset0, offset1) + 1:][: row0.size] = row0
        b[offset1 - min(offset0, offset1):][: row1.size] = row1
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def test_alias_tables_are_exact_integer_tables_and_draw_by_definition():
    rng = np.random.default_rng(1)
    for size in (1, 2, 3, 17, 200, 256, 300):
        pmf = rng.random(size) ** 3
        pmf[rng.random(size) < 0.2] = 0.0
        pmf[0] += 1e-9
        weights = _integer_weights(pmf)
        assert weights.sum() == 2**32 and np.all(np.abs(weights - pmf / pmf.sum() * 2.0**32) <= 1)
        c, entries = alias_table(weights, bits=3)
        assert entries.size == 1 << c and (1 << c) >= size and c >= 3
        e = entries.astype(np.int64)
        keep, alias = e >> c, e & ((1 << c) - 1)  # own value for fractions < keep
        got = np.bincount(np.arange(1 << c), keep, 1 << c) + np.bincount(alias, (1 << (32 - c)) - keep, 1 << c)
        np.testing.assert_array_equal(got[:size].astype(np.int64), weights)
        assert got[size:].sum() == 0
        # the packed compare is "fraction < keep": column's own value, else its alias
        bits = rng.integers(0, 2**32, 60_000, dtype=np.uint64).astype(np.uint32)
        e = entries.astype(np.int64)
        keep, alias = e >> c, e & ((1 << c) - 1)
        columns = np.arange(1 << c, dtype=np.int64)
        bits[: 1 << c] = (columns << (32 - c)).astype(np.uint32)                    # fraction 0
        bits[1 << c: 2 << c] = ((columns << (32 - c)) | keep).astype(np.uint32)      # fraction = keep: the alias
        bits[2 << c: 3 << c] = ((columns << (32 - c)) | np.maximum(keep - 1, 0)).astype(np.uint32)
        out = np.full(bits.size, 7, dtype=np.uint16)  # the row's offset: the draw adds to it
        _alias_draw(c, entries, np.zeros(bits.size, dtype=np.intp), bits, out)
        column = bits.astype(np.int64) >> (32 - c)
        fraction = bits.astype(np.int64) & ((1 << (32 - c)) - 1)
        np.testing.assert_array_equal(out, 7 + np.where(fraction < keep[column], column, alias[column]))


def _vose(weights, bits):
    """Vose's alias construction, one column at a time (the reference for alias_tables)."""
    weights = [int(w) for w in weights]
    c = max(1, bits, (len(weights) - 1).bit_length())
    size, capacity = 1 << c, 1 << (32 - c)
    w = weights + [0] * (size - len(weights))
    keep, alias = [capacity] * size, list(range(size))
    small = [i for i in range(size) if w[i] < capacity]
    large = [i for i in range(size) if w[i] >= capacity]
    while small and large:
        lo, hi = small.pop(), large[-1]
        keep[lo], alias[lo] = w[lo], hi
        w[hi] -= capacity - w[lo]
        if w[hi] < capacity:
            small.append(large.pop())
    for i in range(size):
        if keep[i] == capacity:  # a full column: C - 1 own fractions, the last one aliases to itself
            keep[i], alias[i] = capacity - 1, i
    return c, np.array([(k << c) | a for k, a in zip(keep, alias)], dtype=np.uint32)


def test_alias_tables_are_vose_tables_row_by_row():
    rng = np.random.default_rng(5)
    for trial in range(120):
        size, rows, bits = int(rng.integers(1, 300)), int(rng.integers(1, 6)), int(rng.integers(1, 10))
        pmfs = []
        for _ in range(rows):
            pmf = rng.random(size) ** rng.choice([1, 3, 8])
            pmf[rng.random(size) < 0.5 * rng.random()] = 0.0
            if trial % 7 == 0:
                pmf[:] = 1.0  # every column exactly full (when the size is a power of two)
            pmf[0] += 1e-9
            pmfs.append(pmf)
        weights = _integer_weights_rows(pmfs)
        c, got = alias_tables(weights, bits)
        for row, pmf, table in zip(weights, pmfs, got):
            np.testing.assert_array_equal(row, _integer_weights(pmf))
            c0, want = _vose(row, bits)
            assert c == c0
            np.testing.assert_array_equal(table, want)


def test_alias_tables_refuse_weights_that_are_no_integer_table():
    for weights in ([2**31, 2**31 - 1], [2**62, 2**62, 2**62, 2**62 + 2**32], [2**33, -(2**33) + 2**32],
                    [0.5 * 2**32, 0.5 * 2**32], [2**64, 0]):
        with pytest.raises(ValueError):
            alias_table(weights)


def test_levels_beyond_the_memory_limit_get_no_table(monkeypatch):
    import kernels.mapsampler as M

    monkeypatch.setattr(M, "_MAX_BYTES", 3 * _BATCH * (4 << 8))  # 3 blocks of 8-bit tables
    camera = SCMOS["r10"]
    tables = LevelTables(camera, level_step_photons(camera.qe), bits=8)
    top = tables.max_rows
    assert tables.prepare(np.array([5, top - 1, top, top + 7])).tolist() == [True, True, False, False]
    assert tables.built.size <= top


def test_tables_are_built_in_whole_blocks_the_same_whatever_was_asked_before():
    camera = SCMOS["r1.5-s0.5-qe0.8"]
    step = level_step_photons(camera.qe)
    levels = np.arange(3 * _BATCH - 40, 5 * _BATCH + 7)
    at_once = LevelTables(camera, step, bits=8)
    at_once.prepare(levels)
    one_by_one = LevelTables(camera, step, bits=8)
    for j in np.random.default_rng(2).permutation(levels)[:25]:
        one_by_one.prepare(np.array([j]))
        block = np.arange(j // _BATCH * _BATCH, (j // _BATCH + 1) * _BATCH)
        assert one_by_one.built[block].all()  # (all these levels fit: 8 bits of columns)
    one_by_one.prepare(levels)
    assert one_by_one.levels == at_once.levels == 4 * _BATCH
    np.testing.assert_array_equal(one_by_one.entries[levels], at_once.entries[levels])
    np.testing.assert_array_equal(one_by_one.offset[levels], at_once.offset[levels])


@pytest.mark.parametrize("name", sorted(SCMOS))
def test_level_tables_hold_the_exact_law(name):
    camera = SCMOS[name]
    step = level_step_photons(camera.qe)
    tables = LevelTables(camera, step, bits=9)
    levels = np.array([0, 1, 57, 660, 2880]) if step == 1 / 16 else np.array([0, 1, 57, 660])
    assert tables.prepare(levels).all()
    for j in levels:
        offset, pmf = tables.probabilities(int(j))
        o, want = background_pmf(camera, j * step)
        ref = np.zeros(pmf.size)
        lo, hi = max(o, offset), min(o + want.size, offset + pmf.size)
        ref[lo - offset:hi - offset] = want[lo - o:hi - o]
        # 2^-32 rounding per value, and the tails beyond the cut (< 2^-34 each) folded into the end values
        np.testing.assert_allclose(pmf, ref, rtol=0, atol=2.0**-32 + 2.0**-33)
        assert pmf.sum() == 1.0


def _frames(camera, bmap, frames, factor=1.0, seed=0):
    sampler = MapSampler(camera, bmap)
    empty_i, empty_p = np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32)
    return np.stack([sampler.expose(np.random.default_rng([seed, t]), factor, empty_i, empty_p)
                     for t in range(frames)])


@pytest.mark.parametrize("name", sorted(SCMOS))
@pytest.mark.parametrize("photons", [2.06, 37.3, 150.01])
def test_pixel_law_is_the_exact_law_and_the_chain(name, photons):
    """One background value off the level grid (its remainder δ is drawn): 2.6·10⁵ pixels against the
    exact distribution of the chain at that value, and against the chain itself (homogeneity)."""
    camera = SCMOS[name]
    bmap = np.full((256, 256), photons, dtype=np.float32)
    drawn = _frames(camera, bmap, 4).ravel().astype(np.int64)
    offset, pmf = background_pmf(camera, float(np.float32(photons)))
    assert drawn.min() >= offset and drawn.max() < offset + pmf.size
    assert _chi2_pvalue(np.bincount(drawn - offset, minlength=pmf.size), pmf) > P_MIN
    chain = np.concatenate([expose(camera, bmap, np.random.default_rng(100 + t)).ravel() for t in range(4)])
    assert _two_sample_pvalue(drawn, chain.astype(np.int64)) > P_MIN


def test_the_remainder_matters():
    """A value just below a grid point (δ ≈ Δ): dropping the remainder M would be seen (the test's power)."""
    camera = SCMOS["r0-s1"]
    step = level_step_photons(camera.qe)
    photons = np.float32(32 * step + 0.999 * step)  # 2.06 photons: level 2.0, δ = 0.062
    drawn = _frames(camera, np.full((256, 256), photons, dtype=np.float32), 8).ravel().astype(np.int64)
    offset, exact = background_pmf(camera, float(photons))
    _, level_only = background_pmf(camera, 32 * step)
    counts = np.bincount(drawn - offset, minlength=exact.size)
    assert _chi2_pvalue(counts, exact) > P_MIN
    assert _chi2_pvalue(counts, level_only) < P_MIN


def test_moments_over_a_smooth_map_with_sparse_levels():
    """Per-pixel mean and variance over frames follow the model on a smooth field (amplitude 0.03
    around 100 photons: a few hundred pixels per level on 128², not 0.3) with a factor 0.8; the
    field's tails hold levels of < MIN_PIXELS pixels (recorded by the chain), included here."""
    qe, s, read = 0.9, 0.5, 1.5
    camera = Camera(qe=qe, e_per_adu=s, readout_noise_e=read, baseline_adu=100.0)
    shape, frames, factor = (128, 128), 150, 0.8
    bmap = background_map(100.0, shape, smooth_field(np.random.default_rng(4), shape, 6.0), 0.03)
    movie = _frames(camera, bmap, frames, factor).astype(np.float64)
    step = level_step_photons(qe)
    p = (bmap * np.float32(factor)).astype(np.float64)
    levels, counts = np.unique(np.floor(p / step), return_counts=True)
    assert (counts < MIN_PIXELS).any() and (counts >= MIN_PIXELS).any()
    g = 1.0 / s
    mean = 100.0 + g * qe * p
    var = g**2 * qe * p + (read * g) ** 2 + 1 / 12  # read noise of 3 ADU: Sheppard's 1/12 is exact to < 1e-6
    n = p.size
    chi2_mean = (((movie.mean(axis=0) - mean) ** 2) / (var / frames)).sum()
    assert abs(chi2_mean - n) < Z5 * np.sqrt(2 * n), chi2_mean
    # sample variance: (frames - 1) s² / var ~ χ²(frames - 1) for near-Gaussian values; the sum over pixels
    # has mean n (frames - 1) and variance ≈ 2 n (frames - 1) (excess kurtosis of Poisson is 1/λ: negligible)
    scaled = ((frames - 1) * movie.var(axis=0, ddof=1) / var).sum()
    assert abs(scaled - n * (frames - 1)) < Z5 * np.sqrt(2 * n * (frames - 1) * 1.02), scaled
    # the map is structured: the constant mean fails
    assert (((movie.mean(axis=0) - mean.mean()) ** 2) / (var / frames)).sum() > n + Z5 * np.sqrt(2 * n)


def _scene(camera, shape=(40, 48), frames=6, n=40, tau=20.0):
    key = key_words(3, "mapsampler-test")
    emitters = place_emitters(generator(key, "emitters"), n, shape, 100.0, 40.0, 0.0, 4000.0, 500.0)
    events = single_events(generator(key, "blinking"), n, frames, 2.0)
    bmap = background_map(60.0, shape, smooth_field(generator(key, "field"), shape, 5.0), 0.3)
    return Scene(key=key, roi_shape=shape, pixel_size_nm=100.0, background_photons=60.0, emitters=emitters,
                 events=events, psf=GaussianPSF(sigma_nm=130.0, radius_px=4), camera=camera,
                 background_map=bmap, background_bleach_tau_frames=tau)


def test_render_uses_the_sampler_and_is_chunk_independent():
    camera = Camera(readout_noise_e=2.0)
    scene = _scene(camera)
    assert map_sampler(camera, scene.background_map) is map_sampler(camera, scene.background_map)
    whole, _ = render_chunk(scene, 0, 6)
    parts = np.concatenate([render_chunk(scene, a, b)[0] for a, b in ((0, 1), (1, 4), (4, 6))])
    assert parts.tobytes() == whole.tobytes()
    # not the full-chain path (whose bytes differ), but the same expected image
    photons, _ = render_expected(scene, 0, 6)
    chain = np.stack([expose(camera, photons[i], generator(scene.key, "camera", frame=i)) for i in range(6)])
    assert chain.tobytes() != whole.tobytes()
    resid = (whole.astype(np.float64) - 100.0 - photons) / np.sqrt(photons + 4.0 + 1 / 12)
    assert abs(resid.mean()) < Z5 / np.sqrt(resid.size) and abs(resid.var() - 1) < Z5 * np.sqrt(2 / resid.size)


def test_level_bounds_are_the_searches_of_the_painted_products():
    # the bounds of each level without the product of every pixel: equal to searching the float32
    # products themselves, on maps made to catch a rounding (runs of equal values, values whose
    # product lands on or next to a level edge, zeros) and at factors near 1, tiny and large
    rng = np.random.default_rng(11)
    step = level_step_photons(0.9)
    edges = np.arange(0, 4000) * np.float32(step)
    near = np.concatenate([np.nextafter(edges, np.float32(np.inf)), np.nextafter(edges, np.float32(-np.inf)), edges])
    maps = [rng.uniform(0, 200, 5000).astype(np.float32),
            np.repeat(rng.uniform(10, 50, 40).astype(np.float32), 100),        # long runs of equal values
            near[near >= 0].astype(np.float32),                                # on and beside the edges
            np.concatenate([np.zeros(50, np.float32), np.full(50, 7.25, np.float32)]),
            np.full(300, 100.0, np.float32)]                                   # a constant map
    factors = [1.0, 0.97, np.float32(1) - np.float32(2**-24), 1.0 + 2**-23, 0.5, 0.013, 3.7, 1e-4]
    for bmap in maps:
        ascending = np.sort(bmap)
        for factor in map(np.float32, factors + list(rng.uniform(0.2, 2.0, 20))):
            product = ascending * factor
            first, last = int(product[0] * np.float32(1 / step)), int(product[-1] * np.float32(1 / step))
            want = np.searchsorted(product, (np.arange(first, last + 2) * step).astype(np.float32))
            got_first, got_last, got = level_bounds(ascending, factor, step)
            assert (got_first, got_last) == (first, last)
            np.testing.assert_array_equal(got, want)


def test_cameras_with_one_law_share_their_tables_and_frames_do_not_depend_on_it():
    # each job of a sweep has its own camera: equal laws share one store of tables (a worker builds
    # them once), and what a store already holds never changes a frame
    import kernels.mapsampler as ms

    bmap = background_map(40.0, (48, 64), smooth_field(np.random.default_rng(3), (48, 64), 6.0), 0.6)
    first = Camera(readout_noise_e=1.5, e_per_adu=0.5, qe=0.8)
    again = Camera(readout_noise_e=1.5, e_per_adu=0.5, qe=0.8, dark_e=np.zeros((48, 64), np.float32))
    other = Camera(readout_noise_e=1.5, e_per_adu=0.5, qe=0.8, baseline_adu=101.0)
    ms._tables_of_law.cache_clear()
    index, photons = np.array([5, 700]), np.array([300.0, 80.0], dtype=np.float32)
    fresh = MapSampler(again, bmap).expose(np.random.default_rng(4), 0.7, index, photons)
    assert MapSampler(again, bmap).tables.levels_built > 0
    ms._tables_of_law.cache_clear()
    a = MapSampler(first, bmap)
    a.expose(np.random.default_rng(1), 1.3, index, photons)  # (builds more levels than the frame below needs)
    b = MapSampler(again, bmap)
    assert b.tables is a.tables and b.tables_plus_one is a.tables_plus_one
    assert MapSampler(other, bmap).tables is not a.tables
    np.testing.assert_array_equal(b.expose(np.random.default_rng(4), 0.7, index, photons), fresh)
    ms._tables_of_law.cache_clear()


def test_threads_drawing_one_map_give_the_frames_of_one_thread():
    # a worker with several threads draws frames of one job at once: tables are built under the
    # store's lock while the other thread draws from them, each thread with its own buffers
    from concurrent.futures import ThreadPoolExecutor

    import kernels.mapsampler as ms

    camera = SCMOS["r1.5-s0.5-qe0.8"]
    bmap = background_map(60.0, (256, 512), smooth_field(np.random.default_rng(8), (256, 512), 9.0), 0.5)
    index, photons = np.array([3, 999, 20000]), np.array([500.0, 90.0, 40.0], dtype=np.float32)
    factors = [1.0, 0.4, 1.9, 1.0, 0.7, 1.3, 0.4, 2.5, 1.0, 0.55, 1.7, 0.9] * 2  # (4 blocks of pixels a frame)

    def frames(sampler, threads):
        def one(t):
            return sampler.expose(np.random.default_rng([9, t]), factors[t], index, photons)

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(len(factors))))

    ms._tables_of_law.cache_clear()
    want = frames(MapSampler(camera, bmap), 1)
    ms._tables_of_law.cache_clear()
    got = frames(MapSampler(camera, bmap), 3)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    ms._tables_of_law.cache_clear()


def test_frames_at_a_repeated_factor_reuse_their_levels_with_the_same_bytes():
    # a map without a temporal factor: from its second frame on, the sampler keeps the levels
    camera = SCMOS["r1.5-s0.5-qe0.8"]
    bmap = background_map(40.0, (48, 64), smooth_field(np.random.default_rng(3), (48, 64), 6.0), 0.6)
    index, photons = np.array([5, 700, 2000]), np.array([300.0, 80.0, 1500.0], dtype=np.float32)
    kept = MapSampler(camera, bmap)
    for t, factor in enumerate([1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 0.5, 0.5]):
        fresh = MapSampler(camera, bmap).expose(np.random.default_rng([7, t]), factor, index, photons)
        again = kept.expose(np.random.default_rng([7, t]), factor, index, photons)
        np.testing.assert_array_equal(again, fresh)
        assert (kept._static is not None and kept._static[0] == np.float32(factor)) == (t in (1, 2, 4, 6, 7))


def test_a_map_bleached_to_nothing_renders_a_frame_without_background():
    # exp(-f / tau) underflows to float32 0 past f / tau ~ 104: those frames have no background at all
    camera = Camera(readout_noise_e=2.0)
    scene = _scene(camera, frames=130, n=400, tau=1.0)
    late = render_chunk(scene, 110, 130)
    assert np.float32(np.exp(-110.0)) == 0
    dark = dataclasses.replace(scene, background_map=None, background_photons=0.0, background_bleach_tau_frames=None)
    reference = render_chunk(dark, 110, 130)
    assert late[0].tobytes() == reference[0].tobytes() and late[1].tobytes() == reference[1].tobytes()
    assert late[1].size  # some emitters are on


@pytest.mark.parametrize("camera", [Camera(kind="emccd", e_per_adu=45.0), Camera(kind="ideal"),
                                    Camera(readout_noise_e=2.0, shot_noise=False),
                                    Camera(readout_noise_e=2.0, offset_adu=np.full((40, 48), 90.0))],
                         ids=["emccd", "ideal", "no-shot-noise", "scmos-maps"])
def test_cameras_the_tables_do_not_model_take_the_whole_chain(camera):
    scene = _scene(camera, frames=3)
    assert map_sampler(camera, scene.background_map) is None
    frames, _ = render_chunk(scene, 0, 3)
    photons, _ = render_expected(scene, 0, 3)
    for i in range(3):
        want = expose(camera, photons[i], generator(scene.key, "camera", frame=i))
        assert frames[i].tobytes() == want.tobytes()


def test_lit_and_defective_pixels_keep_their_own_law():
    """Spots and hot/dead pixels go through the chain with their own expected photons: per-pixel
    means over frames at those pixels (χ² over pixels) follow the expected image."""
    shape, frames = (32, 32), 400
    dark = np.zeros(shape, dtype=np.float32)
    response = np.ones(shape, dtype=np.float32)
    dark[3, 5], dark[20, 7], response[10, 10], response[30, 2] = 40.0, 15.0, 0.0, 0.0
    camera = Camera(readout_noise_e=1.0, dark_e=dark, response=response)
    bmap = background_map(20.0, shape, smooth_field(np.random.default_rng(2), shape, 4.0), 0.3)
    sampler = MapSampler(camera, bmap)
    index = np.array([100, 101, 102, 500, 700, 1000])
    photons = (bmap.reshape(-1)[index] + np.array([500, 40, 3, 200, 0.5, 70])).astype(np.float32)
    movie = np.stack([sampler.expose(np.random.default_rng([9, t]), 1.0, index, photons)
                      for t in range(frames)]).astype(np.float64).reshape(frames, -1)
    lam = bmap.reshape(-1).astype(np.float64)
    lam[index] = photons
    lam_e = lam * response.reshape(-1) + dark.reshape(-1)
    watch = np.concatenate([index, np.flatnonzero((dark != 0) | (response != 1))])
    mean, var = 100.0 + lam_e[watch], lam_e[watch] + 1.0 + 1 / 12
    chi2 = (((movie[:, watch].mean(axis=0) - mean) ** 2) / (var / frames)).sum()
    assert chi2 < stats.chi2.isf(P_MIN, watch.size), chi2
    assert np.all(movie[:, [10 * 32 + 10, 30 * 32 + 2]].mean(axis=0) < 100.5)  # dead: read noise only


def test_levels_beyond_the_table_memory_take_the_chain(monkeypatch):
    """Levels above the rows the tables may hold (here 100 rows) get none: their pixels go through
    the chain, with the same law."""
    import kernels.mapsampler as ms

    camera = Camera(readout_noise_e=3.0)
    photons = np.float32(12.34)  # level 197 > 100 rows
    bits = ms._column_bits(camera, float(photons), level_step_photons(camera.qe))
    monkeypatch.setattr(ms, "_MAX_BYTES", 100 * (4 << bits))
    ms._tables_of_law.cache_clear()
    bmap = np.full((128, 128), photons, dtype=np.float32)
    sampler = MapSampler(camera, bmap)
    assert sampler.tables.max_rows <= 100
    drawn = _frames(camera, bmap, 6).ravel().astype(np.int64)
    assert sampler.tables.levels == 0
    offset, pmf = background_pmf(camera, float(photons))
    assert _chi2_pvalue(np.bincount(drawn - offset, minlength=pmf.size), pmf) > P_MIN
    ms._tables_of_law.cache_clear()  # (a store built under the patched limit is not for later tests)
