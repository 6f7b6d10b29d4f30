"""Sample structures and labelling (kernels.structures).

Geometry that the generators build exactly (grid spacing, ring radius, tube radius) is checked to
a stated float tolerance (1e-9 relative). Random quantities are checked against their expected
value within 5 standard errors (SE from the binomial / Poisson formula or from the sample), and
distributions with a KS or chi-square test at p > 1e-4 (a false alarm once in 10^4 runs).
"""

import numpy as np
import pytest
from scipy import stats

from kernels.structures import (
    NPC_CORNER_SPAN_DEG,
    NPC_TWIST_DEG,
    Labels,
    Sites,
    _filament_model,
    _wlc_tangents,
    density_sites,
    filament_sites,
    grid_sites,
    label_sites,
    npc_sites,
)

Z5 = 5.0  # standard errors
P_MIN = 1e-4  # smallest accepted p-value of a distribution test
GEOM = 1e-9  # relative tolerance of exact geometry (float64 rounding is ~1e-13)
BOX = (1000.0, 9000.0, 2000.0, 6000.0)


def rng(seed=0):
    return np.random.default_rng(seed)


def assert_mean(sample, expected, what="", se=None):
    sample = np.asarray(sample, dtype=np.float64)
    if se is None:
        se = sample.std(ddof=1) / np.sqrt(sample.size)
    assert abs(sample.mean() - expected) < Z5 * se, f"{what}: {sample.mean()} vs {expected} (se {se})"


def per_structure(sites):
    """Split site indices by structure_id (sites are structure-major)."""
    ids = sites.structure_id
    return np.split(np.arange(len(sites)), np.flatnonzero(np.diff(ids)) + 1)


def kasa_circle(x, y):
    """Least-squares circle (Kasa): x² + y² = 2a x + 2b y + c; returns (a, b, radius)."""
    a_mat = np.column_stack([2 * x, 2 * y, np.ones_like(x)])
    (a, b, c), *_ = np.linalg.lstsq(a_mat, x * x + y * y, rcond=None)
    return a, b, np.sqrt(c + a * a + b * b)


def same_point_set(p, q, tol):
    """Every point of p has a point of q within tol and vice versa (equal sizes)."""
    d = np.linalg.norm(p[:, None, :] - q[None, :, :], axis=-1)
    return p.shape == q.shape and d.min(axis=1).max() < tol and d.min(axis=0).max() < tol


# ---------------------------------------------------------------- containers


def test_sites_validated_and_read_only():
    s = Sites([0.0, 1.0], [2.0, 3.0], [0.0, 0.0], [0, 0])
    assert len(s) == 2 and s.structure_id.dtype == np.int64 and s.x_nm.dtype == np.float64
    np.testing.assert_array_equal(s.site_id, [0, 1])
    with pytest.raises(ValueError):
        s.x_nm[0] = 5.0
    with pytest.raises(ValueError, match="rows"):
        Sites([0.0, 1.0], [2.0], [0.0, 0.0], [0, 0])
    with pytest.raises(ValueError, match="non-finite"):
        Sites([0.0, np.nan], [2.0, 3.0], [0.0, 0.0], [0, 0])
    with pytest.raises(ValueError, match="integers"):
        Sites([0.0], [0.0], [0.0], [0.5])
    with pytest.raises(ValueError, match="1-D"):
        Sites([[0.0]], [0.0], [0.0], [0])


# ---------------------------------------------------------------- grids


