"""Sample structures (binding sites) and their labelling with fluorophores.

A *structure* generator returns :class:`Sites`, the binding sites of a sample (DNA-origami grids,
nuclear pore complexes, microtubule-like filaments, or sites drawn from a density image).
:func:`label_sites` turns sites into fluorophore positions (:class:`Labels`): incomplete
labelling, several or a random number of fluorophores per label, linkage error.

Conventions (design.md §6)
--------------------------
* Coordinates in nm, x to the right, y down, z = 0 the focal plane (z > 0 away from the coverslip).
* A placement box is ``box_nm = (x0, x1, y0, y1)``; structure centres are uniform in it. Structures
  are not clipped to the box: a grid or pore centred near an edge sticks out by its size.
* ``z_range_nm = (z0, z1)``: centres (filaments: the whole axis) lie in ``[z0, z1]``.
* Azimuths are measured from +x towards +y.

All functions are pure numpy (scipy only to solve one scalar equation) and take an explicit
``numpy.random.Generator``. Each draws in a fixed order, every draw a vector over all items,
so a given stream always yields the same sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .photophysics import _readonly  # (shared ground truth: in-place edits forbidden)

__all__ = [
    "Sites",
    "Labels",
    "grid_sites",
    "npc_sites",
    "filament_sites",
    "density_sites",
    "label_sites",
    "NPC_CORNER_SPAN_DEG",
    "NPC_TWIST_DEG",
]

#: Angle (deg) between the two Nup96 copies of one corner, centred on the corner: SMAP's
#: LocMoFit NPC model (``LocMoFit/models/dualRing3D_discrete.m``, ``cornerDegree`` = 12);
#: SMAPpy's ``data/structures/npc.yaml`` places them at ±6.0° (≈ 11 nm apart at r = 53.7 nm).
NPC_CORNER_SPAN_DEG = 12.0

#: Azimuthal rotation (deg) of the nuclear ring relative to the cytoplasmic one ("twist"): the
#: ground truth of SMAP's simulated Nup96 pores in its LocMoFit accuracy analysis
#: (``summarizeLocprecTitration.m``: twist centred on 8.8°; an older model notes 8° for Nup96).
NPC_TWIST_DEG = 8.8


def _float_column(owner: str, name: str, value, n: int | None) -> np.ndarray:
    a = np.array(value, dtype=np.float64, copy=True)
    if a.ndim != 1:
        raise ValueError(f"{owner}.{name} must be 1-D, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{owner}.{name} has {a.shape[0]} rows, expected {n}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{owner}.{name} contains non-finite values")
    return a


def _int_column(owner: str, name: str, value, n: int) -> np.ndarray:
    raw = np.asarray(value)
    if raw.ndim != 1 or raw.shape[0] != n:
        raise ValueError(f"{owner}.{name} must be 1-D with {n} rows, got shape {raw.shape}")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        if not (np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))):
            raise ValueError(f"{owner}.{name} must hold integers")
    return np.array(raw, dtype=np.int64, copy=True)


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Sites:
    """Binding sites of a sample; row ``i`` is site id ``i``.

    Attributes
    ----------
    x_nm, y_nm, z_nm : ndarray of float64, shape (n,)
        Site position in nm.
    structure_id : ndarray of int64, shape (n,)
        0-based index of the structure copy (grid, pore, filament) the site belongs to;
        ``-1`` for sites drawn from a density.

    Notes
    -----
    ``eq=False``: compare fields, not dataclasses of arrays.
    """

    x_nm: np.ndarray
    y_nm: np.ndarray
    z_nm: np.ndarray
    structure_id: np.ndarray

    def __post_init__(self) -> None:
        x = _float_column("Sites", "x_nm", self.x_nm, None)
        n = x.shape[0]
        y = _float_column("Sites", "y_nm", self.y_nm, n)
        z = _float_column("Sites", "z_nm", self.z_nm, n)
        sid = _int_column("Sites", "structure_id", self.structure_id, n)
        if np.any(sid < -1):
            raise ValueError("Sites.structure_id must be >= -1")
        for name, a in (("x_nm", x), ("y_nm", y), ("z_nm", z), ("structure_id", sid)):
            object.__setattr__(self, name, _readonly(a))

    def __len__(self) -> int:
        return int(self.x_nm.shape[0])

    @property
    def site_id(self) -> np.ndarray:
        """Site ids ``0..n-1`` (int64)."""
        return np.arange(len(self), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Labels:
    """Fluorophores attached to sites, ordered by ``site_id`` (a site's fluorophores consecutive).

    Attributes
    ----------
    x_nm, y_nm, z_nm : ndarray of float64, shape (m,)
        Fluorophore position in nm (site position plus linkage displacement).
    site_id : ndarray of int64, shape (m,)
        Index into the :class:`Sites` that were labelled.
    structure_id : ndarray of int64, shape (m,)
        ``sites.structure_id[site_id]``.
    """

    x_nm: np.ndarray
    y_nm: np.ndarray
    z_nm: np.ndarray
    site_id: np.ndarray
    structure_id: np.ndarray

    def __post_init__(self) -> None:
        x = _float_column("Labels", "x_nm", self.x_nm, None)
        n = x.shape[0]
        y = _float_column("Labels", "y_nm", self.y_nm, n)
        z = _float_column("Labels", "z_nm", self.z_nm, n)
        site = _int_column("Labels", "site_id", self.site_id, n)
        sid = _int_column("Labels", "structure_id", self.structure_id, n)
        if np.any(site < 0) or np.any(np.diff(site) < 0):
            raise ValueError("Labels.site_id must be >= 0 and nondecreasing")
        for name, a in (("x_nm", x), ("y_nm", y), ("z_nm", z), ("site_id", site),
                        ("structure_id", sid)):
            object.__setattr__(self, name, _readonly(a))

    def __len__(self) -> int:
        return int(self.x_nm.shape[0])


# --------------------------------------------------------------------------------------------
# Argument checks and shared geometry
# --------------------------------------------------------------------------------------------


def _count(name: str, value) -> int:
    n = int(value)
    if n != value or n < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value}")
    return n


def _positive(name: str, value) -> float:
    v = float(value)
    if not (v > 0 and np.isfinite(v)):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return v


def _nonnegative(name: str, value) -> float:
    v = float(value)
    if not (v >= 0 and np.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return v


def _interval(name: str, lo, hi) -> tuple[float, float]:
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be finite with low <= high, got ({lo}, {hi})")
    return lo, hi


def _box(box_nm) -> tuple[float, float, float, float]:
    if len(box_nm) != 4:
        raise ValueError(f"box_nm must be (x0, x1, y0, y1), got {box_nm!r}")
    x0, x1 = _interval("box_nm x", box_nm[0], box_nm[1])
    y0, y1 = _interval("box_nm y", box_nm[2], box_nm[3])
    return x0, x1, y0, y1


def _zrange(z_range_nm) -> tuple[float, float]:
    if len(z_range_nm) != 2:
        raise ValueError(f"z_range_nm must be (z0, z1), got {z_range_nm!r}")
    return _interval("z_range_nm", z_range_nm[0], z_range_nm[1])


def _rot_z(angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices about z, shape (..., 3, 3)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    r = np.zeros(np.shape(angle_rad) + (3, 3))
    r[..., 0, 0], r[..., 0, 1] = c, -s
    r[..., 1, 0], r[..., 1, 1] = s, c
    r[..., 2, 2] = 1.0
    return r


def _rot_y(angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices about y, shape (..., 3, 3)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    r = np.zeros(np.shape(angle_rad) + (3, 3))
    r[..., 0, 0], r[..., 0, 2] = c, s
    r[..., 2, 0], r[..., 2, 2] = -s, c
    r[..., 1, 1] = 1.0
    return r


def _place(local_nm: np.ndarray, rot: np.ndarray, centre_nm: np.ndarray) -> Sites:
    """Copies of one local template: ``centre_c + R_c @ p`` for every copy c and point p.

    ``local_nm`` (k, 3), ``rot`` (count, 3, 3), ``centre_nm`` (count, 3); rows copy-major.
    """
    count, k = centre_nm.shape[0], local_nm.shape[0]
    pos = np.einsum("cij,kj->cki", rot, local_nm) + centre_nm[:, None, :]
    pos = pos.reshape(count * k, 3)
    sid = np.repeat(np.arange(count, dtype=np.int64), k)
    return Sites(x_nm=pos[:, 0], y_nm=pos[:, 1], z_nm=pos[:, 2], structure_id=sid)


# --------------------------------------------------------------------------------------------
# DNA-origami grids
# --------------------------------------------------------------------------------------------


def _lattice_centres(count: int, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """``count`` nodes of the square lattice with the largest pitch that fits the box.

    For every number of columns ``nx`` the pitch is ``min(W / nx, H / ceil(count / nx))`` (each
    node owns a pitch × pitch cell inside the box); the largest pitch wins (ties: fewest
    columns). The lattice is centred on the box and filled row by row (along x, rows in
    increasing y), so only
    the last row may be incomplete. Returns (count, 2) positions in nm.
    """
    if count == 0:
        return np.empty((0, 2))
    w, h = x1 - x0, y1 - y0
    nx = np.arange(1, count + 1)
    ny = -(-count // nx)
    pitch = np.minimum(w / nx, h / ny)
    best = int(np.argmax(pitch))  # first maximum: fewest columns
    nx, ny, p = int(nx[best]), int(ny[best]), float(pitch[best])
    i = np.arange(count)
    col, row = i % nx, i // nx
    cx = 0.5 * (x0 + x1) + (col - 0.5 * (nx - 1)) * p
    cy = 0.5 * (y0 + y1) + (row - 0.5 * (ny - 1)) * p
    return np.column_stack([cx, cy])


def grid_sites(
    rng: np.random.Generator,
    count: int,
    rows: int = 3,
    columns: int = 4,
    spacing_nm: float = 20.0,
    *,
    box_nm,
    z_range_nm,
    lattice: bool = False,
    rotate: bool = True,
) -> Sites:
    """Rectangular DNA-origami-like grids of binding sites (Picasso simulate: 3 × 4, 20 nm).

    Parameters
    ----------
    rng : numpy.random.Generator
    count : int
        Number of grid copies (``structure_id`` 0..count-1).
    rows, columns : int
        Sites per copy along the copy's local y and x (``rows * columns`` sites per copy).
    spacing_nm : float
        Distance between neighbouring sites.
    box_nm : (x0, x1, y0, y1)
        Grid centres uniform in this box, or (``lattice=True``) on a square lattice in it.
    z_range_nm : (z0, z1)
        Each copy lies flat at one z, uniform in ``[z0, z1]``.
    lattice : bool
        Centres on the square lattice with the largest pitch that fits ``count`` nodes in the
        box (centred, filled row by row; deterministic). z and rotation are still drawn.
    rotate : bool
        In-plane rotation of each copy uniform in ``[0, 2π)``; otherwise rows run along x.

    Returns
    -------
    Sites
        Copy-major; within a copy site ``r * columns + c`` is at local
        ``((c - (columns-1)/2) s, (r - (rows-1)/2) s)`` before rotation.

    Notes
    -----
    Draw order: centre x, centre y (random placement only), z, rotation angle (if ``rotate``),
    each a vector over copies.
    """
    count = _count("count", count)
    rows, columns = _count("rows", rows), _count("columns", columns)
    if rows < 1 or columns < 1:
        raise ValueError(f"rows and columns must be >= 1, got {rows} x {columns}")
    s = _positive("spacing_nm", spacing_nm)
    x0, x1, y0, y1 = _box(box_nm)
    z0, z1 = _zrange(z_range_nm)

    if lattice:
        xy = _lattice_centres(count, x0, x1, y0, y1)
        cx, cy = xy[:, 0], xy[:, 1]
    else:
        cx = rng.uniform(x0, x1, count)
        cy = rng.uniform(y0, y1, count)
    cz = rng.uniform(z0, z1, count)
    angle = rng.uniform(0.0, 2.0 * np.pi, count) if rotate else np.zeros(count)

    r, c = np.divmod(np.arange(rows * columns), columns)
    local = np.column_stack([(c - 0.5 * (columns - 1)) * s, (r - 0.5 * (rows - 1)) * s,
                             np.zeros(rows * columns)])
    return _place(local, _rot_z(angle), np.column_stack([cx, cy, cz]))


# --------------------------------------------------------------------------------------------
# Nuclear pore complexes
# --------------------------------------------------------------------------------------------


def npc_local_sites(
    radius_nm: float = 53.7,
    ring_separation_nm: float = 50.0,
    corners: int = 8,
    labels_per_corner: int = 2,
    corner_span_deg: float = NPC_CORNER_SPAN_DEG,
    twist_deg: float = NPC_TWIST_DEG,
) -> np.ndarray:
    """Sites of one upright pore centred on the origin, shape (2 * corners * labels_per_corner, 3).

    Ring 0 (cytoplasmic) at z = -sep/2, ring 1 (nuclear) at z = +sep/2: a pore of the lower
    nuclear envelope, whose cytoplasmic face looks at the coverslip. Corner k of ring 0 is at
    azimuth 360°·k/corners; its copies are spread evenly over ``corner_span_deg`` centred on
    it (one copy: on the corner); ring 1 is ring 0 turned by ``twist_deg``. Order: ring, corner,
    copy.
    """
    if labels_per_corner == 1:
        offsets = np.zeros(1)
    else:
        offsets = np.linspace(-0.5, 0.5, labels_per_corner) * np.deg2rad(corner_span_deg)
    corner_rad = 2.0 * np.pi * np.arange(corners) / corners
    ring_rad = np.array([0.0, np.deg2rad(twist_deg)])
    phi = (ring_rad[:, None, None] + corner_rad[None, :, None] + offsets[None, None, :]).ravel()
    z = np.repeat([-0.5 * ring_separation_nm, 0.5 * ring_separation_nm], corners * offsets.size)
    return np.column_stack([radius_nm * np.cos(phi), radius_nm * np.sin(phi), z])


def npc_sites(
    rng: np.random.Generator,
    count: int,
    radius_nm: float = 53.7,
    ring_separation_nm: float = 50.0,
    corners: int = 8,
    labels_per_corner: int = 2,
    *,
    box_nm,
    z_range_nm,
    tilt_deg: float = 0.0,
    twist_deg: float | None = None,
    corner_span_deg: float = NPC_CORNER_SPAN_DEG,
    rotate: bool = True,
) -> Sites:
    """Nuclear pore complexes labelled at Nup96 (Thevathasan et al. 2019, Nat Methods 16:1045).

    Two parallel rings (cytoplasmic and nuclear) ``ring_separation_nm`` apart along the pore
    axis, each with ``corners``-fold symmetry and ``labels_per_corner`` copies per corner
    (defaults: 8 × 2 × 2 = 32 sites per pore, radius 53.7 nm, rings 50 nm apart). The two
    copies of a corner are ``corner_span_deg`` = 12° apart around the ring, centred on the
    corner, and the nuclear ring is turned by ``twist_deg`` = 8.8° relative to the cytoplasmic
    one: the values of SMAP's LocMoFit NPC model (``LocMoFit/models/dualRing3D_discrete.m``,
    ``cornerDegree`` 12) and of its simulated Nup96 ground truth (twist 8.8°,
    ``summarizeLocprecTitration.m``); SMAPpy's ``npc.yaml`` uses the same ±6° copies.

    Parameters
    ----------
    rng : numpy.random.Generator
    count : int
        Number of pores (``structure_id`` 0..count-1).
    radius_nm, ring_separation_nm : float
        Ring radius and axial distance between the rings.
    corners, labels_per_corner : int
        Symmetry order and copies per corner per ring.
    box_nm : (x0, x1, y0, y1)
        Pore centres (midway between the rings, on the axis) uniform in this box.
    z_range_nm : (z0, z1)
        Pore centre z uniform in this range.
    tilt_deg : float
        Maximum polar angle of the pore axis from +z, in ``[0, 180]``. The axis is uniform on
        the spherical cap of that half-angle (cos θ uniform in ``[cos tilt, 1]``, azimuth
        uniform): 0 = all pores upright, 90 = axes uniform over the upper hemisphere.
    twist_deg : float or None
        Rotation of the nuclear ring relative to the cytoplasmic one about the pore axis
        (counter-clockwise in the x→y sense, seen from +z). None: :data:`NPC_TWIST_DEG`.
    corner_span_deg : float
        Angle between the first and last copy of a corner.
    rotate : bool
        Rotation of each pore about its own axis uniform in ``[0, 2π)``; otherwise corner 0 of
        the cytoplasmic ring lies at azimuth 0 (before tilt).

    Returns
    -------
    Sites
        Pore-major; within a pore ordered (ring, corner, copy) as :func:`npc_local_sites`.

    Notes
    -----
    The pose of pore c is ``R = Rz(φ) Ry(θ) Rz(ψ − φ)``: spin ψ about the pore's own axis, then
    tilt by θ towards azimuth φ, so the axis ends at (sin θ cos φ, sin θ sin φ, cos θ). Draw
    order: centre x, y, z, spin ψ (if ``rotate``), cos θ, φ; each a vector over pores (the tilt
    draws happen also for ``tilt_deg = 0``, where they give θ = 0 exactly).
    """
    count = _count("count", count)
    corners, per_corner = _count("corners", corners), _count("labels_per_corner", labels_per_corner)
    if corners < 1 or per_corner < 1:
        raise ValueError(f"corners and labels_per_corner must be >= 1, got {corners}, {per_corner}")
    radius = _positive("radius_nm", radius_nm)
    sep = _nonnegative("ring_separation_nm", ring_separation_nm)
    tilt = float(tilt_deg)
    if not 0.0 <= tilt <= 180.0:
        raise ValueError(f"tilt_deg must be in [0, 180], got {tilt_deg}")
    twist = NPC_TWIST_DEG if twist_deg is None else float(twist_deg)
    span = _nonnegative("corner_span_deg", corner_span_deg)
    if not np.isfinite(twist):
        raise ValueError(f"twist_deg must be finite, got {twist_deg}")
    x0, x1, y0, y1 = _box(box_nm)
    z0, z1 = _zrange(z_range_nm)

    cx = rng.uniform(x0, x1, count)
    cy = rng.uniform(y0, y1, count)
    cz = rng.uniform(z0, z1, count)
    spin = rng.uniform(0.0, 2.0 * np.pi, count) if rotate else np.zeros(count)
    cos_theta = rng.uniform(np.cos(np.deg2rad(tilt)), 1.0, count)
    phi = rng.uniform(0.0, 2.0 * np.pi, count)

    theta = np.arccos(np.clip(cos_theta, -1.0, 1.0))
    rot = _rot_z(phi) @ _rot_y(theta) @ _rot_z(spin - phi)
    local = npc_local_sites(radius, sep, corners, per_corner, span, twist)
    return _place(local, rot, np.column_stack([cx, cy, cz]))


# --------------------------------------------------------------------------------------------
# Filaments (worm-like chains)
# --------------------------------------------------------------------------------------------


def _langevin(kappa: float) -> float:
    """Mean cosine coth(κ) − 1/κ of the von Mises–Fisher distribution on the sphere."""
    if kappa < 1e-2:  # series (error < 1e-20): avoids the cancellation of coth and 1/κ
        k2 = kappa * kappa
        return kappa * (1.0 / 3.0 - k2 / 45.0 + 2.0 * k2 * k2 / 945.0 - k2**3 / 4725.0)
    return 1.0 / np.tanh(kappa) - 1.0 / kappa


def _vmf_kappa(mean_cos: float) -> float:
    """Concentration κ of the 3-D von Mises–Fisher distribution with ``E[cos θ] = mean_cos``."""
    if mean_cos <= 0.0:
        return 0.0
    if mean_cos < 1e-4:
        return 3.0 * mean_cos + 1.8 * mean_cos**3  # series inverse of L(κ) = κ/3 − κ³/45
    if mean_cos > 1.0 - 1e-9:
        return 1.0 / (1.0 - mean_cos)  # coth κ = 1 in float64 there: 1 − 1/κ = mean_cos
    # L(κ) <= κ/3 and L(κ) >= 1 − 1/κ bracket the root: 3 m <= κ <= 1 / (1 − m)
    from scipy.optimize import brentq  # (here: scipy.optimize takes 0.6 s to import, every run paid it)

    return float(brentq(lambda k: _langevin(k) - mean_cos, 3.0 * mean_cos,
                        1.0 / (1.0 - mean_cos), xtol=1e-300, rtol=4 * np.finfo(float).eps))


def _perpendicular_frame(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors u, v with (t, u, v) orthonormal, for unit vectors t of shape (n, 3)."""
    # Cross with the coordinate axis least aligned with t: never (near-)parallel.
    e = np.zeros_like(t)
    e[np.arange(t.shape[0]), np.argmin(np.abs(t), axis=-1)] = 1.0
    u = np.cross(t, e)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    v = np.cross(t, u)
    return u, v


