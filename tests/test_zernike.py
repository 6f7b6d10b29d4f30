"""Zernike polynomials (Noll 1976) against the reference values of physics.md."""

import math

import numpy as np
import pytest

from kernels.zernike import nm_to_noll, noll_to_nm, zernike, zernike_basis

# physics.md: values at rho = 0.5, theta = pi/6 (given to 6 decimals)
REFERENCE = {
    2: 0.866025, 3: 0.5, 4: -0.866025, 5: 0.530330, 6: 0.306186, 7: -0.883883, 8: -1.530931,
    9: 0.353553, 10: 0.0, 11: -0.279508, 12: -0.790569, 13: -1.369306, 14: -0.098821,
    15: 0.171163, 16: 0.9375, 17: 0.541266, 18: 0.0, 19: -1.190785, 20: -0.09375,
    21: 0.054127, 22: 1.157516,
}

# Noll's table (JOSA 66:207, Table I), j = 1..22
NOLL_TABLE = [
    (0, 0), (1, 1), (1, -1), (2, 0), (2, -2), (2, 2), (3, -1), (3, 1), (3, -3), (3, 3),
    (4, 0), (4, 2), (4, -2), (4, 4), (4, -4), (5, 1), (5, -1), (5, 3), (5, -3), (5, 5),
    (5, -5), (6, 0),
]


def _noll_formula(j):
    """The closed form quoted in physics.md, written independently of the module."""
    n = math.ceil((-3 + math.sqrt(1 + 8 * j)) / 2)
    p = j - n * (n + 1) // 2 - 1
    m = 2 * ((p + 1) // 2) if n % 2 == 0 else 2 * (p // 2) + 1
    if m and j % 2:
        m = -m
    return n, m


@pytest.mark.parametrize("j", sorted(REFERENCE))
def test_values_at_reference_point(j):
    # 6 printed decimals -> rounding error <= 5e-7
    assert zernike(j, np.array(0.5), np.array(np.pi / 6)) == pytest.approx(REFERENCE[j], abs=6e-7)


def test_noll_table_first_22():
    assert [noll_to_nm(j) for j in range(1, 23)] == NOLL_TABLE


def test_noll_mapping_matches_closed_form_and_round_trips():
    seen = set()
    for j in range(1, 37):
        n, m = noll_to_nm(j)
        assert (n, m) == _noll_formula(j)
        assert abs(m) <= n and (n - abs(m)) % 2 == 0
        assert nm_to_noll(n, m) == j
        seen.add((n, m))
    assert len(seen) == 36  # one-to-one


def test_invalid_indices():
    with pytest.raises(ValueError):
        noll_to_nm(0)
    with pytest.raises(ValueError):
        nm_to_noll(3, 0)  # n - |m| odd
    with pytest.raises(ValueError):
        nm_to_noll(2, 4)  # |m| > n


def test_orthonormal_on_polar_quadrature():
    # Gauss-Legendre in rho^2 (exact for the polynomial radial products up to degree 2*n_max)
    # and an equispaced theta rule (exact for trig polynomials of degree < n_theta): the
    # quadrature is exact, so the Gram matrix equals the identity to rounding.
    noll = list(range(1, 37))  # n <= 7
    xg, wg = np.polynomial.legendre.leggauss(16)
    rho = np.sqrt((xg + 1) / 2)  # u = rho^2 uniform in [0, 1]: dA = (1/2) du dtheta
    n_theta = 32
    theta = 2 * np.pi * np.arange(n_theta) / n_theta
    R, T = np.meshgrid(rho, theta, indexing="ij")
    w = (wg / 2)[:, None] * np.full(n_theta, 2 * np.pi / n_theta)[None, :] * 0.5  # area element
    Z = zernike_basis(noll, R, T).reshape(len(noll), -1)
    gram = (Z * w.ravel()) @ Z.T / np.pi
    np.testing.assert_allclose(gram, np.eye(len(noll)), atol=1e-12)


def test_basis_shape_and_dtype():
    rho = np.linspace(0, 1, 12).reshape(3, 4)
    theta = np.zeros((3, 4))
    b = zernike_basis([1, 4, 11], rho, theta)
    assert b.shape == (3, 3, 4) and b.dtype == np.float64
    np.testing.assert_allclose(b[1], np.sqrt(3) * (2 * rho**2 - 1))


def test_angle_convention():
    # theta from x toward y: Z2 = 2 rho cos(theta) is tip along x, Z3 along y
    assert zernike(2, np.array(1.0), np.array(0.0)) == pytest.approx(2.0)
    assert zernike(3, np.array(1.0), np.array(np.pi / 2)) == pytest.approx(2.0)
