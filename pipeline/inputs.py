"""Readers for user input files other than the zmap: sCMOS camera maps, emitter positions.

Every problem raises ``InputFileError(path, found, expected)`` (one line, no traceback).

Camera maps (``camera.maps_path``)
    HDF5 with datasets ``offset`` (ADU), ``gain`` (ADU per electron), ``variance`` (ADU^2,
    read noise variance), each (Y, X); or a TIFF with 3 pages/planes in that order.
Positions (``emitters.positions_file``)
    CSV with a header naming ``x_nm``, ``y_nm`` and optionally ``z_nm`` (ThunderSTORM's
    ``x [nm]``, ``y [nm]``, ``z [nm]`` are accepted too; other columns are ignored); or HDF5
    with a dataset ``positions`` (n, 2|3), or 1-D datasets ``x_nm``, ``y_nm`` (, ``z_nm``), or a
    table (compound dataset) ``emitters`` / ``positions`` with those fields.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipeline.errors import InputFileError

__all__ = ["load_camera_maps", "load_positions", "file_digest"]

_HDF5_SIG = b"\x89HDF\r\n\x1a\n"
_TIFF_SIGS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def file_digest(path) -> str:
    """sha256 (hex) of the file's bytes, streamed; computed once per file version in a process.

    A sweep's jobs usually share their input files: planning hashes each file once, not once
    per job.
    """
    p = str(path)
    try:
        st = os.stat(p)
    except OSError:
        return _digest(p, None, None)
    return _digest(p, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _digest(p: str, mtime_ns: int | None, size: int | None) -> str:
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        raise InputFileError(p, "no such file", "an existing input file") from None
    except IsADirectoryError:
        raise InputFileError(p, "a directory", "a file") from None
    except OSError as e:
        raise InputFileError(p, f"an unreadable file ({e.strerror or e})", "a readable file") from None
    return h.hexdigest()


def _head(p: str, expected: str) -> bytes:
    try:
        with open(p, "rb") as f:
            return f.read(8)
    except FileNotFoundError:
        raise InputFileError(p, "no such file", expected) from None
    except IsADirectoryError:
        raise InputFileError(p, "a directory", expected) from None
    except OSError as e:
        raise InputFileError(p, f"an unreadable file ({e.strerror or e})", expected) from None


def _is_hdf5(p: str, head: bytes) -> bool:
    if head.startswith(_HDF5_SIG):
        return True
    try:  # user block: the signature may sit at 512, 1024, ...
        import h5py

        return bool(h5py.is_hdf5(p))
    except Exception:
        return False


def roi_tuple(roi) -> tuple[int, int]:
    if isinstance(roi, (int, np.integer)):
        return int(roi), int(roi)
    t = tuple(int(v) for v in roi)
    if len(t) == 1:
        return t[0], t[0]
    if len(t) != 2:
        raise ValueError(f"expected an int or (height, width); got {roi!r}")
    return t


# --------------------------------------------------------------------------- camera maps

_MAP_NAMES = ("offset", "gain", "variance")
_MAP_KEYS = {"offset": "offset_adu", "gain": "gain_adu_per_e", "variance": "variance_adu2"}
_MAPS_EXPECTED = "HDF5 with datasets 'offset', 'gain', 'variance' (each Y x X) or a TIFF with 3 pages (offset, gain, variance)"


def load_camera_maps(path, roi_shape) -> dict[str, np.ndarray]:
    """Per-pixel sCMOS maps: {'offset_adu', 'gain_adu_per_e', 'variance_adu2'}, float32 (Y, X).

    Shapes must equal roi_shape; gain > 0, variance >= 0, all finite.
    """
    p = str(path)
    roi = roi_tuple(roi_shape)
    head = _head(p, _MAPS_EXPECTED)
    if _is_hdf5(p, head):
        planes = _maps_from_hdf5(p, roi)
    elif head[:4] in _TIFF_SIGS:
        planes = _maps_from_tiff(p, roi)
    else:
        raise InputFileError(p, "a file that is neither HDF5 nor TIFF", _MAPS_EXPECTED)

    out = {}
    for name, a in planes.items():
        bad = ~np.isfinite(a)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise InputFileError(p, f"{int(bad.sum())} non-finite value(s) in '{name}' (first at [{i}, {j}])", f"finite '{name}' values")
        if name == "gain" and not np.all(a > 0):
            i, j = np.argwhere(~(a > 0))[0]
            raise InputFileError(p, f"'gain' = {a[i, j]:g} at [{i}, {j}]", "'gain' > 0 ADU per electron everywhere")
        if name == "variance" and not np.all(a >= 0):
            i, j = np.argwhere(~(a >= 0))[0]
            raise InputFileError(p, f"'variance' = {a[i, j]:g} at [{i}, {j}]", "'variance' >= 0 ADU^2 everywhere")
        out[_MAP_KEYS[name]] = np.ascontiguousarray(a, dtype=np.float32)
    return out


def _check_plane(p, name, a, roi, where) -> np.ndarray:
    if a.dtype.kind not in "iuf":
        raise InputFileError(p, f"{where} of dtype {a.dtype}", f"numeric {where}")
    if a.shape != roi:
        raise InputFileError(p, f"{where} with shape {a.shape}", f"shape {roi} (the camera ROI)")
    return a.astype(np.float64)


def _maps_from_hdf5(p: str, roi) -> dict[str, np.ndarray]:
    import h5py

    try:
        f = h5py.File(p, "r")
    except Exception:
        raise InputFileError(p, "a file that is not a readable HDF5 file", _MAPS_EXPECTED) from None
    with f:
        planes = {}
        for name in _MAP_NAMES:
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise InputFileError(p, f"no dataset '{name}' (top-level names: {sorted(f.keys())})", _MAPS_EXPECTED)
            planes[name] = _check_plane(p, name, np.asarray(f[name][()]), roi, f"dataset '{name}'")
    return planes


def _maps_from_tiff(p: str, roi) -> dict[str, np.ndarray]:
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            pages = list(tf.pages)
            if len(pages) == 3 and all(len(pg.shape) == 2 for pg in pages):
                arr = np.stack([pg.asarray() for pg in pages])  # 3 separate pages
            else:
                arr = np.asarray(tf.series[0].asarray())
    except Exception as e:
        raise InputFileError(p, f"an unreadable TIFF ({type(e).__name__}: {e})", _MAPS_EXPECTED) from None
    arr = np.squeeze(arr) if arr.ndim > 3 else arr
    if arr.ndim == 3 and arr.shape[0] != 3 and arr.shape == (*roi, 3):
        arr = np.moveaxis(arr, -1, 0)  # 3 samples per pixel (contiguous planes)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise InputFileError(p, f"a TIFF with image data of shape {arr.shape}", f"3 pages (offset, gain, variance) of shape {roi}, i.e. (3, {roi[0]}, {roi[1]})")
    return {name: _check_plane(p, name, arr[k], roi, f"TIFF page {k} ('{name}')") for k, name in enumerate(_MAP_NAMES)}


# --------------------------------------------------------------------------- positions

_POS_EXPECTED = "CSV with header columns x_nm, y_nm (optional z_nm), or HDF5 with dataset 'positions' (n, 2|3) or datasets 'x_nm', 'y_nm' (, 'z_nm')"
_ALIASES = {
    "x_nm": ("x_nm", "x [nm]", "x(nm)", "x (nm)"),
    "y_nm": ("y_nm", "y [nm]", "y(nm)", "y (nm)"),
    "z_nm": ("z_nm", "z [nm]", "z(nm)", "z (nm)"),
}


def load_positions(path) -> np.ndarray:
    """Emitter positions as float64 (n, 2) [x_nm, y_nm] or (n, 3) [x_nm, y_nm, z_nm]."""
    p = str(path)
    head = _head(p, _POS_EXPECTED)
    if _is_hdf5(p, head):
        pos = _positions_from_hdf5(p)
    elif Path(p).suffix.lower() in (".h5", ".hdf5", ".hdf", ".he5"):
        raise InputFileError(p, "a file with an HDF5 extension that is not HDF5", _POS_EXPECTED)
    else:
        pos = _positions_from_csv(p)
    if pos.shape[0] == 0:
        raise InputFileError(p, "no positions (0 rows)", "at least one position")
    bad = ~np.isfinite(pos)
    if bad.any():
        i, k = np.argwhere(bad)[0]
        col = ("x_nm", "y_nm", "z_nm")[k]
        raise InputFileError(p, f"{int(bad.any(axis=1).sum())} row(s) with NaN/inf (first: row {i}, {col} = {pos[i, k]})", "finite positions")
    return pos


def _find_col(names: list[str], key: str):
    norm = [n.strip().strip('"').strip().lower() for n in names]
    for alias in _ALIASES[key]:
        if alias in norm:
            return norm.index(alias)
    return None


def _positions_from_csv(p: str) -> np.ndarray:
    try:
        text = Path(p).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFileError(p, "a binary file that is not CSV text nor HDF5", _POS_EXPECTED) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputFileError(p, "an empty file", _POS_EXPECTED)
    header_line = lines[0]
    delim = max((",", "\t", ";"), key=header_line.count)
    if header_line.count(delim) == 0:
        delim = ","
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim, skipinitialspace=True))
    header = rows[0]
    ix, iy, iz = (_find_col(header, k) for k in ("x_nm", "y_nm", "z_nm"))
    if ix is None or iy is None:
        missing = [k for k, i in (("x_nm", ix), ("y_nm", iy)) if i is None]
        raise InputFileError(p, f"CSV header {header} without column(s) {', '.join(missing)}", "header columns x_nm, y_nm (optional z_nm)")
    cols = [ix, iy] + ([iz] if iz is not None else [])
    body = rows[1:]
    if not body:
        raise InputFileError(p, "a CSV header with no data rows", "at least one position row")
    out = np.empty((len(body), len(cols)), dtype=np.float64)
    names = ["x_nm", "y_nm", "z_nm"]
    for r, row in enumerate(body):
        for k, c in enumerate(cols):
            if c >= len(row):
                raise InputFileError(p, f"data row {r + 1} with {len(row)} field(s)", f"{len(header)} fields as in the header")
            try:
                out[r, k] = float(row[c])
            except ValueError:
                raise InputFileError(p, f"{names[k]} = {row[c]!r} in data row {r + 1}", f"a number in column {names[k]}") from None
    return out


def _positions_from_hdf5(p: str) -> np.ndarray:
    import h5py

    try:
        f = h5py.File(p, "r")
    except Exception:
        raise InputFileError(p, "a file that is not a readable HDF5 file", _POS_EXPECTED) from None
    with f:
        for table in ("positions", "emitters"):
            if table in f and isinstance(f[table], h5py.Dataset) and f[table].dtype.names:
                ds = f[table]
                fields = ds.dtype.names
                fx, fy, fz = (_find_col(list(fields), k) for k in ("x_nm", "y_nm", "z_nm"))
                if fx is None or fy is None:
                    raise InputFileError(p, f"table '{table}' with fields {list(fields)}", "fields x_nm, y_nm (optional z_nm)")
                data = ds[()]
                use = [fields[fx], fields[fy]] + ([fields[fz]] if fz is not None else [])
                try:
                    return np.stack([np.asarray(data[u], dtype=np.float64).reshape(-1) for u in use], axis=1)
                except (TypeError, ValueError):
                    raise InputFileError(p, f"non-numeric fields in table '{table}'", "numeric x_nm, y_nm (, z_nm)") from None
        if "positions" in f:
            ds = f["positions"]
            if not isinstance(ds, h5py.Dataset):
                raise InputFileError(p, "'positions' is a group", "dataset 'positions' of shape (n, 2) or (n, 3)")
            if ds.dtype.kind not in "iuf":
                raise InputFileError(p, f"dataset 'positions' of dtype {ds.dtype}", "a numeric dataset 'positions'")
            a = np.asarray(ds[()], dtype=np.float64)
            if a.ndim != 2 or a.shape[1] not in (2, 3):
                raise InputFileError(p, f"dataset 'positions' with shape {a.shape}", "shape (n, 2) [x_nm, y_nm] or (n, 3) [x_nm, y_nm, z_nm]")
            return a
        if "x_nm" in f or "y_nm" in f:
            names = ["x_nm", "y_nm"] + (["z_nm"] if "z_nm" in f else [])
            cols = []
            for name in names:
                if name not in f or not isinstance(f[name], h5py.Dataset):
                    raise InputFileError(p, f"no dataset '{name}' (top-level names: {sorted(f.keys())})", "datasets 'x_nm', 'y_nm' (optional 'z_nm') of equal length")
                ds = f[name]
                if ds.dtype.kind not in "iuf":
                    raise InputFileError(p, f"dataset '{name}' of dtype {ds.dtype}", f"a numeric dataset '{name}'")
                a = np.asarray(ds[()], dtype=np.float64)
                if a.ndim != 1:
                    raise InputFileError(p, f"dataset '{name}' with shape {a.shape}", f"a 1-D dataset '{name}'")
                cols.append(a)
            lengths = {c.shape[0] for c in cols}
            if len(lengths) != 1:
                raise InputFileError(p, f"datasets {names} with lengths {[c.shape[0] for c in cols]}", "datasets of equal length")
            return np.stack(cols, axis=1)
        raise InputFileError(p, f"no dataset 'positions' nor 'x_nm'/'y_nm' (top-level names: {sorted(f.keys())})", _POS_EXPECTED)
