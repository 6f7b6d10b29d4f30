"""Field-dependent aberration maps (zmap HDF5, design §5): read, synthesize, show.

Layout
------
dataset ``zernike``      shape (ny, nx, n_modes): RMS wavefront per Noll mode
attr ``units``           "nm" (default when absent) or "waves" (then attr ``wavelength_nm``)
attr ``noll``            the Noll index of each mode (n_modes integers >= 1, unique)
attr ``patch_size_px``   patches tile the ROI from pixel 0: centre of patch k at
                         (k + 0.5) * patch_size_px (scalar, or [py, px])
  or datasets ``y_px`` (ny,), ``x_px`` (nx,): patch centres, strictly increasing

Attributes are looked up on the ``zernike`` dataset first, then on the file root.
Positions are in pixel units with the origin at the top-left corner of pixel (0, 0),
so the centre of pixel (row i, column j) is at (x, y) = (j + 0.5, i + 0.5).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kernels.field import bilinear
from kernels.zernike import noll_to_nm
from pipeline import atomic
from pipeline.errors import InputFileError, UserError
from pipeline.inputs import roi_tuple as _roi_tuple

__all__ = ["ZMap", "load_zmap", "synth_zmap", "show_zmap", "register_cli", "mode_name"]

_LAYOUT = "HDF5 with dataset 'zernike' (ny, nx, n_modes), attr 'noll', and attr 'patch_size_px' or datasets 'y_px'/'x_px'"


# --------------------------------------------------------------------------- Noll names

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


# --------------------------------------------------------------------------- the map

@dataclass(frozen=True, eq=False)
class ZMap:
    """A loaded aberration map; coefficients in nm RMS, centres in pixel units."""

    path: str
    noll: tuple[int, ...]
    centres_y_px: np.ndarray
    centres_x_px: np.ndarray
    coeffs_nm: np.ndarray  # (ny, nx, m) float64
    content_hash: str = ""  # sha256 of the file bytes (hex)
    description: str = field(default="")

    @property
    def shape(self) -> tuple[int, int]:
        return self.coeffs_nm.shape[0], self.coeffs_nm.shape[1]

    def at(self, x_px, y_px) -> np.ndarray:
        """Coefficients (nm) at positions in pixel units: returns (n, m) for 1-D input
        (generally (*shape, m)); bilinear between patch centres, clamped at the edges."""
        x = np.atleast_1d(np.asarray(x_px, dtype=np.float64))
        y = np.atleast_1d(np.asarray(y_px, dtype=np.float64))
        return bilinear(self.centres_y_px, self.centres_x_px, self.coeffs_nm, y, x)



def _attr(ds, root, name):
    if name in ds.attrs:
        return ds.attrs[name]
    if name in root.attrs:
        return root.attrs[name]
    return None


def _as_str(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        return _as_str(v.item())
    if isinstance(v, np.ndarray) and v.size == 1:
        return _as_str(v.reshape(-1)[0])
    return str(v)


def _describe(v) -> str:
    a = np.asarray(v)
    if a.ndim == 0:
        return repr(a.item())
    if a.size <= 8:
        return repr(a.tolist())
    return f"array of shape {a.shape}"


def _read_centres(p, f, name: str, n: int) -> np.ndarray:
    obj = f[name]
    import h5py

    if not isinstance(obj, h5py.Dataset):
        raise InputFileError(p, f"'{name}' is a group", f"dataset '{name}' of shape ({n},)")
    try:
        c = np.asarray(obj[()], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(p, f"dataset '{name}' of dtype {obj.dtype}", f"numeric dataset '{name}'") from None
    if c.ndim != 1 or c.shape[0] != n:
        raise InputFileError(
            p, f"dataset '{name}' with shape {c.shape}", f"shape ({n},) matching dataset 'zernike'"
        )
    if not np.all(np.isfinite(c)):
        raise InputFileError(p, f"non-finite values in dataset '{name}'", f"finite patch centres in '{name}'")
    if n > 1 and not np.all(np.diff(c) > 0):
        raise InputFileError(
            p, f"dataset '{name}' = {_describe(c)}, not strictly increasing", f"strictly increasing centres in '{name}'"
        )
    return c


def load_zmap(path, roi_shape=None) -> ZMap:
    """Read and validate a zmap file (design §5). Raises InputFileError on any problem.

    ``roi_shape`` (int or (Y, X)), when given with ``patch_size_px``, is checked against the
    tiling: the patches must tile the ROI (ny == ceil(Y / patch_y), same for x).
    """
    import h5py

    p = str(path)
    try:
        data = Path(p).read_bytes()
    except FileNotFoundError:
        raise InputFileError(p, "no such file", "an HDF5 zmap file (" + _LAYOUT + ")") from None
    except IsADirectoryError:
        raise InputFileError(p, "a directory", "an HDF5 zmap file") from None
    except OSError as e:
        raise InputFileError(p, f"an unreadable file ({e.strerror or e})", "a readable HDF5 zmap file") from None
    digest = hashlib.sha256(data).hexdigest()
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except Exception:
        raise InputFileError(p, "a file that is not HDF5", "an HDF5 zmap file (" + _LAYOUT + ")") from None
    with f:
        if "zernike" not in f:
            raise InputFileError(
                p, f"no dataset 'zernike' (top-level names: {sorted(f.keys())})", "dataset 'zernike' with shape (ny, nx, n_modes)"
            )
        ds = f["zernike"]
        if not isinstance(ds, h5py.Dataset):
            raise InputFileError(p, "'zernike' is a group", "dataset 'zernike' with shape (ny, nx, n_modes)")
        try:
            coeffs = np.asarray(ds[()], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputFileError(p, f"dataset 'zernike' of dtype {ds.dtype}", "a numeric dataset 'zernike'") from None

        noll_raw = _attr(ds, f, "noll")
        if noll_raw is None:
            raise InputFileError(p, "no attr 'noll'", "attr 'noll' listing the Noll index of each mode")
        noll_arr = np.atleast_1d(np.asarray(noll_raw))
        if noll_arr.ndim != 1 or noll_arr.dtype.kind not in "iuf" or noll_arr.size == 0:
            raise InputFileError(p, f"attr 'noll' = {_describe(noll_raw)}", "attr 'noll' a 1-D list of integers >= 1")
        if noll_arr.dtype.kind == "f" and not np.all(np.isfinite(noll_arr) & (noll_arr == np.round(noll_arr))):
            raise InputFileError(p, f"attr 'noll' = {_describe(noll_raw)}", "attr 'noll' a 1-D list of integers >= 1")
        noll = tuple(int(v) for v in noll_arr)
        if min(noll) < 1:
            raise InputFileError(p, f"attr 'noll' = {list(noll)}", "Noll indices >= 1")
        if len(set(noll)) != len(noll):
            raise InputFileError(p, f"attr 'noll' = {list(noll)} with repeated indices", "unique Noll indices")

        if coeffs.ndim != 3 or coeffs.shape[2] != len(noll) or coeffs.shape[0] < 1 or coeffs.shape[1] < 1:
            raise InputFileError(
                p,
                f"dataset 'zernike' with shape {coeffs.shape} and attr 'noll' of length {len(noll)}",
                f"shape (ny, nx, n_modes) with n_modes = len(attr 'noll') = {len(noll)}",
            )
        ny, nx, _ = coeffs.shape
        bad = ~np.isfinite(coeffs)
        if bad.any():
            iy, ix, im = np.argwhere(bad)[0]
            raise InputFileError(
                p,
                f"{int(bad.sum())} non-finite value(s) in dataset 'zernike' (first at [{iy}, {ix}, {im}] = {coeffs[iy, ix, im]})",
                "finite coefficients",
            )

        units_raw = _attr(ds, f, "units")
        units = "nm" if units_raw is None else _as_str(units_raw).strip().lower()
        if units == "nm":
            pass
        elif units in ("waves", "wave", "lambda"):
            wl_raw = _attr(ds, f, "wavelength_nm")
            if wl_raw is None:
                raise InputFileError(p, "attr 'units' = 'waves' without attr 'wavelength_nm'", "attr 'wavelength_nm' (> 0) when units are 'waves'")
            try:
                wl = float(np.asarray(wl_raw).reshape(-1)[0]) if np.asarray(wl_raw).size == 1 else float("nan")
            except (TypeError, ValueError):
                wl = float("nan")
            if not (np.isfinite(wl) and wl > 0):
                raise InputFileError(p, f"attr 'wavelength_nm' = {_describe(wl_raw)}", "attr 'wavelength_nm' a number > 0")
            coeffs = coeffs * wl
        else:
            raise InputFileError(p, f"attr 'units' = {_as_str(units_raw)!r}", "attr 'units' 'nm' or 'waves'")

        has_y, has_x = "y_px" in f, "x_px" in f
        ps_raw = _attr(ds, f, "patch_size_px")
        if has_y or has_x:
            if not (has_y and has_x):
                missing = "x_px" if has_y else "y_px"
                raise InputFileError(p, f"only one of datasets 'y_px'/'x_px' (no '{missing}')", "both datasets 'y_px' (ny,) and 'x_px' (nx,)")
            cy = _read_centres(p, f, "y_px", ny)
            cx = _read_centres(p, f, "x_px", nx)
        elif ps_raw is not None:
            ps = np.asarray(ps_raw)
            try:
                ps = np.asarray(ps, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise InputFileError(p, f"attr 'patch_size_px' = {_describe(ps_raw)}", "attr 'patch_size_px' a number > 0 or [py, px]") from None
            if ps.size == 1:
                ps = np.array([ps[0], ps[0]])
            if ps.size != 2 or not np.all(np.isfinite(ps) & (ps > 0)):
                raise InputFileError(p, f"attr 'patch_size_px' = {_describe(ps_raw)}", "attr 'patch_size_px' a number > 0 or [py, px]")
            cy = (np.arange(ny) + 0.5) * ps[0]
            cx = (np.arange(nx) + 0.5) * ps[1]
            if roi_shape is not None:
                ry, rx = _roi_tuple(roi_shape)
                want = (math.ceil(ry / ps[0] - 1e-9), math.ceil(rx / ps[1] - 1e-9))
                if (ny, nx) != want:
                    raise InputFileError(
                        p,
                        f"a {ny}x{nx} grid of patches of {_describe(ps_raw)} px (covering {ny * ps[0]:g}x{nx * ps[1]:g} px)",
                        f"patches tiling the {ry}x{rx} px ROI, i.e. a {want[0]}x{want[1]} grid",
                    )
        else:
            raise InputFileError(p, "neither attr 'patch_size_px' nor datasets 'y_px'/'x_px'", "patch centres from attr 'patch_size_px' or datasets 'y_px' and 'x_px'")

        desc_raw = _attr(ds, f, "description")
        desc = "" if desc_raw is None else _as_str(desc_raw)

    for a in (coeffs, cy, cx):
        a.setflags(write=False)
    return ZMap(path=p, noll=noll, centres_y_px=cy, centres_x_px=cx, coeffs_nm=coeffs, content_hash=digest, description=desc)


# --------------------------------------------------------------------------- synthesis

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

    gy, gx = _roi_tuple(grid)
    H, W = _roi_tuple(roi_shape)
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


# --------------------------------------------------------------------------- show

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
    out = Path(out_dir) if out_dir is not None else src.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"zmap show: cannot create output folder {out}: {e.strerror or e}") from None
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


# --------------------------------------------------------------------------- CLI

def _parse_pair(text: str, what: str) -> tuple[int, int]:
    s = str(text).strip().lower().replace("×", "x")
    parts = s.split("x")
    try:
        vals = [int(v) for v in parts]
    except ValueError:
        raise UserError(f"zmap synth: --{what} {text!r} is not N or NxM (e.g. 8 or 8x8)") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or min(vals) < 1:
        raise UserError(f"zmap synth: --{what} {text!r} is not N or NxM with positive integers (e.g. 8 or 8x8)")
    return vals[0], vals[1]


def _parse_modes(text: str) -> tuple[int, ...]:
    try:
        modes = tuple(int(v) for v in str(text).replace(" ", "").split(",") if v != "")
    except ValueError:
        raise UserError(f"zmap synth: --modes {text!r} is not a comma-separated list of Noll indices (e.g. 5,6,7,8,11)") from None
    if not modes or min(modes) < 1 or len(set(modes)) != len(modes):
        raise UserError(f"zmap synth: --modes {text!r} must list unique Noll indices >= 1 (e.g. 5,6,7,8,11)")
    return modes


def _cmd_synth(args) -> int:
    grid = _parse_pair(args.grid, "grid")
    roi = _parse_pair(args.roi, "roi")
    modes = _parse_modes(args.modes)
    try:
        rms = float(args.rms_nm)
    except ValueError:
        raise UserError(f"zmap synth: --rms-nm {args.rms_nm!r} is not a number") from None
    if not (math.isfinite(rms) and rms >= 0):
        raise UserError(f"zmap synth: --rms-nm {args.rms_nm!r} must be a finite number >= 0")
    try:
        seed = int(args.seed)
    except ValueError:
        raise UserError(f"zmap synth: --seed {args.seed!r} is not an integer") from None
    if seed < 0:
        raise UserError(f"zmap synth: --seed {seed} must be >= 0")
    out = synth_zmap(args.path, grid=grid, modes=modes, rms_nm=rms, roi_shape=roi, seed=seed)
    print(
        f"wrote {out}: {grid[0]}x{grid[1]} patches over a {roi[0]}x{roi[1]} px ROI, "
        f"modes {', '.join(mode_name(j) for j in modes)}, {rms:g} nm RMS each"
    )
    return 0


def _cmd_show(args) -> int:
    show_zmap(args.path, out_dir=args.out)
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add ``zmap synth PATH ...`` and ``zmap show PATH [--out DIR]``; each sets func=handler."""
    p = subparsers.add_parser(
        "zmap",
        help="synthesize or show a field-dependent aberration map (HDF5)",
        description="Field-dependent aberration maps (design §5).",
    )
    sub = p.add_subparsers(dest="zmap_command", metavar="{synth,show}", required=True)
    s = sub.add_parser("synth", help="write a smooth synthetic zmap", description="Write a smooth synthetic zmap HDF5.")
    s.add_argument("path", metavar="PATH", help="output HDF5 file")
    s.add_argument("--grid", default="8x8", help="patch grid NYxNX or N (default 8x8)")
    s.add_argument("--modes", default="5,6,7,8,11", help="comma-separated Noll indices (default 5,6,7,8,11)")
    s.add_argument("--rms-nm", dest="rms_nm", default="40", help="RMS over the field of each mode, nm (default 40)")
    s.add_argument("--roi", default="1200", help="ROI in pixels, N or HxW (default 1200)")
    s.add_argument("--seed", default="0", help="random seed (default 0)")
    s.set_defaults(func=_cmd_synth)
    sh = sub.add_parser("show", help="print a zmap summary and write one PNG per mode", description="Print and plot a zmap.")
    sh.add_argument("path", metavar="PATH", help="zmap HDF5 file")
    sh.add_argument("--out", default=None, metavar="DIR", help="folder for the PNGs (default: next to the file)")
    sh.set_defaults(func=_cmd_show)
    return p
