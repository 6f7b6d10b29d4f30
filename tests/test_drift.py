"""The drift model (kernels.drift): the configured polynomial exactly, a random walk of the configured step."""

from __future__ import annotations

import numpy as np
import pytest

from kernels.drift import drift_table


def test_polynomial_is_evaluated_at_the_frame_index():
    table = drift_table(np.random.default_rng(0), 7, x_nm=(1.0, 2.0, 0.5), y_nm=(), z_nm=(-3.0,))
    f = np.arange(7.0)
    np.testing.assert_allclose(table[:, 0], 1.0 + 2.0 * f + 0.5 * f**2, rtol=1e-15)
    np.testing.assert_array_equal(table[:, 1], 0.0)
    np.testing.assert_array_equal(table[:, 2], -3.0)


def test_random_walk_steps_have_the_configured_std():
    n, walk, walk_z = 40001, 2.0, 0.5
    table = drift_table(np.random.default_rng(1), n, walk_nm=walk, walk_z_nm=walk_z)
    np.testing.assert_array_equal(table[0], 0.0)  # the walk starts in frame 0
    steps = np.diff(table, axis=0)
    for axis, sigma in ((0, walk), (1, walk), (2, walk_z)):
        # the sample std of m normal steps has a standard error of sigma / sqrt(2 m)
        se = sigma / np.sqrt(2 * (n - 1))
        assert abs(steps[:, axis].std() - sigma) < 5 * se, axis
        assert abs(steps[:, axis].mean()) < 5 * sigma / np.sqrt(n - 1), axis
    # independent axes: x and y steps uncorrelated (standard error 1/sqrt(m))
    assert abs(np.corrcoef(steps[:, 0], steps[:, 1])[0, 1]) < 5 / np.sqrt(n - 1)


def test_walk_and_polynomial_add_and_the_stream_decides():
    poly = drift_table(np.random.default_rng(2), 50, x_nm=(0.0, 1.0))
    both = drift_table(np.random.default_rng(2), 50, x_nm=(0.0, 1.0), walk_nm=1.0)
    walk = drift_table(np.random.default_rng(2), 50, walk_nm=1.0)
    np.testing.assert_allclose(both, poly + walk, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(walk, drift_table(np.random.default_rng(2), 50, walk_nm=1.0))
    assert not np.array_equal(walk, drift_table(np.random.default_rng(3), 50, walk_nm=1.0))


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        drift_table(np.random.default_rng(0), 0)
    with pytest.raises(ValueError):
        drift_table(np.random.default_rng(0), 5, walk_nm=-1.0)
