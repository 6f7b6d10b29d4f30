"""Spline PSF calibrations (``optics.psf_file``): SMAP ``*_3dcal.mat``, uiPSF ``.h5``, this project's HDF5.

Every reader converts to one layout, :mod:`kernels.spline`'s: coefficients ``(nz, ny, nx, 64)``
with index ``16 pz + 4 py + px``, z growing with the plane index (``z_first_nm + k dz``), y =
rows, x = columns, the emitter's position at node ``centre_px`` (pixels from node 0). The
conventions of each format, and the code they were read from, are in docs/physics.md §4.6:

* **SMAP** (``SXY.cspline``; MATLAB v7 via scipy.io, v7.3 via h5py): ``coeff`` is MATLAB
  ``(n1, n2, nz, 64)``, axis 1 = image rows (y), axis 2 = columns (x); coefficient index
  ``16 pz + 4 p2 + p1`` (the digit of axis 1 varies fastest); spline z index ``z0 - z / dz``
  (SMAP reports ``z = -(index - z0) dz``; ``z0`` is used as stored, as SMAP's fitter and DECODE
  do); lateral centre ``x0 - 1`` (as DECODE), or ``n // 2`` when ``x0`` is absent (where SMAP's
  fitter puts it). An array of SXY with ``Xrange``/``Yrange`` is a spatially varying calibration.
* **uiPSF** (``res/I_model``, ``(z, y, x)`` pixel values; root attr ``params``, JSON, with
  ``pixel_size.x/y/z`` in um): plane k at ``z = (k - (Nz - 1)/2) pixel_size.z``, lateral centre
  ``(L - 1)/2``; the voxel model is offset-subtracted (its minimum) and splined here.
* **this project** (attr ``format`` = :data:`FORMAT`): see :func:`write_spline_h5`.

Every refusal is ``InputFileError(path, found, expected)``: one line.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from kernels.spline import N_COEFFS, RegionalSplinePSF, SplinePSF, coefficients_from_nodes, flip_axis

from ..errors import InputFileError
from .files import HDF5_SIGNATURE, TIFF_SIGNATURES, is_hdf5, read_head

__all__ = ["FORMAT", "SplineCalibration", "SplinePart", "load_spline", "read_bead_stack", "write_smap_mat",
           "write_spline_h5", "smap_coefficients", "EXPECTED"]

FORMAT = "smlm-sweep spline psf"
VERSION = 1
INDEX_ORDER = "16*pz+4*py+px"
EXPECTED = ("a spline PSF calibration: this project's HDF5 (attr format = 'smlm-sweep spline psf'), a SMAP "
            "*_3dcal.mat (v7 or v7.3, variable SXY with cspline.coeff, dz, z0) or a uiPSF .h5 (res/I_model, attr params)")
_MAT5 = b"MATLAB 5.0 MAT-file"
_MAT73 = b"MATLAB 7.3 MAT-file"


@dataclass(frozen=True, eq=False)
class SplinePart:
    """One calibrated field region (a whole-field calibration has one, with infinite ranges)."""

    coeffs: np.ndarray  # (nz, ny, nx, 64) float32, our layout
    dz_nm: float
    z_first_nm: float
    centre_px: tuple[float, float]  # (y, x) of the emitter, pixels from node 0
    oversample: int = 1
    x_range_px: tuple[float, float] = (-math.inf, math.inf)
    y_range_px: tuple[float, float] = (-math.inf, math.inf)

    @property
    def z_range_nm(self) -> tuple[float, float]:
        return self.z_first_nm, self.z_first_nm + self.coeffs.shape[0] * self.dz_nm

    @property
    def window_px(self) -> tuple[int, int]:
        """Pixels the calibration covers along (y, x)."""
        return (self.coeffs.shape[1] // self.oversample, self.coeffs.shape[2] // self.oversample)

    def model(self, radius_px: int, clamp_z: bool = False, pixel_size_nm: float = 100.0) -> SplinePSF:
        k = self.oversample
        return SplinePSF(self.coeffs, self.dz_nm, self.z_first_nm, (k * self.centre_px[0], k * self.centre_px[1]),
                         pixel_size_nm, int(radius_px), bool(clamp_z), k)


@dataclass(frozen=True, eq=False)
class SplineCalibration:
    """A calibration file read into our layout."""

    path: str
    format: str
    parts: tuple[SplinePart, ...]
    pixel_size_nm: float | None = None  # None: the file does not say (assumed = optics.pixel_size_nm)
    description: str = ""
    em_on: bool | None = None
    nodes: np.ndarray | None = None

    @property
    def z_range_nm(self) -> tuple[float, float]:
        """The z range every region covers."""
        return max(p.z_range_nm[0] for p in self.parts), min(p.z_range_nm[1] for p in self.parts)

    @property
    def nbytes(self) -> int:
        return sum(p.coeffs.nbytes for p in self.parts)

    def model(self, radius_px: int, clamp_z: bool = False, pixel_size_nm: float | None = None):
        """The renderer: a :class:`SplinePSF`, or a :class:`RegionalSplinePSF` for several regions."""
        px = pixel_size_nm or self.pixel_size_nm or 100.0
        models = tuple(p.model(radius_px, clamp_z, px) for p in self.parts)
        if len(models) == 1:
            return models[0]
        return RegionalSplinePSF(tuple((*p.x_range_px, *p.y_range_px) for p in self.parts), models)


# ----------------------------------------------------------------------------------------- reading
def load_spline(path) -> SplineCalibration:
    """Read and validate a calibration (cached per file version in a process). Raises InputFileError."""
    p = str(path)
    try:
        st = os.stat(p)
        version = (st.st_mtime_ns, st.st_size)
    except OSError:
        version = (None, None)
    return _load_cached(p, *version)


@lru_cache(maxsize=4)
def _load_cached(p: str, mtime_ns, size) -> SplineCalibration:
    head = read_head(p, EXPECTED, 600)
    if head.startswith(tuple(TIFF_SIGNATURES)):
        raise InputFileError(p, "a TIFF image (a bead stack?)",
                             "a spline calibration; make one from a bead stack with "
                             "`python -m pipeline psf spline STACK.tif --dz-nm DZ --pixel-size-nm P --out FILE.h5`")
    if head.startswith(_MAT5) and not head.startswith(_MAT73):
        return _read_mat_v7(p)
    if head.startswith(HDF5_SIGNATURE) or is_hdf5(p, head[:8]):
        return _read_hdf5(p, head)
    found = "a MATLAB file of an unknown version" if head.startswith(b"MATLAB") else "a file that is neither HDF5 nor MATLAB"
    raise InputFileError(p, found, EXPECTED)


def _read_hdf5(p: str, head: bytes) -> SplineCalibration:
    import h5py

    try:
        f = h5py.File(p, "r")
    except Exception:
        raise InputFileError(p, "an unreadable HDF5 file", EXPECTED) from None
    with f:
        fmt = _text(f.attrs.get("format", ""))
        if fmt == FORMAT:
            return _read_ours(p, f)
        if head.startswith(_MAT73) or "SXY" in f or "cspline" in f:
            root = {k: _m73(f[k], f) for k in f if k not in ("#refs#", "#subsystem#")}
            return _from_smap(p, root, "SMAP _3dcal.mat (MATLAB v7.3)")
        if "res" in f and "params" in f.attrs:
            return _read_uipsf(p, f)
        if fmt:
            raise InputFileError(p, f"an HDF5 file with attr format = {fmt!r}", EXPECTED)
        raise InputFileError(p, f"an HDF5 file with top-level names {sorted(f.keys())}", EXPECTED)


def _text(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "SUO" and v.size == 1:
            return _text(v.reshape(-1)[0])
        if v.dtype.kind in "iu":  # MATLAB char: uint16 code units
            return "".join(chr(int(c)) for c in v.reshape(-1))
    return str(v) if v is not None else ""


def _m73(obj, f):
    """A MATLAB v7.3 value (h5py object) as numpy arrays, dicts (structs) and lists (cells, struct arrays)."""
    import h5py

    cls = _text(obj.attrs.get("MATLAB_class", b""))
    if isinstance(obj, h5py.Group):
        fields = {k: obj[k] for k in obj}
        # a struct array: every field is an array of references without a MATLAB class
        if fields and all(isinstance(v, h5py.Dataset) and v.dtype == h5py.ref_dtype and "MATLAB_class" not in v.attrs
                          for v in fields.values()):
            shapes = {v.shape for v in fields.values()}
            shape = shapes.pop() if len(shapes) == 1 else None
            if shape is None:
                raise ValueError("struct array fields of different shapes")
            out = np.empty(shape[::-1], dtype=object)  # MATLAB order
            for index in np.ndindex(*shape[::-1]):
                out[index] = {k: _m73(f[v[index[::-1]]], f) for k, v in fields.items()}
            return out
        return {k: _m73(v, f) for k, v in fields.items()}
    if obj.attrs.get("MATLAB_empty", 0):
        return np.zeros((0,))
    data = obj[()]
    if obj.dtype == h5py.ref_dtype:  # a cell array
        arr = np.asarray(data)
        out = np.empty(arr.shape[::-1], dtype=object)
        for index in np.ndindex(*arr.shape):
            out[index[::-1]] = _m73(f[arr[index]], f)
        return out
    if cls == "char":
        return _text(np.asarray(data))
    arr = np.asarray(data)
    return arr.T if arr.ndim > 1 else arr  # MATLAB is column-major: HDF5 holds the transpose


def _read_mat_v7(p: str) -> SplineCalibration:
    import scipy.io

    try:
        mat = scipy.io.loadmat(p, struct_as_record=False, squeeze_me=True)
    except Exception as e:
        raise InputFileError(p, f"an unreadable MATLAB file ({type(e).__name__}: {e})", EXPECTED) from None
    return _from_smap(p, {k: v for k, v in mat.items() if not k.startswith("__")}, "SMAP _3dcal.mat (MATLAB v7)")


def _get(obj, name):
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _scalar(p: str, value, what: str) -> float:
    try:
        a = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        a = np.zeros(0)
    if a.size != 1 or not np.isfinite(a[0]):
        raise InputFileError(p, f"{what} = {_describe(value)}", f"{what} a finite number")
    return float(a[0])


def _describe(v) -> str:
    a = np.asarray(v) if not isinstance(v, (dict, str)) else None
    if a is None:
        return "a struct" if isinstance(v, dict) else repr(v)
    if a.dtype == object:
        return f"a cell/struct array of shape {a.shape}"
    if a.ndim == 0 or a.size == 1:
        return repr(a.reshape(-1)[0].item()) if a.size else "[]"
    return f"an array of shape {a.shape}"


def _range(p: str, value, what: str) -> tuple[float, float]:
    if value is None:
        return -math.inf, math.inf
    a = np.asarray(value, dtype=np.float64).reshape(-1)
    if a.size != 2 or np.isnan(a).any() or not a[0] < a[1]:
        raise InputFileError(p, f"{what} = {_describe(value)}", f"{what} = [lo hi] pixels with lo < hi")
    return float(a[0]), float(a[1])


def _smap_entries(p: str, root: dict) -> list[tuple[object, tuple[int, ...]]]:
    if "SXY" in root:
        sxy = root["SXY"]
        if isinstance(sxy, np.ndarray) and sxy.dtype == object:
            return [(sxy[i], i) for i in np.ndindex(*sxy.shape)]
        return [(sxy, ())]
    if "cspline" in root:  # the older flat layout: cspline at the top level
        return [({"cspline": root["cspline"]}, ())]
    raise InputFileError(p, f"a MATLAB file with variables {sorted(root)}", "variable SXY (a SMAP 3D calibration) with field cspline")


def smap_coefficients(coeff: np.ndarray) -> np.ndarray:
    """SMAP's MATLAB ``(n1 = y, n2 = x, nz, 64)``, index ``16 pz + 4 p2 + p1`` -> our ``(nz, ny, nx, 64)``
    index ``16 pz + 4 py + px``, in SMAP's z order (flip it for ours)."""
    c = np.asarray(coeff, dtype=np.float64)
    n1, n2, nz, _ = c.shape
    c = c.transpose(2, 0, 1, 3).reshape(nz, n1, n2, 4, 4, 4)  # (.., pz, p2 = px, p1 = py)
    return np.ascontiguousarray(c.transpose(0, 1, 2, 3, 5, 4)).reshape(nz, n1, n2, N_COEFFS)