def test_grid_geometry_rotation_and_placement():
    count, rows, cols, s = 2000, 3, 4, 20.0
    sites = grid_sites(rng(1), count, rows, cols, s, box_nm=BOX, z_range_nm=(-300.0, 300.0))
    assert len(sites) == count * rows * cols
    groups = per_structure(sites)
    assert len(groups) == count and all(g.size == rows * cols for g in groups)
    pos = np.column_stack([sites.x_nm, sites.y_nm, sites.z_nm]).reshape(count, rows * cols, 3)
    # nearest neighbour within a copy = spacing exactly; the copy is flat at one z
    d = np.linalg.norm(pos[:, :, None, :] - pos[:, None, :, :], axis=-1)
    d[:, np.arange(12), np.arange(12)] = np.inf
    np.testing.assert_allclose(d.min(axis=2), s, rtol=GEOM)
    # the farthest pair is the diagonal of the (cols-1) x (rows-1) rectangle
    np.testing.assert_allclose(np.where(np.isinf(d), 0, d).max(axis=(1, 2)),
                               s * np.hypot(cols - 1, rows - 1), rtol=GEOM)
    assert np.all(np.ptp(pos[:, :, 2], axis=1) == 0)
    centre = pos.mean(axis=1)
    assert np.all((centre[:, 0] >= BOX[0]) & (centre[:, 0] <= BOX[1]))
    assert np.all((centre[:, 1] >= BOX[2]) & (centre[:, 1] <= BOX[3]))
    assert np.all(np.abs(centre[:, 2]) <= 300.0)
    # centres uniform: mean at the box centre (SE = side / sqrt(12 n))
    assert_mean(centre[:, 0], 5000.0, "centre x", se=8000.0 / np.sqrt(12 * count))
    assert_mean(centre[:, 1], 4000.0, "centre y", se=4000.0 / np.sqrt(12 * count))
    # rotation: direction of the row (site 0 -> site 1) uniform on [0, 2 pi)
    row = pos[:, 1, :2] - pos[:, 0, :2]
    angle = np.mod(np.arctan2(row[:, 1], row[:, 0]), 2 * np.pi)
    assert stats.kstest(angle / (2 * np.pi), "uniform").pvalue > P_MIN


def test_grid_without_rotation_rows_along_x():
    sites = grid_sites(rng(2), 5, 3, 4, 20.0, box_nm=BOX, z_range_nm=(0.0, 0.0), rotate=False)
    pos = np.column_stack([sites.x_nm, sites.y_nm]).reshape(5, 12, 2)
    local = pos - pos.mean(axis=1, keepdims=True)
    expect_x = np.tile((np.arange(4) - 1.5) * 20.0, 3)
    expect_y = np.repeat((np.arange(3) - 1.0) * 20.0, 4)
    np.testing.assert_allclose(local[..., 0], np.broadcast_to(expect_x, (5, 12)), atol=1e-9)
    np.testing.assert_allclose(local[..., 1], np.broadcast_to(expect_y, (5, 12)), atol=1e-9)
    assert np.all(sites.z_nm == 0.0)


@pytest.mark.parametrize("count, box, shape", [(12, (0.0, 400.0, 0.0, 300.0), (4, 3)),
                                               (10, (0.0, 1000.0, 0.0, 1000.0), (3, 4)),  # tie: fewest columns
                                               (7, (0.0, 7000.0, 0.0, 100.0), (7, 1))])
def test_grid_lattice_regular_and_deterministic(count, box, shape):
    a = grid_sites(rng(3), count, box_nm=box, z_range_nm=(0.0, 0.0), lattice=True)
    b = grid_sites(rng(4), count, box_nm=box, z_range_nm=(0.0, 0.0), lattice=True)
    ca = np.column_stack([a.x_nm, a.y_nm]).reshape(count, 12, 2).mean(axis=1)
    cb = np.column_stack([b.x_nm, b.y_nm]).reshape(count, 12, 2).mean(axis=1)
    np.testing.assert_allclose(ca, cb, atol=1e-9)  # positions do not depend on the stream
    xs, ys = np.unique(np.round(ca[:, 0], 6)), np.unique(np.round(ca[:, 1], 6))
    assert (xs.size, ys.size) == shape
    # one pitch in x and y (square lattice), cells inside the box, lattice centred
    pitches = np.concatenate([np.diff(xs), np.diff(ys)])
    pitch = pitches[0] if pitches.size else min(box[1] - box[0], box[3] - box[2])
    np.testing.assert_allclose(pitches, pitch, rtol=GEOM)
    assert xs[0] - pitch / 2 >= box[0] - 1e-9 and xs[-1] + pitch / 2 <= box[1] + 1e-9
    assert ys[0] - pitch / 2 >= box[2] - 1e-9 and ys[-1] + pitch / 2 <= box[3] + 1e-9
    np.testing.assert_allclose(xs[0] + xs[-1], box[0] + box[1], rtol=GEOM)
    np.testing.assert_allclose(ys[0] + ys[-1], box[2] + box[3], rtol=GEOM)


