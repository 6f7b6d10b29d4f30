"""The ``psf`` tools: a spline from a bead stack (``psf spline``), from a model (``psf export-spline``),
and a calibration's summary and sections (``psf show``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kernels.spline import spline_from_model
from kernels.spline_fit import fit_bead_stack

from ..errors import InputFileError, UserError
from .files import output_folder
from .spline_files import SplinePart, load_spline, read_bead_stack, write_smap_mat, write_spline_h5

__all__ = ["export_model", "fit_stack", "output_kind", "show_spline"]


def output_kind(path) -> str:
    """``"h5"`` (this project's layout) or ``"mat"`` (SMAP) from a file name's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return "h5"
    if suffix == ".mat":
        return "mat"
    raise UserError(f"{path}: the output must end in .h5/.hdf5 (this project's layout) or .mat (SMAP _3dcal.mat)")


def _check_out(path: Path) -> None:
    if not path.parent.is_dir():
        raise UserError(f"{path}: folder {path.parent} does not exist")


def fit_stack(stack_path, out, dz_nm: float, pixel_size_nm: float, roi: int = 31, beads=None, background=None,
              smooth_z: float = 0.0, focus_plane: float | None = None, oversample: int = 2, compact: bool = False,
              reverse: bool = False, print_fn=print) -> Path:
    """``psf spline``: fit a bead stack TIFF and write this project's HDF5 (returns the path).

    The TIFF's planes go up in z (plane k at ``(k - focus_plane) dz``), or down with ``reverse``;
    ``focus_plane`` counts in the file's order either way.
    """
    out = Path(out)
    if output_kind(out) != "h5":
        raise UserError(f"{out}: psf spline writes this project's HDF5 (.h5); convert with psf export-spline for SMAP")
    _check_out(out)
    stack = read_bead_stack(stack_path)
    if focus_plane is not None and focus_plane > stack.shape[0] - 1:
        raise UserError(f"--focus-plane {focus_plane:g}: {stack_path} has planes 0 .. {stack.shape[0] - 1}")
    if reverse:
        stack = stack[::-1]
        focus_plane = None if focus_plane is None else stack.shape[0] - 1 - focus_plane
    try:
        fit = fit_bead_stack(stack, dz_nm, roi=roi, beads=beads, background=background, smooth_z=smooth_z,
                             focus_plane=focus_plane, oversample=oversample)
    except ValueError as e:
        raise InputFileError(str(stack_path), f"a stack of {stack.shape[0]} planes of {stack.shape[1]}x{stack.shape[2]} px "
                             f"where {e}", "isolated beads inside the frame") from None
    part = SplinePart(fit.coeffs.astype(np.float32), fit.dz_nm, fit.z_first_nm, (fit.centre_px, fit.centre_px), fit.oversample)
    where = ", ".join(f"({x:.2f}, {y:.2f})" for x, y in fit.beads[:6]) + (" ..." if len(fit.beads) > 6 else "")
    description = (f"psf spline of {Path(stack_path).name}: {len(fit.beads)} bead(s) at (x, y) px {where}; roi {roi} px, "
                   f"dz {dz_nm:g} nm, background {'given' if background is not None else 'estimated'}, "
                   f"smooth_z {smooth_z:g} planes, oversample {oversample}{', planes reversed' if reverse else ''}")
    write_spline_h5(out, part, pixel_size_nm, description, nodes=fit.nodes, compact=compact)
    lo, hi = part.z_range_nm
    print_fn(f"wrote {out}: {len(fit.beads)} bead(s) at (x, y) px {where}; window {roi}x{roi} px ({oversample} voxel(s) "
             f"per pixel), z {lo:g} .. {hi:g} nm in {dz_nm:g} nm planes, background {np.mean(fit.background):.4g} per pixel")
    for reason in fit.skipped:
        print_fn(f"  skipped {reason}")
    return out


def export_model(model, outs, z_range_nm: tuple[float, float], dz_nm: float, size_px: int, oversample: int = 1,
                 description: str = "", print_fn=print) -> list[Path]:
    """``psf export-spline``: the spline of ``model`` (anything with ``render`` and ``pixel_size_nm``)
    written to each path of ``outs`` (.h5: this project's layout, .mat: SMAP's); the same
    coefficients go into every file."""
    outs = [Path(o) for o in outs]
    kinds = [output_kind(o) for o in outs]
    for o in outs:
        _check_out(o)
    if "mat" in kinds and oversample != 1:
        raise UserError("a SMAP _3dcal.mat has one voxel per pixel: use --oversample 1 with a .mat output")
    lo, hi = (float(v) for v in z_range_nm)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo and dz_nm > 0):
        raise UserError(f"export-spline: z range {lo:g} .. {hi:g} nm with dz {dz_nm:g} nm: need lo < hi and dz > 0")
    nz = max(1, math.ceil((hi - lo) / dz_nm - 1e-9))
    coeffs, centre = spline_from_model(model, lo, dz_nm, nz, size_px, oversample)
    k = int(oversample)
    part = SplinePart(coeffs.astype(np.float32), float(dz_nm), lo, (centre[0] / k, centre[1] / k), k)
    for o, kind in zip(outs, kinds):
        if kind == "mat":
            write_smap_mat(o, part, model.pixel_size_nm, description)
        else:
            write_spline_h5(o, part, model.pixel_size_nm, description)
        print_fn(f"wrote {o}: {type(model).__name__} as a spline, window {size_px}x{size_px} px ({k} voxel(s) per "
                 f"pixel), z {lo:g} .. {lo + nz * dz_nm:g} nm in {dz_nm:g} nm planes ({'SMAP _3dcal.mat' if kind == 'mat' else 'HDF5'})")
    return outs