def _from_smap(p: str, root: dict, fmt: str) -> SplineCalibration:
    parts, em = [], None
    entries = _smap_entries(p, root)
    for entry, index in entries:
        where = "SXY" + (f"({', '.join(str(i + 1) for i in index)})" if index else "")
        cspline = _get(entry, "cspline")
        if cspline is None:
            raise InputFileError(p, f"{where} without field cspline (a calibration without a spline?)",
                                 "SXY.cspline with coeff, dz, z0 (a SMAP cspline calibration)")
        coeff = _get(cspline, "coeff")
        if isinstance(coeff, (list, tuple)) or (isinstance(coeff, np.ndarray) and coeff.dtype == object):
            cells = [c for c in np.asarray(coeff, dtype=object).reshape(-1)]
            coeff = cells[0] if cells else None  # a cell: channel 1 (global fits hold one per channel)
        if coeff is None:
            raise InputFileError(p, f"{where}.cspline without coeff", f"{where}.cspline.coeff of shape (n1, n2, nz, 64)")
        try:
            c = np.asarray(coeff, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputFileError(p, f"{where}.cspline.coeff of type {type(coeff).__name__}", "a numeric array") from None
        if c.ndim != 4 or c.shape[3] != N_COEFFS or min(c.shape[:3]) < 1:
            raise InputFileError(p, f"{where}.cspline.coeff of shape {c.shape}", "shape (n1, n2, nz, 64)")
        if not np.isfinite(c).all():
            raise InputFileError(p, f"non-finite values in {where}.cspline.coeff", "finite coefficients")
        dz = _scalar(p, _get(cspline, "dz"), f"{where}.cspline.dz")
        if not dz > 0:
            raise InputFileError(p, f"{where}.cspline.dz = {dz:g}", "dz > 0 (nm)")
        z0 = _scalar(p, _get(cspline, "z0"), f"{where}.cspline.z0")
        n1, n2, nz, _ = c.shape
        x0 = _get(cspline, "x0")
        if x0 is not None and np.asarray(x0).size:
            cy = cx = _scalar(p, x0, f"{where}.cspline.x0") - 1.0
        else:
            cy, cx = float(n1 // 2), float(n2 // 2)
        ours = flip_axis(smap_coefficients(c), "z")  # SMAP's index grows as z falls
        parts.append(SplinePart(ours.astype(np.float32), dz, (z0 - nz) * dz, (cy, cx), 1,
                                _range(p, _get(entry, "Xrange"), f"{where}.Xrange"),
                                _range(p, _get(entry, "Yrange"), f"{where}.Yrange")))
        em_on = _get(entry, "EMon")
        if em_on is not None and np.asarray(em_on).size:
            em = bool(np.asarray(em_on).reshape(-1)[0])
    info = root.get("smlm_sweep")
    px = _get(info, "pixel_size_nm") if info is not None else None
    desc = _text(_get(info, "description")) if info is not None and _get(info, "description") is not None else ""
    cal = SplineCalibration(p, fmt, tuple(parts), _scalar(p, px, "smlm_sweep.pixel_size_nm") if px is not None else None,
                            desc, em)
    _check(cal)
    return cal


def _read_uipsf(p: str, f) -> SplineCalibration:
    import h5py

    try:
        params = json.loads(_text(f.attrs["params"]))
        size = params["pixel_size"]
        px_um, py_um, pz_um = (float(size[k]) for k in ("x", "y", "z"))
    except (ValueError, KeyError, TypeError):
        raise InputFileError(p, "a uiPSF file whose attr params has no pixel_size {x, y, z}",
                             "attr params (JSON) with pixel_size.x, .y, .z in um") from None
    res = f["res"]
    if "I_model" not in res:
        found = "a multi-channel uiPSF result (res/channel0/...)" if "channel0" in res else f"res without I_model (names: {sorted(res.keys())})"
        raise InputFileError(p, found, "a single-channel uiPSF result with res/I_model (z, y, x)")
    ds = res["I_model"]
    if not isinstance(ds, h5py.Dataset):
        raise InputFileError(p, "res/I_model is a group", "dataset res/I_model (z, y, x)")
    model = np.asarray(ds[()], dtype=np.float64)
    if model.ndim != 3 or min(model.shape) < 2 or not np.isfinite(model).all():
        raise InputFileError(p, f"res/I_model of shape {model.shape}" + ("" if np.isfinite(model).all() else " with non-finite values"),
                             "a finite (z, y, x) volume with at least 2 planes and pixels per axis")
    if not (px_um > 0 and pz_um > 0) or abs(px_um - py_um) > 1e-6 * px_um:
        raise InputFileError(p, f"pixel_size x = {px_um:g}, y = {py_um:g}, z = {pz_um:g} um", "square pixels and z > 0")
    nodes = model - model.min()  # uiPSF's own conversion subtracts the model's offset
    sums = nodes.sum(axis=(1, 2))
    if np.any(sums <= 0):
        raise InputFileError(p, f"res/I_model plane {int(np.argmax(sums <= 0))} without signal", "a PSF in every plane")
    nodes = np.pad(nodes / sums[:, None, None], ((0, 0), (0, 1), (0, 1)))  # zero beyond the window
    nz, ly, lx = model.shape
    dz = pz_um * 1000.0
    part = SplinePart(coefficients_from_nodes(nodes, "fourier", 1).astype(np.float32), dz, -(nz - 1) / 2 * dz,
                      ((ly - 1) / 2, (lx - 1) / 2), 1)
    cal = SplineCalibration(p, "uiPSF (res/I_model)", (part,), px_um * 1000.0, "", None, nodes)
    _check(cal)
    return cal


def _attr_number(p: str, f, name: str, default=None) -> float:
    if name not in f.attrs:
        if default is not None:
            return default
        raise InputFileError(p, f"no attr '{name}'", f"attr '{name}' (this project's layout, docs/physics.md §4.6)")
    return _scalar(p, f.attrs[name], f"attr '{name}'")


def _read_ours(p: str, f) -> SplineCalibration:
    import h5py

    version = _attr_number(p, f, "version")
    if version != VERSION:
        raise InputFileError(p, f"attr version = {version:g}", f"version {VERSION}")
    order = _text(f.attrs.get("index_order", INDEX_ORDER))
    if order != INDEX_ORDER:
        raise InputFileError(p, f"attr index_order = {order!r}", f"index_order {INDEX_ORDER!r}")
    px = _attr_number(p, f, "pixel_size_nm")
    dz = _attr_number(p, f, "dz_nm")
    z_first = _attr_number(p, f, "z_first_nm")
    k = _attr_number(p, f, "oversample", 1.0)
    if not (px > 0 and dz > 0 and k == int(k) and 1 <= k <= 8):
        raise InputFileError(p, f"pixel_size_nm = {px:g}, dz_nm = {dz:g}, oversample = {k:g}",
                             "pixel_size_nm > 0, dz_nm > 0, oversample an integer 1..8")
    k = int(k)
    centre = np.asarray(f.attrs.get("centre_px", []), dtype=np.float64).reshape(-1)
    if centre.size != 2 or not np.isfinite(centre).all():
        raise InputFileError(p, f"attr centre_px = {_describe(f.attrs.get('centre_px'))}", "attr centre_px = [y, x] pixels")
    nodes = None
    if "nodes" in f:
        nodes = np.asarray(f["nodes"][()], dtype=np.float64)
        if nodes.ndim != 3 or min(nodes.shape) < 2 or not np.isfinite(nodes).all():
            raise InputFileError(p, f"dataset 'nodes' of shape {nodes.shape}", "finite nodes (nz + 1, ny + 1, nx + 1)")
    if "coeffs" in f:
        ds = f["coeffs"]
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 4 or ds.shape[3] != N_COEFFS or min(ds.shape[:3]) < 1:
            raise InputFileError(p, f"dataset 'coeffs' of shape {getattr(ds, 'shape', None)}", "shape (nz, ny, nx, 64)")
        coeffs = np.asarray(ds[()], dtype=np.float32)
        if not np.isfinite(coeffs).all():
            raise InputFileError(p, "non-finite values in dataset 'coeffs'", "finite coefficients")
    elif nodes is not None:
        coeffs = coefficients_from_nodes(nodes, "fourier", k).astype(np.float32)
    else:
        raise InputFileError(p, f"neither dataset 'coeffs' nor 'nodes' (names: {sorted(f.keys())})",
                             "dataset 'coeffs' (nz, ny, nx, 64) or 'nodes' (nz + 1, ny + 1, nx + 1)")
    if coeffs.shape[1] % k or coeffs.shape[2] % k:
        raise InputFileError(p, f"dataset 'coeffs' of shape {coeffs.shape} with oversample {k}", "lateral voxels a multiple of oversample")
    cal = SplineCalibration(p, "smlm-sweep HDF5", (SplinePart(coeffs, dz, z_first, (float(centre[0]), float(centre[1])), k),),
                            px, _text(f.attrs.get("description", "")), None, nodes)
    _check(cal)
    return cal


def _check(cal: SplineCalibration) -> None:
    """The window holds the centre and every z has light (S(z) > 0 at node planes and midway)."""
    for i, part in enumerate(cal.parts):
        where = f" (region {i + 1})" if len(cal.parts) > 1 else ""
        ny, nx = part.window_px
        cy, cx = part.centre_px
        if not (0 <= cy < ny and 0 <= cx < nx):
            raise InputFileError(cal.path, f"a centre at (y, x) = ({cy:g}, {cx:g}) px outside the {ny}x{nx} px window{where}",
                                 "the emitter's position inside the calibrated window")
        # S(z) at every node plane and midway (kernels.spline.SplinePSF.plane_sum, without its table)
        k = part.oversample
        oy, ox = (int(math.floor(k * c)) % k for c in part.centre_px)
        poly = part.coeffs[:, oy::k, ox::k][..., [0, 16, 32, 48]].astype(np.float64).sum(axis=(1, 2))  # (nz, 4)
        nz = part.coeffs.shape[0]
        w = np.array([0.0, 0.5, 1.0])
        sums = (poly @ (w[None, :] ** np.arange(4)[:, None])).reshape(-1)  # (nz * 3): z voxel-major
        zs = part.z_first_nm + (np.arange(nz)[:, None] + w[None, :]).reshape(-1) * part.dz_nm
        if not np.all(sums > 0):
            bad = zs[np.argmax(~(sums > 0))]
            raise InputFileError(cal.path, f"no light in the window at z = {bad:g} nm{where} (plane sum {sums.min():.3g})",
                                 "a PSF with positive total in every plane")


# ----------------------------------------------------------------------------------------- writing
def write_spline_h5(path, part: SplinePart, pixel_size_nm: float, description: str = "", nodes=None,
                    compact: bool = False) -> Path:
    """This project's layout (HDF5, written atomically). Root attributes:

    ``format`` = :data:`FORMAT`, ``version`` = 1, ``index_order`` = ``"16*pz+4*py+px"``,
    ``pixel_size_nm`` (the camera pixel the calibration is for), ``oversample`` (lateral voxels
    per pixel), ``dz_nm``, ``z_first_nm`` (z of node plane 0, z growing with the plane),
    ``centre_px`` = [y, x] (the emitter's position, pixels from node 0), ``description``.
    Datasets: ``coeffs`` (nz, ny, nx, 64) float32 - the spline: in voxel (k, i, j)
    ``f = sum_p c_p w^pz v^py u^px`` with (w, v, u) the fractions along z, y, x; optionally
    ``nodes`` (nz + 1, ny/k + 1, nx/k + 1), one value per pixel. ``compact`` stores ``nodes`` only:
    a reader then rebuilds ``coeffs`` by this project's rule (band-limited laterally,
    not-a-knot along z; ``kernels.spline.coefficients_from_nodes``).
    """
    import h5py

    from ..atomic import Staged

    path = Path(path)
    if compact and nodes is None:
        raise ValueError("compact needs the nodes")
    with Staged(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(format=FORMAT, version=VERSION, index_order=INDEX_ORDER, pixel_size_nm=float(pixel_size_nm),
                           oversample=int(part.oversample), dz_nm=float(part.dz_nm), z_first_nm=float(part.z_first_nm),
                           centre_px=np.asarray(part.centre_px, dtype=np.float64), description=str(description))
            if not compact:
                f.create_dataset("coeffs", data=np.asarray(part.coeffs, dtype=np.float32), compression="gzip",
                                 shuffle=True, chunks=(1, *part.coeffs.shape[1:]))
            if nodes is not None:
                f.create_dataset("nodes", data=np.asarray(nodes, dtype=np.float32 if compact else np.float64),
                                 compression="gzip", shuffle=True)
    return path


def write_smap_mat(path, part: SplinePart, pixel_size_nm: float, description: str = "") -> Path:
    """A SMAP-compatible ``_3dcal.mat`` (MATLAB v7, compressed) that SMAP and DECODE read.

    ``SXY`` = struct(cspline = struct(coeff single (ny, nx, nz, 64), dz, z0, x0), Xrange, Yrange,
    EMon = false); plus a variable ``smlm_sweep`` (pixel_size_nm, description) that other readers
    ignore. Needs one lateral voxel per pixel and the same centre along y and x (SMAP has one x0).
    """
    import scipy.io

    from ..atomic import Staged

    if part.oversample != 1:
        raise ValueError("a SMAP calibration has one voxel per pixel (oversample = 1)")
    if part.centre_px[0] != part.centre_px[1]:
        raise ValueError("a SMAP calibration has one lateral centre x0 for y and x")
    c = flip_axis(part.coeffs, "z")  # SMAP's index grows as z falls
    nz, ny, nx, _ = c.shape
    c = c.reshape(nz, ny, nx, 4, 4, 4).transpose(0, 1, 2, 3, 5, 4).reshape(nz, ny, nx, N_COEFFS)  # digits -> 16pz+4px+py
    coeff = np.asfortranarray(c.transpose(1, 2, 0, 3), dtype=np.float32)  # MATLAB (n1 = y, n2 = x, nz, 64)
    z0 = nz + part.z_first_nm / part.dz_nm
    sxy = {"cspline": {"coeff": coeff, "dz": float(part.dz_nm), "z0": float(z0), "x0": float(part.centre_px[1] + 1.0)},
           "Xrange": np.array([-np.inf, np.inf]), "Yrange": np.array([-np.inf, np.inf]), "EMon": False}
    info = {"pixel_size_nm": float(pixel_size_nm), "description": str(description)}
    path = Path(path)
    with Staged(path) as tmp:
        with open(tmp, "wb") as f:
            scipy.io.savemat(f, {"SXY": sxy, "smlm_sweep": info}, format="5", do_compression=True, oned_as="row")
    return path


# ------------------------------------------------------------------------------------ bead stacks
_STACK_EXPECTED = "a TIFF z-stack (planes in order of increasing z, one or several beads)"


def read_bead_stack(path) -> np.ndarray:
    """A bead z-stack TIFF as float64 (nz, H, W)."""
    import tifffile

    p = str(path)
    head = read_head(p, _STACK_EXPECTED)
    if not head.startswith(tuple(TIFF_SIGNATURES)):
        raise InputFileError(p, "a file that is not a TIFF", _STACK_EXPECTED)
    try:
        arr = np.asarray(tifffile.imread(p))
    except Exception as e:
        raise InputFileError(p, f"an unreadable TIFF ({type(e).__name__}: {e})", _STACK_EXPECTED) from None
    arr = np.squeeze(arr)
    if arr.ndim != 3 or arr.shape[0] < 2:
        raise InputFileError(p, f"image data of shape {arr.shape}", "a z-stack (planes, height, width) with at least 2 planes")
    if arr.dtype.kind not in "iuf":
        raise InputFileError(p, f"pixels of type {arr.dtype}", "integer or real pixel values")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise InputFileError(p, "non-finite pixel values", "finite pixel values")
    return arr
