"""A cubic-spline PSF from a bead z-stack (pure numpy; the reading of files is the pipeline's).

Steps (docs/physics.md §4.6):

1. **Beads**: given positions, or the local maxima of the stack's maximum projection that stand
   out by ``threshold`` of the brightest one over the median, at least one ROI from the frame
   edges and from each other.
2. **Background** (constant over the stack: a bead stack takes seconds): a given value; else the
   median over planes of the median of the pixels farther than one ROI from every bead, when the
   frame has at least :data:`FAR_PIXELS` of them; else per bead the median over planes of the
   median of its ROI's outer ring (which also holds the PSF's tail: a few % of the peak at 1 um
   from a high-NA focus, so give the value or a larger frame when it matters). Subtracted.
3. **Centre**: the photon-weighted centroid of the bead's z projection (a given position is used
   as it is), iterated with the ROI moved onto the current estimate (so the window is symmetric
   about it and its truncation does not pull the centroid); each bead's ROI is then moved by
   band-limited interpolation so that this position sits on the ROI's centre pixel. The calibration's origin - the point an emitter's
   ground-truth position refers to - is therefore the bead's mean centroid over the stack.
4. **Average**: each bead scaled to unit total photons, then the beads' mean; optional Gaussian
   smoothing along z (``smooth_z`` planes); every plane normalized to sum 1 over the ROI.
5. **Spline**: one zero node appended on the far side of each lateral axis (the window is then
   ``roi`` voxels wide, centred), then :func:`kernels.spline.coefficients_from_nodes`
   (band-limited laterally, not-a-knot along z), with ``oversample`` lateral voxels per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spline import coefficients_from_nodes, fourier_shift

__all__ = ["BeadFit", "find_beads", "fit_bead_stack"]


@dataclass(frozen=True, eq=False)
class BeadFit:
    """The result of :func:`fit_bead_stack`.

    Attributes
    ----------
    coeffs : (nz - 1, k roi, k roi, 64) float64
    nodes : (nz, roi + 1, roi + 1) float64
        The averaged, normalized bead (one node per pixel; the last row/column is the appended zero).
    centre_px : float
        Node coordinate of the origin along y and x (``roi // 2``).
    z_first_nm, dz_nm : float
    oversample : int
    beads : (m, 2) float64
        The (x, y) positions (frame pixels) of the beads that were averaged.
    background : (m,) float64
        Mean background subtracted per bead (per pixel).
    skipped : tuple of str
        Why candidate beads were left out.
    """

    coeffs: np.ndarray
    nodes: np.ndarray
    centre_px: float
    z_first_nm: float
    dz_nm: float
    oversample: int
    beads: np.ndarray
    background: np.ndarray
    skipped: tuple[str, ...] = ()


def _max3(a: np.ndarray) -> np.ndarray:
    """3x3 maximum filter (edge-replicated)."""
    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    return np.max([p[i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=0)


def find_beads(stack: np.ndarray, roi: int, threshold: float = 0.2) -> tuple[np.ndarray, list[str]]:
    """Candidate beads: (x, y) pixel centres of isolated maxima of the maximum projection.

    A maximum counts if it exceeds the projection's median by ``threshold`` of the brightest
    maximum's excess; maxima within 3 px of a brighter one belong to it (lobes of one PSF). A bead
    is kept if no other bead lies within one ROI (both are dropped) and its ROI fits the frame.
    Returns the positions (brightest first) and why candidates were dropped.
    """
    proj = np.asarray(stack, dtype=np.float64).max(axis=0)
    h, w = proj.shape
    half = roi // 2
    base, peak = float(np.median(proj)), float(proj.max())
    if not peak > base:
        return np.zeros((0, 2)), ["the stack is flat: no bead"]
    rows, cols = np.nonzero((proj == _max3(proj)) & (proj >= base + threshold * (peak - base)))
    order = np.argsort(-proj[rows, cols], kind="stable")
    peaks: list[tuple[int, int]] = []
    for r, c in zip(rows[order], cols[order]):
        if all(max(abs(r - r2), abs(c - c2)) > 3 for r2, c2 in peaks):
            peaks.append((int(r), int(c)))
    kept, skipped = [], []
    for r, c in peaks:
        where = f"bead at (x, y) = ({c + 0.5:g}, {r + 0.5:g}) px"
        if any(max(abs(r - r2), abs(c - c2)) < roi for r2, c2 in peaks if (r2, c2) != (r, c)):
            skipped.append(f"{where} has another bead within one ROI ({roi} px)")
        elif r < half or c < half or r >= h - half or c >= w - half:
            skipped.append(f"{where} is closer than roi/2 = {half} px to the frame edge")
        else:
            kept.append((c + 0.5, r + 0.5))
    return np.asarray(kept, dtype=np.float64).reshape(-1, 2), skipped


def _ring(a: np.ndarray) -> np.ndarray:
    """The outer ring of pixels of (..., R, R)."""
    return np.concatenate([a[..., 0, :], a[..., -1, :], a[..., 1:-1, 0], a[..., 1:-1, -1]], axis=-1)


def _background(cut: np.ndarray, value) -> np.ndarray:
    """Per-plane background of a bead ROI: ``value``, or the median over planes of the ring medians."""
    if value is not None:
        return np.full(cut.shape[0], float(value))
    return np.full(cut.shape[0], float(np.median(np.median(_ring(cut), axis=1))))


#: pixels far from every bead needed to estimate the background from them
FAR_PIXELS = 200


def _far_background(stack: np.ndarray, positions: np.ndarray, roi: int) -> float | None:
    """The median over planes of the median of the pixels farther than ``roi`` from every bead, if enough."""
    h, w = stack.shape[1:]
    far = np.ones((h, w), dtype=bool)
    for x, y in positions:
        r, c = int(np.floor(y)), int(np.floor(x))
        far[max(r - roi, 0): r + roi + 1, max(c - roi, 0): c + roi + 1] = False
    if far.sum() < FAR_PIXELS:
        return None
    return float(np.median(np.median(stack[:, far], axis=1)))


def _cut(stack: np.ndarray, row: int, col: int, half: int) -> np.ndarray:
    return stack[:, row - half: row + half + 1, col - half: col + half + 1]


#: pixels of the frame around a bead's ROI that feed its sub-pixel shift (when the frame has them)
MARGIN = 8


def _shifted(stack: np.ndarray, bg: np.ndarray, x: float, y: float, half: int) -> np.ndarray:
    """The background-subtracted ROI around (x, y) resampled so that (x, y) is on its centre pixel.

    The shift is taken on the ROI plus up to :data:`MARGIN` pixels of frame around it, then
    cropped: the ROI's edge pixels are interpolated from real neighbours, not from zeros (the
    centroid of a cut that ends in zeros is biased by ~1e-3 px).
    """
    h, w = stack.shape[1:]
    row, col = int(np.floor(y)), int(np.floor(x))
    m = max(0, min(MARGIN, row - half, col - half, h - 1 - row - half, w - 1 - col - half))
    big = _cut(stack, row, col, half + m) - bg[:, None, None]
    moved = fourier_shift(big, y - (row + 0.5), x - (col + 0.5))
    return moved[:, m: m + 2 * half + 1, m: m + 2 * half + 1]


def _centroid(roi_stack: np.ndarray) -> tuple[float, float]:
    """(dy, dx) of the z projection's centroid from the ROI's centre pixel (positive part only)."""
    proj = np.clip(roi_stack.sum(axis=0), 0.0, None)
    total = proj.sum()
    if not total > 0:
        return 0.0, 0.0
    half = proj.shape[0] // 2
    d = np.arange(proj.shape[0]) - half
    return float((proj.sum(axis=1) * d).sum() / total), float((proj.sum(axis=0) * d).sum() / total)


def _smooth_z(a: np.ndarray, sigma: float) -> np.ndarray:
    if not sigma > 0:
        return a
    r = int(np.ceil(4 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    out = np.zeros_like(a)
    weight = np.zeros(a.shape[0])
    for i, kv in enumerate(k):
        shift = i - r
        lo, hi = max(0, -shift), min(a.shape[0], a.shape[0] - shift)
        if hi <= lo:
            continue  # a tap farther than the stack is long
        out[lo:hi] += kv * a[lo + shift: hi + shift]
        weight[lo:hi] += kv
    return out / weight[:, None, None]  # renormalized at the ends (no padding)


def fit_bead_stack(stack, dz_nm: float, roi: int = 31, beads=None, background=None, smooth_z: float = 0.0,
                   focus_plane: float | None = None, oversample: int = 2, threshold: float = 0.2) -> BeadFit:
    """Average the beads of a z-stack into a normalized PSF and its spline (module docstring).

    Parameters
    ----------
    stack : (nz, H, W) array
        Planes in order of increasing z (plane k at ``(k - focus_plane) dz``).
    dz_nm : float
        Plane spacing.
    roi : int
        Side of the bead ROI, pixels (odd).
    beads : (m, 2) array of (x, y) frame pixels, optional
        Known bead positions (used as they are); default: found and centred.
    background : float, optional
        Per-pixel background to subtract; default: estimated per bead (module docstring).
    smooth_z : float
        Gaussian smoothing along z, sigma in planes (0: none).
    focus_plane : float, optional
        The plane (index, may be fractional) at z = 0; default the middle, ``(nz - 1) / 2``.
    oversample : int
        Lateral voxels per pixel of the spline.
    """
    a = np.asarray(stack, dtype=np.float64)
    if a.ndim != 3 or a.shape[0] < 2:
        raise ValueError(f"need a z-stack (nz >= 2, H, W), got shape {a.shape}")
    roi = int(roi)
    if roi < 5 or roi % 2 == 0:
        raise ValueError(f"roi must be an odd number >= 5, got {roi}")
    if min(a.shape[1:]) < roi:
        raise ValueError(f"the frames ({a.shape[1]}x{a.shape[2]} px) are smaller than the ROI ({roi} px)")
    if not np.isfinite(a).all():
        raise ValueError("the stack holds non-finite values")
    half = roi // 2
    skipped: list[str] = []
    given = beads is not None
    if given:
        positions = np.asarray(beads, dtype=np.float64).reshape(-1, 2)
    else:
        positions, skipped = find_beads(a, roi, threshold)
    if positions.shape[0] == 0:
        raise ValueError("no isolated bead found" + (f" ({'; '.join(skipped[:3])})" if skipped else ""))
    if background is None:
        background = _far_background(a, positions, roi)  # None: each bead's ring
    volumes, used, backgrounds = [], [], []
    h, w = a.shape[1:]
    for x, y in positions:
        row, col = int(np.floor(y)), int(np.floor(x))
        for _ in range(4 if not given else 1):
            row, col = int(np.floor(y)), int(np.floor(x))
            if row < half or col < half or row + half >= h or col + half >= w:
                break
            if given:
                break
            # the centroid of the ROI moved onto the estimate: symmetric truncation, so the
            # estimate converges to the centroid of the PSF itself (not of a lopsided window)
            dy, dx = _centroid(_shifted(a, _background(_cut(a, row, col, half), background), x, y, half))
            x, y = x + dx, y + dy
            if max(abs(dx), abs(dy)) < 1e-6:
                break
        row, col = int(np.floor(y)), int(np.floor(x))
        if row < half or col < half or row + half >= h or col + half >= w:
            skipped.append(f"bead at (x, y) = ({x:g}, {y:g}) px: its ROI leaves the frame")
            continue
        bg = _background(_cut(a, row, col, half), background)
        # move the bead's position (x, y) onto the centre of pixel (row, col)
        cut = _shifted(a, bg, x, y, half)
        total = cut.sum()
        if not total > 0:
            skipped.append(f"bead at (x, y) = ({x:g}, {y:g}) px: no signal above the background")
            continue
        volumes.append(cut / total)
        used.append((x, y))
        backgrounds.append(float(bg.mean()))
    if not volumes:
        raise ValueError("no usable bead: " + "; ".join(skipped[:3]))
    mean = _smooth_z(np.mean(volumes, axis=0), float(smooth_z))
    sums = mean.sum(axis=(1, 2))
    if np.any(sums <= 0):
        raise ValueError(f"plane {int(np.argmax(sums <= 0))} has no signal after background subtraction")
    mean = mean / sums[:, None, None]
    nodes = np.zeros((mean.shape[0], roi + 1, roi + 1))
    nodes[:, :roi, :roi] = mean
    k = int(oversample)
    focus = (a.shape[0] - 1) / 2 if focus_plane is None else float(focus_plane)
    return BeadFit(coeffs=coefficients_from_nodes(nodes, "fourier", k), nodes=nodes, centre_px=float(half),
                   z_first_nm=-focus * float(dz_nm), dz_nm=float(dz_nm), oversample=k,
                   beads=np.asarray(used, dtype=np.float64), background=np.asarray(backgrounds), skipped=tuple(skipped))