def _fwhm(profile: np.ndarray) -> float:
    """Full width at half maximum of a sampled profile (linear interpolation), in samples."""
    i = int(np.argmax(profile))
    half = profile[i] / 2
    left = i
    while left > 0 and profile[left] > half:
        left -= 1
    right = i
    while right < profile.size - 1 and profile[right] > half:
        right += 1
    xl = left + (half - profile[left]) / (profile[left + 1] - profile[left]) if profile[left + 1] != profile[left] else left
    xr = right - 1 + (profile[right - 1] - half) / (profile[right - 1] - profile[right]) if profile[right - 1] != profile[right] else right
    return float(xr - xl)


def show_spline(path, out_dir=None, print_fn=print) -> Path:
    """Print a calibration's summary and write ``<stem>_psf.png``: x-z and y-z sections and a few planes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cal = load_spline(path)
    src = Path(cal.path)
    out = output_folder(out_dir, src, "psf show")
    lo, hi = cal.z_range_nm
    part = cal.parts[0]
    ny, nx = part.window_px
    nzv = part.coeffs.shape[0]
    px = cal.pixel_size_nm
    lines = [f"{src}: {cal.format}" + (f", {len(cal.parts)} field regions" if len(cal.parts) > 1 else ""),
             f"  voxels {nzv} x {part.coeffs.shape[1]} x {part.coeffs.shape[2]} (z, y, x), 64 coefficients each, "
             f"{part.oversample} lateral voxel(s) per pixel; {part.coeffs.nbytes / 1e6:.1f} MB",
             f"  window {ny} x {nx} px" + (f" of {px:g} nm" if px else " (pixel size not recorded: taken from optics.pixel_size_nm)"),
             f"  z {lo:g} .. {hi:g} nm, dz {part.dz_nm:g} nm; emitter at node (y, x) = ({part.centre_px[0]:g}, {part.centre_px[1]:g}) px",
             ]
    if cal.em_on is not None:
        lines.append(f"  EMon = {str(cal.em_on).lower()} (as calibrated; used as it is)")
    if cal.description:
        lines.append(f"  description: {cal.description}")
    for i, p in enumerate(cal.parts if len(cal.parts) > 1 else ()):
        lines.append(f"  region {i + 1}: x {p.x_range_px[0]:g} .. {p.x_range_px[1]:g} px, y {p.y_range_px[0]:g} .. {p.y_range_px[1]:g} px, "
                     f"z {p.z_range_nm[0]:g} .. {p.z_range_nm[1]:g} nm")
    # sections through the emitter: the model rendered on a pixel grid at pixel-centre positions
    radius = max(ny, nx) // 2 + 1
    model = part.model(radius, pixel_size_nm=px or 100.0)
    zs = np.linspace(lo, hi, 101)
    x0 = radius + 0.5 + 4
    patches = model.render(np.full(zs.size, x0), np.full(zs.size, x0), zs)
    vals = patches.values.astype(np.float64)
    c = radius  # the patch's centre pixel holds the emitter
    peak = vals.max(axis=(1, 2))
    best = int(np.argmax(peak))
    sums = model.plane_sum(zs)
    cols = np.arange(vals.shape[2]) - c
    cx = (vals.sum(axis=1) * cols).sum(axis=1) / vals.sum(axis=(1, 2))
    cy = (vals.sum(axis=2) * cols).sum(axis=1) / vals.sum(axis=(1, 2))
    unit = f"{px:g} nm px" if px else "px"
    lines.append(f"  plane sums S(z) {sums.min():.4g} .. {sums.max():.4g} (each plane is normalized to 1 when rendered)")
    lines.append(f"  sharpest: z = {zs[best]:g} nm (peak {peak[best]:.4f} of the photons), FWHM x {_fwhm(vals[best, c]):.2f}, "
                 f"y {_fwhm(vals[best, :, c]):.2f} px ({unit})")
    lines.append(f"  centroid over z: x {cx.min():+.3f} .. {cx.max():+.3f} px, y {cy.min():+.3f} .. {cy.max():+.3f} px")
    for ln in lines:
        print_fn(ln)

    fig = Figure(figsize=(11.0, 6.2), dpi=100)
    FigureCanvasAgg(fig)
    extent_z = (lo, hi)
    for i, (title, section) in enumerate([("x-z (row through the emitter)", vals[:, c, :]),
                                          ("y-z (column through the emitter)", vals[:, :, c])]):
        ax = fig.add_subplot(2, 5, (1 + 5 * i, 2 + 5 * i))
        ax.imshow(section.T, origin="upper", aspect="auto", cmap="magma",
                  extent=(extent_z[0], extent_z[1], cols[-1] + 0.5, cols[0] - 0.5))
        ax.set_xlabel("z (nm)")
        ax.set_ylabel("x (px)" if i == 0 else "y (px)")
        ax.set_title(title, fontsize=9)
    for j, q in enumerate(np.linspace(0, 1, 6)):
        k = int(round(q * (zs.size - 1)))
        ax = fig.add_subplot(2, 5, 3 + (j % 3) + 5 * (j // 3))
        ax.imshow(vals[k], cmap="magma", extent=(cols[0] - 0.5, cols[-1] + 0.5, cols[-1] + 0.5, cols[0] - 0.5))
        ax.set_title(f"z = {zs[k]:.0f} nm", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{src.name}: {cal.format}", fontsize=10)
    fig.tight_layout()
    target = out / f"{src.stem}_psf.png"
    fig.savefig(target)
    print_fn(f"  wrote {target}")
    return target