# ---------------------------------------------------------------- nuclear pores


def test_npc_rings_radius_separation_symmetry_twist():
    count = 50
    sites = npc_sites(rng(5), count, box_nm=BOX, z_range_nm=(-200.0, 200.0))
    assert len(sites) == 32 * count
    pos = np.column_stack([sites.x_nm, sites.y_nm, sites.z_nm]).reshape(count, 2, 16, 3)
    twist = np.deg2rad(NPC_TWIST_DEG)
    for pore in pos:
        ring0, ring1 = pore
        # each ring flat; the nuclear ring (ring 1) 50 nm above the cytoplasmic one
        assert np.ptp(ring0[:, 2]) == 0 and np.ptp(ring1[:, 2]) == 0
        np.testing.assert_allclose(ring1[0, 2] - ring0[0, 2], 50.0, rtol=GEOM)
        for ring in pore:
            a, b, r = kasa_circle(ring[:, 0], ring[:, 1])
            np.testing.assert_allclose(r, 53.7, rtol=GEOM)
            np.testing.assert_allclose(np.hypot(ring[:, 0] - a, ring[:, 1] - b), 53.7, rtol=GEOM)
        centre = np.array([a, b])
        p0, p1 = ring0[:, :2] - centre, ring1[:, :2] - centre

        def turn(p, ang):
            c, s = np.cos(ang), np.sin(ang)
            return p @ np.array([[c, s], [-s, c]])

        assert same_point_set(turn(p0, np.pi / 4), p0, 1e-6)  # 8-fold symmetric
        assert not same_point_set(turn(p0, np.pi / 8), p0, 1.0)
        assert same_point_set(turn(p0, twist), p1, 1e-6)  # nuclear ring turned by the twist
        # the two copies of a corner: 12 degrees apart
        phi = np.arctan2(p0[:, 1], p0[:, 0])
        gap = np.angle(np.exp(1j * (phi[1::2] - phi[0::2])))
        np.testing.assert_allclose(np.rad2deg(gap), NPC_CORNER_SPAN_DEG, rtol=GEOM)


def test_npc_spin_uniform_and_options():
    count = 3000
    sites = npc_sites(rng(6), count, box_nm=BOX, z_range_nm=(0.0, 0.0))
    pos = np.column_stack([sites.x_nm, sites.y_nm]).reshape(count, 32, 2)
    centre = pos.mean(axis=1)
    # site 0 is the first copy of corner 0 of ring 0: at azimuth spin - span/2
    v = pos[:, 0] - centre
    spin = np.mod(np.arctan2(v[:, 1], v[:, 0]) + np.deg2rad(NPC_CORNER_SPAN_DEG / 2), 2 * np.pi)
    assert stats.kstest(spin / (2 * np.pi), "uniform").pvalue > P_MIN
    assert np.all((centre[:, 0] >= BOX[0]) & (centre[:, 0] <= BOX[1]))

    one = npc_sites(rng(7), 1, 40.0, 30.0, corners=5, labels_per_corner=3, box_nm=(0, 0, 0, 0),
                    z_range_nm=(10.0, 10.0), twist_deg=0.0, rotate=False)
    assert len(one) == 2 * 5 * 3
    phi = np.rad2deg(np.arctan2(one.y_nm, one.x_nm))[:3]
    np.testing.assert_allclose(phi, [-6.0, 0.0, 6.0], atol=1e-9)
    np.testing.assert_allclose(np.unique(one.z_nm), [-5.0, 25.0], rtol=GEOM)
    np.testing.assert_allclose(one.x_nm[:15], one.x_nm[15:], atol=1e-9)  # no twist


