"""``zmap show``: a zmap's summary (per mode min/mean/max/RMS) and one PNG per mode; Noll mode names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kernels.zernike import noll_to_nm

from .files import output_folder
from .zmap import load_zmap

_NAMES = {
    (0, 0): "piston",
    (1, 1): "tilt",
    (2, 0): "defocus",
    (2, 2): "astigmatism",
    (3, 1): "coma",
    (3, 3): "trefoil",
    (4, 0): "spherical",
    (4, 2): "secondary astigmatism",
    (4, 4): "quadrafoil",
    (5, 5): "pentafoil",
    (5, 1): "secondary coma",
    (5, 3): "secondary trefoil",
    (6, 0): "secondary spherical",
}


def mode_name(j: int) -> str:
    """Human name of Noll mode j, e.g. 'Z6 astigmatism 0°', 'Z5 astigmatism 45°', 'Z11 spherical'.

    The angle is the orientation of the term: cos(mθ) at 0°, sin(|m|θ) at 90°/|m|.
    """
    n, m = noll_to_nm(j)
    base = _NAMES.get((n, abs(m)), f"(n={n}, m={m})")
    if m == 0:
        return f"Z{j} {base}"
    angle = 0.0 if m > 0 else 90.0 / abs(m)
    return f"Z{j} {base} {angle:g}°"


def _edges(c: np.ndarray) -> np.ndarray:
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5]) if c[0] <= 0.5 else np.array([0.0, 2 * c[0]])
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def show_zmap(path, out_dir=None, print_fn=print) -> list[Path]:
    """Print a summary of a zmap and write one PNG per mode; returns the PNG paths."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    zm = load_zmap(path)
    src = Path(zm.path)
    out = output_folder(out_dir, src, "zmap show")
    ny, nx, nm = zm.coeffs_nm.shape
    lines = [
        f"{src}: {ny}x{nx} patches, {nm} modes, units nm (RMS wavefront), sha256 {zm.content_hash[:16]}",
    ]
    if zm.description:
        lines.append(f"  description: {zm.description}")
    fmt = lambda c: ", ".join(f"{v:g}" for v in c) if c.size <= 10 else f"{c[0]:g} .. {c[-1]:g} ({c.size})"
    lines.append(f"  centres y (px): {fmt(zm.centres_y_px)}")
    lines.append(f"  centres x (px): {fmt(zm.centres_x_px)}")
    lines.append(f"  {'mode':<34s} {'min':>9s} {'mean':>9s} {'max':>9s} {'rms':>9s}  (nm)")
    for k, j in enumerate(zm.noll):
        c = zm.coeffs_nm[:, :, k]
        lines.append(
            f"  {mode_name(j):<34s} {c.min():9.2f} {c.mean():9.2f} {c.max():9.2f} {np.sqrt(np.mean(c**2)):9.2f}"
        )
    for ln in lines:
        print_fn(ln)

    ey, ex = _edges(zm.centres_y_px), _edges(zm.centres_x_px)
    written = []
    for k, j in enumerate(zm.noll):
        fig = Figure(figsize=(5.0, 4.2), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        c = zm.coeffs_nm[:, :, k]
        lim = float(np.max(np.abs(c))) or 1.0
        im = ax.pcolormesh(ex, ey, c, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="flat")
        ax.plot(*np.meshgrid(zm.centres_x_px, zm.centres_y_px), "k.", ms=2)
        ax.set_xlim(ex[0], ex[-1])
        ax.set_ylim(ey[-1], ey[0])  # y down, origin top-left
        ax.set_aspect("equal")
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")
        ax.set_title(f"{mode_name(j)} (nm RMS)\n{src.name}", fontsize=10)
        fig.colorbar(im, ax=ax, label="nm RMS")
        fig.tight_layout()
        target = out / f"{src.stem}_Z{j}.png"
        fig.savefig(target)
        written.append(target)
    print_fn(f"  wrote {len(written)} PNG(s) to {out}")
    return written


