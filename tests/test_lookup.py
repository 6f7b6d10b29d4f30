"""Exact table sampling of background-only pixels (inverse-CDF look-up table) against the full camera chain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kernels.lookup import LookupTable, uniform_bits
from kernels.camera import Camera, background_pmf, expose


def _chi2_pvalue(counts: np.ndarray, pmf: np.ndarray, min_expected: float = 5.0) -> float:
    """Pearson χ² of observed counts against a pmf, pooling cells with small expectations."""
    expected = pmf * counts.sum()
    order = np.argsort(expected)
    obs, exp = [], []
    acc_o = acc_e = 0.0
    for i in order:  # pool the smallest cells until each pooled cell expects >= min_expected
        acc_o += counts[i]
        acc_e += expected[i]
        if acc_e >= min_expected:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e > 0 and exp:
        obs[-1] += acc_o
        exp[-1] += acc_e
    obs, exp = np.array(obs), np.array(exp)
    chi2 = ((obs - exp) ** 2 / exp).sum()
    return stats.chi2.sf(chi2, len(obs) - 1)


def test_table_reproduces_the_pmf_to_its_stated_error():
    rng = np.random.default_rng(3)
    for size in (1, 3, 17, 300, 1000):
        pmf = rng.random(size) ** 3
        table = LookupTable.from_pmf(pmf, offset=40)
        offset, table_pmf = table.probabilities()
        assert offset == 40 and table_pmf.size == size
        np.testing.assert_allclose(table_pmf, pmf / pmf.sum(), rtol=0, atol=table.max_error)


def test_table_samples_follow_the_pmf():
    pmf = stats.binom.pmf(np.arange(41), 40, 0.3)
    table = LookupTable.from_pmf(pmf, offset=7)
    draws = table.sample(np.random.default_rng(5), 400_000)
    counts = np.bincount(draws - 7, minlength=41)
    assert _chi2_pvalue(counts, pmf) > 1e-6  # 5-sigma-like threshold for a correct sampler


def test_fast_path_is_the_inverse_cdf_of_every_word():
    """Guide-table draws equal a binary search of the same random bits, including boundary cells."""
    for size, seed in ((1, 1), (2, 2), (17, 3), (300, 4), (5000, 5)):
        pmf = np.random.default_rng(seed).random(size) ** 4
        pmf[size // 2] += 1e-12 if size > 2 else 0.0
        table = LookupTable.from_pmf(pmf, offset=65536 - size if seed % 2 else 3)
        n = 200_003  # odd: the last word is used by half
        drawn = table.sample(np.random.default_rng(seed), n)
        words = np.random.default_rng(seed).bit_generator.random_raw((n + 1) // 2)
        np.testing.assert_array_equal(drawn, table.lookup(uniform_bits(words, n)))
        assert not np.any(drawn == table.unresolved)
    # the boundary cells themselves: bits just below and at each threshold
    table = LookupTable.from_pmf(np.random.default_rng(9).random(300), offset=100)
    edges = table.thresholds.astype(np.uint32)
    bits = np.concatenate([edges, edges - np.uint32(1)])
    expected = np.concatenate([np.arange(1, 300), np.arange(0, 299)]) + 100
    np.testing.assert_array_equal(table.lookup(bits), expected)
    bits, expected = np.tile(bits, 100), np.tile(expected, 100)  # several blocks
    words = bits[0::2].astype(np.uint64) | (bits[1::2].astype(np.uint64) << np.uint64(32))
    np.testing.assert_array_equal(table.sample(_Words(words), bits.size), expected)


def test_uniform_bits_are_low_half_first():
    words = np.array([0x0000000200000001, 0x0000000400000003], dtype=np.uint64)
    np.testing.assert_array_equal(uniform_bits(words, 3), [1, 2, 3])


class _Words:
    """Stands in for a Generator whose bit generator hands out the given raw words."""

    def __init__(self, words: np.ndarray):
        self.bit_generator, self._words = self, words

    def random_raw(self, n: int) -> np.ndarray:
        head, self._words = self._words[:n], self._words[n:]
        return head


SCMOS = [
    Camera(kind="scmos", readout_noise_e=10.0, e_per_adu=1.0, baseline_adu=100.0),
    Camera(kind="scmos", readout_noise_e=1.5, e_per_adu=0.5, baseline_adu=100.0, qe=0.8),
    Camera(kind="scmos", readout_noise_e=0.0, e_per_adu=2.0, baseline_adu=10.0),
    Camera(kind="scmos", readout_noise_e=3.0, e_per_adu=1.0, baseline_adu=0.0, shot_noise=False),
    Camera(kind="scmos", readout_noise_e=2.0, e_per_adu=1.0, baseline_adu=100.0, bit_depth=8),  # clips at 255
]


@pytest.mark.parametrize("camera", SCMOS, ids=lambda c: f"s{c.e_per_adu}_r{c.readout_noise_e}_q{c.qe}_b{c.bit_depth}")
@pytest.mark.parametrize("photons", [0.7, 20.0, 150.0])
def test_background_pmf_equals_the_chain(camera, photons):
    """The exact distribution against 2·10⁵ pixels drawn through the full chain (χ² test)."""
    offset, pmf = background_pmf(camera, photons)
    image = np.full((400, 500), photons, dtype=np.float32)
    chain = expose(camera, image, np.random.default_rng(11)).ravel().astype(np.int64)
    assert chain.min() >= offset and chain.max() < offset + pmf.size
    counts = np.bincount(chain - offset, minlength=pmf.size)
    assert _chi2_pvalue(counts, pmf) > 1e-6


def test_background_pmf_moments():
    camera = Camera(kind="scmos", readout_noise_e=10.0, e_per_adu=2.0, baseline_adu=100.0, qe=0.9)
    offset, pmf = background_pmf(camera, 100.0)
    k = offset + np.arange(pmf.size)
    mean = (k * pmf).sum()
    var = ((k - mean) ** 2 * pmf).sum()
    mu = 0.9 * 100.0
    # rounding of a smooth density: the mean is unbiased, the variance gains 1/12 (Sheppard)
    assert mean == pytest.approx(100.0 + mu / 2.0, abs=1e-6)
    assert var == pytest.approx((mu + 100.0) / 4.0 + 1 / 12, rel=1e-4)


def test_expose_with_background_table():
    camera = SCMOS[0]
    image = np.full((300, 300), 50.0, dtype=np.float32)
    image[100:110, 100:110] = 5000.0  # "lit" pixels go through the chain
    a = expose(camera, image, np.random.default_rng(2), background=50.0)
    b = expose(camera, image, np.random.default_rng(2), background=50.0)
    assert a.dtype == np.uint16 and a.tobytes() == b.tobytes()
    lit = a[100:110, 100:110].astype(np.float64)
    # mean 100 + 5000 ADU, sd sqrt(5000 + 100): 5 standard errors over 100 pixels
    assert abs(lit.mean() - 5100.0) < 5 * np.sqrt(5100.0 / 100)
    dark = np.delete(a.ravel(), np.ravel_multi_index(np.nonzero(image > 50), image.shape)).astype(np.int64)
    offset, pmf = background_pmf(camera, 50.0)
    assert _chi2_pvalue(np.bincount(dark - offset, minlength=pmf.size), pmf) > 1e-6


def test_table_not_used_where_it_does_not_apply():
    maps = Camera(kind="scmos", offset_adu=np.full((4, 4), 100.0, np.float32))
    with pytest.raises(ValueError):
        background_pmf(maps, 10.0)
    with pytest.raises(ValueError):
        background_pmf(Camera(kind="emccd"), 10.0)
    image = np.full((4, 4), 10.0, dtype=np.float32)
    for camera in (maps, Camera(kind="emccd")):  # falls back to the chain: same bytes as without background
        assert (expose(camera, image, np.random.default_rng(1), background=10.0).tobytes()
                == expose(camera, image, np.random.default_rng(1)).tobytes())