def _wlc_tangents(rng: np.random.Generator, t0: np.ndarray, n_steps: int, step_nm: float,
                  persistence_nm: float, planar: bool) -> np.ndarray:
    """Unit tangents of discrete worm-like chains, shape (chains, n_steps, 3).

    Each step turns the tangent by a random angle θ about a uniformly random perpendicular
    axis, with ``E[cos θ] = exp(-step/P)``. The turn is isotropic about the current tangent,
    so ``E[t_{k+m} | t_k] = exp(-step/P)^m t_k`` and ``<t(s)·t(s+d)> = exp(-d/P)`` exactly at
    every multiple of the step. 3-D: cos θ from the von Mises–Fisher distribution (inverse
    CDF). Planar (all tangents in xy): θ ~ N(0, 2 step/P), since E[cos θ] = exp(-σ²/2).
    Draws: per step, a vector over chains (3-D: cos θ then the axis angle; planar: θ).
    """
    chains = t0.shape[0]
    mean_cos = np.exp(-step_nm / persistence_nm)
    tangents = np.empty((chains, n_steps, 3))
    t = t0.copy()
    if planar:
        sigma = np.sqrt(2.0 * step_nm / persistence_nm)
        phi = np.arctan2(t[:, 1], t[:, 0])
        turns = rng.normal(0.0, sigma, (n_steps - 1, chains)) if n_steps > 1 else np.empty((0, chains))
        phi = phi[None, :] + np.concatenate([np.zeros((1, chains)), np.cumsum(turns, axis=0)])
        tangents[:, :, 0] = np.cos(phi).T
        tangents[:, :, 1] = np.sin(phi).T
        tangents[:, :, 2] = 0.0
        return tangents
    kappa = _vmf_kappa(mean_cos)
    tangents[:, 0] = t
    for k in range(1, n_steps):
        u01 = 1.0 - rng.random(chains)  # (0, 1]: log stays finite
        if kappa > 0:
            # inverse CDF of the vMF cosine: w = 1 + log(u + (1 - u) e^{-2κ}) / κ
            w = 1.0 + np.log(u01 + (1.0 - u01) * np.exp(-2.0 * kappa)) / kappa
        else:
            w = 2.0 * u01 - 1.0
        w = np.clip(w, -1.0, 1.0)
        alpha = rng.uniform(0.0, 2.0 * np.pi, chains)
        u, v = _perpendicular_frame(t)
        sin_t = np.sqrt(1.0 - w * w)[:, None]
        t = w[:, None] * t + sin_t * (np.cos(alpha)[:, None] * u + np.sin(alpha)[:, None] * v)
        t /= np.linalg.norm(t, axis=1, keepdims=True)  # keep unit length against rounding drift
        tangents[:, k] = t
    return tangents


