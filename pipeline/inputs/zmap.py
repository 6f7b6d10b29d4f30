"""Field-dependent aberration maps (zmap HDF5, design §5): the reader.

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

import hashlib
import io
import math
from dataclasses import dataclass

import numpy as np

from kernels.field import bilinear

from ..errors import InputFileError
from .files import read_all, roi_tuple

__all__ = ["ZMap", "load_zmap"]

LAYOUT = "HDF5 with dataset 'zernike' (ny, nx, n_modes), attr 'noll', and attr 'patch_size_px' or datasets 'y_px'/'x_px'"


@dataclass(frozen=True, eq=False)
class ZMap:
    """A loaded aberration map; coefficients in nm RMS, centres in pixel units."""

    path: str
    noll: tuple[int, ...]
    centres_y_px: np.ndarray
    centres_x_px: np.ndarray
    coeffs_nm: np.ndarray  # (ny, nx, m) float64
    content_hash: str = ""  # sha256 of the file bytes (hex)
    description: str = ""

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


def _read_coeffs(p: str, f):
    import h5py

    if "zernike" not in f:
        raise InputFileError(
            p, f"no dataset 'zernike' (top-level names: {sorted(f.keys())})", "dataset 'zernike' with shape (ny, nx, n_modes)"
        )
    ds = f["zernike"]
    if not isinstance(ds, h5py.Dataset):
        raise InputFileError(p, "'zernike' is a group", "dataset 'zernike' with shape (ny, nx, n_modes)")
    try:
        return ds, np.asarray(ds[()], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(p, f"dataset 'zernike' of dtype {ds.dtype}", "a numeric dataset 'zernike'") from None


def _read_noll(p: str, ds, f) -> tuple[int, ...]:
    raw = _attr(ds, f, "noll")
    if raw is None:
        raise InputFileError(p, "no attr 'noll'", "attr 'noll' listing the Noll index of each mode")
    arr = np.atleast_1d(np.asarray(raw))
    integral = arr.dtype.kind in "iu" or (arr.dtype.kind == "f" and np.all(np.isfinite(arr) & (arr == np.round(arr))))
    if arr.ndim != 1 or arr.size == 0 or not integral:
        raise InputFileError(p, f"attr 'noll' = {_describe(raw)}", "attr 'noll' a 1-D list of integers >= 1")
    noll = tuple(int(v) for v in arr)
    if min(noll) < 1:
        raise InputFileError(p, f"attr 'noll' = {list(noll)}", "Noll indices >= 1")
    if len(set(noll)) != len(noll):
        raise InputFileError(p, f"attr 'noll' = {list(noll)} with repeated indices", "unique Noll indices")
    return noll


def _check_coeffs(p: str, coeffs: np.ndarray, noll: tuple[int, ...]) -> None:
    if coeffs.ndim != 3 or coeffs.shape[2] != len(noll) or coeffs.shape[0] < 1 or coeffs.shape[1] < 1:
        raise InputFileError(
            p,
            f"dataset 'zernike' with shape {coeffs.shape} and attr 'noll' of length {len(noll)}",
            f"shape (ny, nx, n_modes) with n_modes = len(attr 'noll') = {len(noll)}",
        )
    bad = ~np.isfinite(coeffs)
    if bad.any():
        iy, ix, im = np.argwhere(bad)[0]
        raise InputFileError(
            p,
            f"{int(bad.sum())} non-finite value(s) in dataset 'zernike' (first at [{iy}, {ix}, {im}] = {coeffs[iy, ix, im]})",
            "finite coefficients",
        )


def _nm_per_unit(p: str, ds, f) -> float:
    """1 for coefficients in nm, the wavelength for coefficients in waves."""
    raw = _attr(ds, f, "units")
    units = "nm" if raw is None else _as_str(raw).strip().lower()
    if units == "nm":
        return 1.0
    if units not in ("waves", "wave", "lambda"):
        raise InputFileError(p, f"attr 'units' = {_as_str(raw)!r}", "attr 'units' 'nm' or 'waves'")
    wl_raw = _attr(ds, f, "wavelength_nm")
    if wl_raw is None:
        raise InputFileError(p, "attr 'units' = 'waves' without attr 'wavelength_nm'", "attr 'wavelength_nm' (> 0) when units are 'waves'")
    try:
        wl = float(np.asarray(wl_raw).reshape(-1)[0]) if np.asarray(wl_raw).size == 1 else float("nan")
    except (TypeError, ValueError):
        wl = float("nan")
    if not (np.isfinite(wl) and wl > 0):
        raise InputFileError(p, f"attr 'wavelength_nm' = {_describe(wl_raw)}", "attr 'wavelength_nm' a number > 0")
    return wl


def _read_centres(p, f, name: str, n: int) -> np.ndarray:
    import h5py

    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise InputFileError(p, f"'{name}' is a group", f"dataset '{name}' of shape ({n},)")
    try:
        c = np.asarray(obj[()], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(p, f"dataset '{name}' of dtype {obj.dtype}", f"numeric dataset '{name}'") from None
    if c.ndim != 1 or c.shape[0] != n:
        raise InputFileError(p, f"dataset '{name}' with shape {c.shape}", f"shape ({n},) matching dataset 'zernike'")
    if not np.all(np.isfinite(c)):
        raise InputFileError(p, f"non-finite values in dataset '{name}'", f"finite patch centres in '{name}'")
    if n > 1 and not np.all(np.diff(c) > 0):
        raise InputFileError(
            p, f"dataset '{name}' = {_describe(c)}, not strictly increasing", f"strictly increasing centres in '{name}'"
        )
    return c


def _tiled_centres(p: str, raw, ny: int, nx: int, roi_shape) -> tuple[np.ndarray, np.ndarray]:
    """Centres of patches of ``patch_size_px`` tiling the ROI from pixel 0 (checked against it when given)."""
    try:
        ps = np.asarray(raw, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputFileError(p, f"attr 'patch_size_px' = {_describe(raw)}", "attr 'patch_size_px' a number > 0 or [py, px]") from None
    if ps.size == 1:
        ps = np.array([ps[0], ps[0]])
    if ps.size != 2 or not np.all(np.isfinite(ps) & (ps > 0)):
        raise InputFileError(p, f"attr 'patch_size_px' = {_describe(raw)}", "attr 'patch_size_px' a number > 0 or [py, px]")
    if roi_shape is not None:
        ry, rx = roi_tuple(roi_shape)
        want = (math.ceil(ry / ps[0] - 1e-9), math.ceil(rx / ps[1] - 1e-9))
        if (ny, nx) != want:
            raise InputFileError(
                p,
                f"a {ny}x{nx} grid of patches of {_describe(raw)} px (covering {ny * ps[0]:g}x{nx * ps[1]:g} px)",
                f"patches tiling the {ry}x{rx} px ROI, i.e. a {want[0]}x{want[1]} grid",
            )
    return (np.arange(ny) + 0.5) * ps[0], (np.arange(nx) + 0.5) * ps[1]


def _centres(p: str, ds, f, ny: int, nx: int, roi_shape) -> tuple[np.ndarray, np.ndarray]:
    has_y, has_x = "y_px" in f, "x_px" in f
    if has_y or has_x:
        if not (has_y and has_x):
            missing = "x_px" if has_y else "y_px"
            raise InputFileError(p, f"only one of datasets 'y_px'/'x_px' (no '{missing}')", "both datasets 'y_px' (ny,) and 'x_px' (nx,)")
        return _read_centres(p, f, "y_px", ny), _read_centres(p, f, "x_px", nx)
    raw = _attr(ds, f, "patch_size_px")
    if raw is None:
        raise InputFileError(p, "neither attr 'patch_size_px' nor datasets 'y_px'/'x_px'",
                             "patch centres from attr 'patch_size_px' or datasets 'y_px' and 'x_px'")
    return _tiled_centres(p, raw, ny, nx, roi_shape)


def load_zmap(path, roi_shape=None) -> ZMap:
    """Read and validate a zmap file (design §5). Raises InputFileError on any problem.

    ``roi_shape`` (int or (Y, X)), when given with ``patch_size_px``, is checked against the
    tiling: the patches must tile the ROI (ny == ceil(Y / patch_y), same for x).
    """
    import h5py

    p = str(path)
    data = read_all(p, "an HDF5 zmap file (" + LAYOUT + ")")
    try:
        f = h5py.File(io.BytesIO(data), "r")
    except Exception:
        raise InputFileError(p, "a file that is not HDF5", "an HDF5 zmap file (" + LAYOUT + ")") from None
    with f:
        ds, coeffs = _read_coeffs(p, f)
        noll = _read_noll(p, ds, f)
        _check_coeffs(p, coeffs, noll)
        coeffs = coeffs * _nm_per_unit(p, ds, f)
        cy, cx = _centres(p, ds, f, coeffs.shape[0], coeffs.shape[1], roi_shape)
        desc = _attr(ds, f, "description")
    for a in (coeffs, cy, cx):
        a.setflags(write=False)
    return ZMap(path=p, noll=noll, centres_y_px=cy, centres_x_px=cx, coeffs_nm=coeffs,
                content_hash=hashlib.sha256(data).hexdigest(), description="" if desc is None else _as_str(desc))