def test_npc_tilt_distribution():
    count, tilt = 3000, 30.0
    sites = npc_sites(rng(8), count, box_nm=BOX, z_range_nm=(0.0, 0.0), tilt_deg=tilt)
    pos = np.column_stack([sites.x_nm, sites.y_nm, sites.z_nm]).reshape(count, 2, 16, 3)
    c0, c1 = pos[:, 0].mean(axis=1), pos[:, 1].mean(axis=1)
    axis = (c1 - c0) / 50.0
    np.testing.assert_allclose(np.linalg.norm(axis, axis=1), 1.0, rtol=GEOM)  # rings stay 50 apart
    # the rings keep their radius in any pose
    np.testing.assert_allclose(np.linalg.norm(pos[:, 0] - c0[:, None], axis=-1), 53.7, rtol=GEOM)
    cos_t = axis[:, 2]
    c_min = np.cos(np.deg2rad(tilt))
    assert cos_t.min() >= c_min - 1e-12
    # uniform on the spherical cap: cos(theta) uniform on [cos tilt, 1], azimuth uniform
    assert stats.kstest((cos_t - c_min) / (1 - c_min), "uniform").pvalue > P_MIN
    azimuth = np.mod(np.arctan2(axis[:, 1], axis[:, 0]), 2 * np.pi)
    assert stats.kstest(azimuth / (2 * np.pi), "uniform").pvalue > P_MIN
    # untilted: every axis exactly +z
    flat = npc_sites(rng(8), 10, box_nm=BOX, z_range_nm=(0.0, 0.0))
    z = flat.z_nm.reshape(10, 2, 16)
    np.testing.assert_allclose(z[:, 1] - z[:, 0], 50.0, rtol=GEOM)


# ---------------------------------------------------------------- filaments