def _fold(z: np.ndarray, z0: float, z1: float) -> tuple[np.ndarray, np.ndarray]:
    """Mirror ``z`` into ``[z0, z1]`` (reflections at both planes); also the sign of dz'/dz."""
    w = z1 - z0
    u = np.mod(z - z0, 2.0 * w)
    upper = u > w
    return z0 + np.where(upper, 2.0 * w - u, u), np.where(upper, -1.0, 1.0)


def _filament_model(rng, count, length_nm, persistence_nm, box_nm, z_range_nm, diameter_nm,
                    sites_per_um, step_nm):
    """Filament axes and surface sites; returns (Sites, axis point and tangent at each site).

    The extra outputs (axis_nm (n, 3), tangent (n, 3)) are the axis point each site sits
    around and the axis direction there; tests use them to check the tube geometry.
    """
    count = _count("count", count)
    length = _positive("length_nm", length_nm)
    persistence = _positive("persistence_nm", persistence_nm)
    step = _positive("step_nm", step_nm)
    radius = 0.5 * _nonnegative("diameter_nm", diameter_nm)
    rate_per_nm = _nonnegative("sites_per_um", sites_per_um) / 1000.0
    x0, x1, y0, y1 = _box(box_nm)
    z0, z1 = _zrange(z_range_nm)
    planar = z1 == z0
    n_seg = max(1, int(np.ceil(length / step - 1e-9)))
    seg_len = length / n_seg  # steps of equal length covering exactly length_nm

    start = np.column_stack([rng.uniform(x0, x1, count), rng.uniform(y0, y1, count),
                             rng.uniform(z0, z1, count)])
    azimuth = rng.uniform(0.0, 2.0 * np.pi, count)
    t0 = np.column_stack([np.cos(azimuth), np.sin(azimuth), np.zeros(count)])
    tangents = _wlc_tangents(rng, t0, n_seg, seg_len, persistence, planar)
    # vertices of the unconfined polyline: start + cumulative steps
    vertices = start[:, None, :] + seg_len * np.concatenate(
        [np.zeros((count, 1, 3)), np.cumsum(tangents, axis=1)], axis=1)

    n_sites = rng.poisson(rate_per_nm * length, count)
    total = int(n_sites.sum())
    fil = np.repeat(np.arange(count, dtype=np.int64), n_sites)
    s = rng.uniform(0.0, length, total)
    around = rng.uniform(0.0, 2.0 * np.pi, total)

    # sort by contour position within each filament so sites run along the filament
    order = np.lexsort((s, fil))
    s, fil = s[order], fil[order]
    seg = np.minimum((s / seg_len).astype(np.int64), n_seg - 1)
    t = tangents[fil, seg]
    axis = vertices[fil, seg] + (s - seg * seg_len)[:, None] * t
    if not planar:
        # Confinement by mirror reflection at z0 and z1 (a filament bouncing off the
        # coverslip / the top of the cell): a piecewise isometry, so the folded curve keeps
        # its length, its local geometry and the tube around it.
        axis[:, 2], flip = _fold(axis[:, 2], z0, z1)
        t = t.copy()
        t[:, 2] *= flip
    u, v = _perpendicular_frame(t)
    pos = axis + radius * (np.cos(around)[:, None] * u + np.sin(around)[:, None] * v)
    sites = Sites(x_nm=pos[:, 0], y_nm=pos[:, 1], z_nm=pos[:, 2], structure_id=fil)
    return sites, axis, t


