"""``zmap synth``: a smooth, physically plausible synthetic aberration map in the zmap layout (design §5)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kernels.zernike import noll_to_nm

from .. import atomic
from ..errors import UserError
from .files import roi_tuple

def _synth_coeffs(cy, cx, roi, modes, rms_nm, seed) -> np.ndarray:
    """Smooth field-dependent coefficients, each mode scaled to RMS rms_nm over the grid.

    Field dependence follows the natural (Hopkins) form of a rotationally symmetric system
    with a small random misalignment: a pupil term of azimuthal order m comes with the field
    factor r^|m| cos(|m|(θ_field)) (or sin), times (a + b r^2); rotationally symmetric terms
    (defocus/field curvature, spherical) are c0 + c2 r^2. So astigmatism grows as r^2 and is
    oriented with the field angle, coma grows linearly toward the edge, spherical is a
    constant plus r^2. Each mode also gets a small constant offset (misalignment) from ``seed``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x7A4D4150]))
    H, W = roi
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    half_diag = 0.5 * math.hypot(H, W)
    u = (xx - W / 2.0) / half_diag
    v = (yy - H / 2.0) / half_diag
    r = np.hypot(u, v)
    phi = np.arctan2(v, u)
    out = np.zeros((len(cy), len(cx), len(modes)))
    for k, j in enumerate(modes):
        n, m = noll_to_nm(j)
        a = 1.0
        b = 0.3 + 0.4 * rng.random()
        if m == 0:
            c0 = 0.3 + 0.4 * rng.random() if n > 0 else 1.0
            g = c0 + b * 3.0 * r**2
        else:
            ang = np.cos(abs(m) * phi) if m > 0 else np.sin(abs(m) * phi)
            g = r ** abs(m) * ang * (a + b * r**2)
            g = g + 0.1 * rng.standard_normal()  # on-axis residual (misalignment)
        rms = float(np.sqrt(np.mean(g**2)))
        if rms < 1e-12:
            g = np.ones_like(g)
            rms = 1.0
        out[:, :, k] = g * (float(rms_nm) / rms)
    return out


def synth_zmap(path, grid=(8, 8), modes=(5, 6, 7, 8, 11), rms_nm=40.0, roi_shape=(1200, 1200), seed=0) -> Path:
    """Write a smooth, physically plausible synthetic zmap (§5 layout, units nm) to ``path``.

    grid = (ny, nx) patches tiling roi_shape = (Y, X) pixels; patch_size_px = roi / grid.
    Each mode's RMS over the patch grid is rms_nm. Written to a temporary file in the same
    folder, then renamed. Returns the path.
    """
    import h5py

    gy, gx = roi_tuple(grid)
    H, W = roi_tuple(roi_shape)
    modes = tuple(int(j) for j in modes)
    if gy < 1 or gx < 1:
        raise UserError(f"zmap synth: grid must be at least 1x1; got {gy}x{gx}")
    if H < 1 or W < 1:
        raise UserError(f"zmap synth: roi must be at least 1x1 px; got {H}x{W}")
    if not modes or min(modes) < 1 or len(set(modes)) != len(modes):
        raise UserError(f"zmap synth: modes must be unique Noll indices >= 1; got {list(modes)}")
    if not (np.isfinite(rms_nm) and rms_nm >= 0):
        raise UserError(f"zmap synth: rms_nm must be a finite number >= 0; got {rms_nm}")
    py, px = H / gy, W / gx
    cy = (np.arange(gy) + 0.5) * py
    cx = (np.arange(gx) + 0.5) * px
    coeffs = _synth_coeffs(cy, cx, (H, W), modes, float(rms_nm), seed)

    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"zmap synth: folder {folder} does not exist")
    with atomic.Staged(out) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("zernike", data=coeffs.astype(np.float64))
        f.attrs["units"] = "nm"
        f.attrs["noll"] = np.asarray(modes, dtype=np.int64)
        f.attrs["patch_size_px"] = float(py) if py == px else np.array([py, px], dtype=np.float64)
        f.attrs["roi_shape"] = np.array([H, W], dtype=np.int64)
        f.attrs["description"] = (
            f"synthetic field-dependent aberrations: {gy}x{gx} patches over a {H}x{W} px ROI, "
            f"Noll modes {list(modes)}, each {float(rms_nm):g} nm RMS over the field, seed {seed}; "
            "astigmatism ~ r^2 along the field angle, coma ~ r, spherical/defocus c0 + c2 r^2"
        )
        ds.attrs["units"] = "nm"
        ds.attrs["axes"] = "y, x, mode"
    return out