@pytest.mark.parametrize("planar", [False, True])
@pytest.mark.parametrize("persistence", [500.0, 20.0])  # fine steps, and coarse (step = P/2)
def test_wlc_tangent_correlation_is_exp_minus_d_over_p(planar, persistence):
    chains, n_steps, step = 300, 200, 10.0
    az = rng(9).uniform(0, 2 * np.pi, chains)
    t0 = np.column_stack([np.cos(az), np.sin(az), np.zeros(chains)])
    t = _wlc_tangents(rng(10), t0, n_steps, step, persistence, planar)
    np.testing.assert_allclose(np.linalg.norm(t, axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(t[:, 0], t0, atol=1e-12)  # chains start along t0
    if planar:
        assert np.all(t[..., 2] == 0)
    for lag in (1, 10, 50) if persistence > 100 else (1, 2, 4):
        dots = np.sum(t[:, :-lag] * t[:, lag:], axis=-1).mean(axis=1)  # one value per chain
        assert_mean(dots, np.exp(-lag * step / persistence), f"lag {lag * step} nm")


def test_filament_sites_on_tube_surface_and_counts():
    count, length, rate, diameter = 200, 3000.0, 100.0, 25.0
    z_range = (-150.0, 150.0)
    sites, axis, tangent = _filament_model(rng(11), count, length, 2000.0, BOX, z_range,
                                           diameter, rate, 10.0)
    radial = np.column_stack([sites.x_nm, sites.y_nm, sites.z_nm]) - axis
    np.testing.assert_allclose(np.linalg.norm(radial, axis=1), diameter / 2, rtol=GEOM)
    np.testing.assert_allclose(np.sum(radial * tangent, axis=1), 0.0, atol=GEOM * diameter)
    np.testing.assert_allclose(np.linalg.norm(tangent, axis=1), 1.0, rtol=1e-12)
    # axis confined; sites at most a radius outside
    assert np.all((axis[:, 2] >= z_range[0]) & (axis[:, 2] <= z_range[1]))
    assert np.abs(sites.z_nm).max() <= 150.0 + diameter / 2 + 1e-9
    # the tangent is the axis direction, also on mirrored stretches: the chord between
    # neighbouring sites (< 5 nm apart, so at most one chain vertex between them, and both
    # > 5 nm from the z planes, so no reflection between them) is a non-negative combination
    # of the two tangents, hence no farther from the first than the second is
    chord = np.diff(axis, axis=0)
    hop = np.linalg.norm(chord, axis=1)
    inner = (axis[:, 2] > z_range[0] + 5) & (axis[:, 2] < z_range[1] - 5)
    near = (np.diff(sites.structure_id) == 0) & (hop > 0.5) & (hop < 5.0) & inner[:-1] & inner[1:]
    cos_chord = np.sum(chord * tangent[:-1], axis=1)[near] / hop[near]
    cos_turn = np.sum(tangent[1:] * tangent[:-1], axis=1)[near]
    assert near.sum() > 1000 and np.all(cos_chord >= cos_turn - 1e-9)
    # Poisson(length * rate) sites per filament
    n = np.bincount(sites.structure_id, minlength=count)
    lam = length / 1000.0 * rate
    assert_mean(n, lam, "sites per filament", se=np.sqrt(lam / count))
    assert_mean((n - n.mean()) ** 2, lam, "variance of sites per filament",
                se=np.sqrt((lam + 2 * lam**2) / count))
    # the axis is a continuous curve: consecutive sites' axis points no farther apart than the
    # contour between them allows (the filament never exceeds its length)
    for idx in per_structure(sites)[:20]:
        hops = np.linalg.norm(np.diff(axis[idx], axis=0), axis=1).sum()
        assert hops <= length + 1e-9
    # the public function is the same model
    public = filament_sites(rng(11), count, length, 2000.0, box_nm=BOX, z_range_nm=z_range,
                            diameter_nm=diameter, sites_per_um=rate)
    np.testing.assert_array_equal(public.x_nm, sites.x_nm)


def test_filaments_planar_and_start_in_box():
    sites, axis, tangent = _filament_model(rng(12), 50, 1000.0, 10000.0, BOX, (20.0, 20.0),
                                           25.0, 50.0, 10.0)
    assert np.all(axis[:, 2] == 20.0) and np.all(tangent[:, 2] == 0.0)
    # stiff and short: every filament stays within its length of the box
    assert np.all((axis[:, 0] > BOX[0] - 1000) & (axis[:, 0] < BOX[1] + 1000))


# ---------------------------------------------------------------- density


def test_density_counts_follow_the_image():
    img = np.zeros((6, 8))
    img[1:5, 2:7] = np.arange(1, 21).reshape(4, 5)
    img[5, 0] = 7.0
    n, p, origin = 40000, 50.0, (-100.0, 300.0)
    sites = density_sites(rng(13), img, p, n, origin_nm=origin, z_range_nm=(-50.0, 50.0))
    assert len(sites) == n and np.all(sites.structure_id == -1)
    col = np.floor((sites.x_nm - origin[0]) / p).astype(int)
    row = np.floor((sites.y_nm - origin[1]) / p).astype(int)
    assert np.all((row >= 0) & (row < 6) & (col >= 0) & (col < 8))
    assert np.all(img[row, col] > 0)  # zero pixels never get sites
    counts = np.zeros_like(img)
    np.add.at(counts, (row, col), 1)
    # chi-square over 2x2 regions against n * (region mass / total)
    regions = lambda a: a.reshape(3, 2, 4, 2).sum(axis=(1, 3)).ravel()
    expected = n * regions(img) / img.sum()
    observed = regions(counts)
    nonzero = expected > 0
    assert np.all(observed[~nonzero] == 0)
    assert stats.chisquare(observed[nonzero], expected[nonzero]).pvalue > P_MIN
    # position uniform inside the pixel, z uniform in its range
    fx = (sites.x_nm - origin[0]) / p - col
    assert_mean(fx, 0.5, "x within pixel", se=np.sqrt(1 / 12 / n))
    assert np.all((sites.z_nm >= -50) & (sites.z_nm <= 50))


@pytest.mark.parametrize("img, match", [(np.zeros((3, 3)), "zero"),
                                        (np.array([[1.0, -1.0]]), "negative"),
                                        (np.array([[1.0, np.inf]]), "non-finite"),
                                        (np.ones(4), "2-D")])
def test_density_rejects_bad_images(img, match):
    with pytest.raises(ValueError, match=match):
        density_sites(rng(), img, 10.0, 5, z_range_nm=(0.0, 0.0))


# ---------------------------------------------------------------- labelling


def _many_sites(n=20000):
    sid = np.repeat(np.arange(n // 4), 4)
    g = rng(14)
    return Sites(g.uniform(0, 1e4, n), g.uniform(0, 1e4, n), g.uniform(-300, 300, n), sid)


def test_label_efficiency_fixed_count_and_consistency():
    sites = _many_sites()
    n = len(sites)
    lab = label_sites(rng(15), sites, efficiency=0.3, fluorophores_per_label=3)
    per_site = np.bincount(lab.site_id, minlength=n)
    assert set(np.unique(per_site)) <= {0, 3}  # a kept label carries exactly 3
    kept = np.count_nonzero(per_site)
    assert abs(kept / n - 0.3) < Z5 * np.sqrt(0.3 * 0.7 / n)
    assert np.all(np.diff(lab.site_id) >= 0)
    np.testing.assert_array_equal(lab.structure_id, sites.structure_id[lab.site_id])
    np.testing.assert_array_equal(lab.x_nm, sites.x_nm[lab.site_id])  # no linkage error
    assert len(label_sites(rng(15), sites, efficiency=0.0)) == 0
    assert len(label_sites(rng(15), sites, efficiency=1.0)) == n


def test_label_poisson_counts():
    sites = _many_sites()
    n, lam = len(sites), 2.5
    per_site = np.bincount(label_sites(rng(16), sites, 1.0, lam, poisson=True).site_id,
                           minlength=n)
    assert_mean(per_site, lam, "Poisson mean", se=np.sqrt(lam / n))
    # sample variance of a Poisson: SE ≈ sqrt((mu4 - var^2) / n), mu4 = lam (1 + 3 lam)
    assert abs(per_site.var(ddof=1) - lam) < Z5 * np.sqrt((lam + 2 * lam**2) / n)
    assert np.count_nonzero(per_site == 0) > 0  # a label may carry no fluorophore
    eff = 0.6
    thinned = np.bincount(label_sites(rng(17), sites, eff, lam, poisson=True).site_id,
                          minlength=n)
    var = eff * lam + eff * (1 - eff) * lam**2  # mixture of 0 and Poisson(lam)
    assert_mean(thinned, eff * lam, "thinned Poisson mean", se=np.sqrt(var / n))


def test_label_linkage_error_per_axis():
    sites = _many_sites()
    sigma = 7.0
    lab = label_sites(rng(18), sites, linkage_error_nm=sigma)
    m = len(lab)
    for axis in ("x_nm", "y_nm", "z_nm"):
        d = getattr(lab, axis) - getattr(sites, axis)[lab.site_id]
        assert_mean(d, 0.0, axis, se=sigma / np.sqrt(m))
        assert abs(d.var(ddof=1) - sigma**2) < Z5 * sigma**2 * np.sqrt(2 / (m - 1)), axis


def test_label_rejects_bad_arguments():
    sites = _many_sites(8)
    with pytest.raises(ValueError, match="integer"):
        label_sites(rng(), sites, fluorophores_per_label=1.5)
    with pytest.raises(ValueError, match="integer"):
        label_sites(rng(), sites, fluorophores_per_label=0)
    with pytest.raises(ValueError, match="efficiency"):
        label_sites(rng(), sites, efficiency=1.2)
    with pytest.raises(ValueError):
        label_sites(rng(), sites, linkage_error_nm=-1)
    assert isinstance(label_sites(rng(), sites, 1.0, 0.0, poisson=True), Labels)


# ---------------------------------------------------------------- determinism


GENERATORS = {
    "grid": lambda g: grid_sites(g, 20, box_nm=BOX, z_range_nm=(-100.0, 100.0)),
    "npc": lambda g: npc_sites(g, 20, box_nm=BOX, z_range_nm=(-100.0, 100.0), tilt_deg=20.0),
    "filament": lambda g: filament_sites(g, 5, 1000.0, box_nm=BOX, z_range_nm=(-100.0, 100.0)),
    "density": lambda g: density_sites(g, np.arange(12.0).reshape(3, 4), 100.0, 50,
                                       z_range_nm=(-100.0, 100.0)),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_seed_same_sites_different_seed_different(name):
    make = GENERATORS[name]
    a, b, c = make(rng(21)), make(rng(21)), make(rng(22))
    for field in ("x_nm", "y_nm", "z_nm", "structure_id"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert len(a) != len(c) or not np.array_equal(a.x_nm, c.x_nm)
    la, lb, lc = (label_sites(rng(s), a, 0.7, 1.5, True, 5.0) for s in (31, 31, 32))
    np.testing.assert_array_equal(la.x_nm, lb.x_nm)
    np.testing.assert_array_equal(la.site_id, lb.site_id)
    assert len(la) != len(lc) or not np.array_equal(la.x_nm, lc.x_nm)