def filament_sites(
    rng: np.random.Generator,
    count: int,
    length_nm: float = 5000.0,
    persistence_nm: float = 10000.0,
    *,
    box_nm,
    z_range_nm,
    diameter_nm: float = 25.0,
    sites_per_um: float = 100.0,
    step_nm: float = 10.0,
) -> Sites:
    """Microtubule-like filaments: worm-like chains labelled on a tube surface.

    Parameters
    ----------
    rng : numpy.random.Generator
    count : int
        Number of filaments (``structure_id`` 0..count-1).
    length_nm : float
        Contour length of every filament.
    persistence_nm : float
        Persistence length P: ``<t(s)·t(s+d)> = exp(-d/P)`` for the unit tangent t of the axis
        (in 3-D; also in the planar case). Microtubules: ~mm in vitro, much shorter in cells.
    box_nm : (x0, x1, y0, y1)
        Start points uniform in this box (the filament then runs where it runs).
    z_range_nm : (z0, z1)
        Start z uniform in the range; the axis is kept inside it by mirror reflection at both
        planes. ``z0 == z1``: a planar chain in that plane.
    diameter_nm : float
        Tube diameter (microtubule outer diameter 25 nm); sites sit at ``diameter/2`` from the
        axis, so they may stick out of ``z_range_nm`` by that radius.
    sites_per_um : float
        Rate of the Poisson process of sites along the contour (per µm of contour): a filament
        gets Poisson(``length_nm/1000 · sites_per_um``) sites, uniform along its length.
    step_nm : float
        Segment length of the discrete chain (rounded down so that an integer number of equal
        segments covers ``length_nm``).

    Returns
    -------
    Sites
        Filament-major, each filament's sites ordered along its contour.

    Notes
    -----
    The initial direction is in the xy plane with uniform azimuth (filaments of adherent cells
    run along the coverslip); bends are isotropic in 3-D, so a filament leaves the plane over
    a few persistence lengths until the z planes reflect it. Each turn is von Mises–Fisher
    distributed with its mean cosine exactly exp(-step/P) (planar: Gaussian turning angle of
    variance 2 step/P). Each site is at a uniform angle around the local axis direction.
    Draw order: start x, y, z, initial azimuth (vectors over filaments); the turns, step by
    step (vectors over filaments); site counts (over filaments); contour positions and angles
    around the axis (over all sites).
    """
    sites, _, _ = _filament_model(rng, count, length_nm, persistence_nm, box_nm, z_range_nm,
                                  diameter_nm, sites_per_um, step_nm)
    return sites


# --------------------------------------------------------------------------------------------
# Density images
# --------------------------------------------------------------------------------------------


def density_sites(
    rng: np.random.Generator,
    density: np.ndarray,
    pixel_size_nm: float,
    n_sites: int,
    *,
    origin_nm=(0.0, 0.0),
    z_range_nm,
) -> Sites:
    """Sites drawn from a 2-D non-negative image used as a probability density.

    Parameters
    ----------
    rng : numpy.random.Generator
    density : ndarray, shape (rows, columns)
        Non-negative, finite, not all zero. Row = y, column = x; pixel (i, j) covers
        ``[ox + j p, ox + (j+1) p) × [oy + i p, oy + (i+1) p)``.
    pixel_size_nm : float
        Pixel pitch p of the image (nm).
    n_sites : int
        Exactly this many sites.
    origin_nm : (ox, oy)
        Position of the image's top-left corner.
    z_range_nm : (z0, z1)
        z uniform in this range.

    Returns
    -------
    Sites
        ``structure_id`` = -1.

    Notes
    -----
    A pixel is chosen with probability ``value / sum`` (inverse CDF of the cumulative sum, so
    a zero pixel is never chosen), the position is uniform within it. Draw order: pixel,
    x within the pixel, y within the pixel, z; each a vector over sites.
    """
    img = np.asarray(density, dtype=np.float64)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"density must be a non-empty 2-D image, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise ValueError("density contains non-finite values")
    if np.any(img < 0):
        raise ValueError("density contains negative values")
    n = _count("n_sites", n_sites)
    p = _positive("pixel_size_nm", pixel_size_nm)
    if len(origin_nm) != 2 or not np.all(np.isfinite(np.asarray(origin_nm, dtype=float))):
        raise ValueError(f"origin_nm must be finite (ox, oy), got {origin_nm!r}")
    ox, oy = float(origin_nm[0]), float(origin_nm[1])
    z0, z1 = _zrange(z_range_nm)
    cdf = np.cumsum(img.ravel())
    total = cdf[-1]
    if not total > 0:
        raise ValueError("density is zero everywhere")

    u = rng.random(n) * total
    pix = np.searchsorted(cdf, u, side="right")
    # u·total may round up to total: such a draw belongs to the last non-zero pixel
    pix = np.minimum(pix, int(np.flatnonzero(img.ravel())[-1]))
    i, j = np.divmod(pix, img.shape[1])
    x = ox + (j + rng.random(n)) * p
    y = oy + (i + rng.random(n)) * p
    z = rng.uniform(z0, z1, n)
    return Sites(x_nm=x, y_nm=y, z_nm=z, structure_id=np.full(n, -1, dtype=np.int64))


# --------------------------------------------------------------------------------------------
# Labelling
# --------------------------------------------------------------------------------------------


def label_sites(
    rng: np.random.Generator,
    sites: Sites,
    efficiency: float = 1.0,
    fluorophores_per_label: float = 1.0,
    poisson: bool = False,
    linkage_error_nm: float = 0.0,
) -> Labels:
    """Fluorophores on sites: incomplete labelling, fluorophores per label, linkage error.

    Parameters
    ----------
    rng : numpy.random.Generator
    sites : Sites
    efficiency : float
        Probability in ``[0, 1]`` that a site carries a label (independently per site).
    fluorophores_per_label : float
        ``poisson=False``: the exact number of fluorophores of a label, an integer >= 1.
        ``poisson=True``: the mean (>= 0) of a Poisson number per label (a label may carry
        none).
    poisson : bool
    linkage_error_nm : float
        Standard deviation per axis of the isotropic 3-D Gaussian displacement of each
        fluorophore from its site (each fluorophore independently).

    Returns
    -------
    Labels
        Ordered by ``site_id``; a site's fluorophores are consecutive.

    Notes
    -----
    Draw order: labelled or not (a vector over sites), Poisson counts (over all sites, when
    ``poisson``), displacements (an (m, 3) array: x, y, z of each fluorophore in turn).
    """
    if not isinstance(sites, Sites):
        raise TypeError(f"sites must be a Sites, got {type(sites).__name__}")
    eff = float(efficiency)
    if not 0.0 <= eff <= 1.0:
        raise ValueError(f"efficiency must be in [0, 1], got {efficiency}")
    per = float(fluorophores_per_label)
    sigma = _nonnegative("linkage_error_nm", linkage_error_nm)
    if poisson:
        per = _nonnegative("fluorophores_per_label", per)
    elif not (np.isfinite(per) and per >= 1 and per == int(per)):
        raise ValueError("fluorophores_per_label must be an integer >= 1 without poisson, "
                         f"got {fluorophores_per_label}")

    n = len(sites)
    kept = rng.random(n) < eff
    if poisson:
        counts = np.where(kept, rng.poisson(per, n), 0)
    else:
        counts = kept * int(per)
    site = np.repeat(sites.site_id, counts)
    offset = rng.normal(0.0, sigma, (site.size, 3))
    return Labels(
        x_nm=sites.x_nm[site] + offset[:, 0],
        y_nm=sites.y_nm[site] + offset[:, 1],
        z_nm=sites.z_nm[site] + offset[:, 2],
        site_id=site,
        structure_id=sites.structure_id[site],
    )
