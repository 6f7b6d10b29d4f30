"""Emitter positions (``emitters.positions_file``): the emitters are exactly the file's rows.

CSV with a header naming ``x_nm``, ``y_nm`` and optionally ``z_nm`` (ThunderSTORM's ``x [nm]``,
``y [nm]``, ``z [nm]`` are accepted too; other columns are ignored); or HDF5 with a dataset
``positions`` (n, 2|3), or 1-D datasets ``x_nm``, ``y_nm`` (, ``z_nm``), or a table (compound
dataset) ``emitters`` / ``positions`` with those fields.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from .files import file_lines, is_hdf5, read_all, read_head

_POS_EXPECTED = "CSV with header columns x_nm, y_nm (optional z_nm), or HDF5 with dataset 'positions' (n, 2|3) or datasets 'x_nm', 'y_nm' (, 'z_nm')"
_ALIASES = {
    "x_nm": ("x_nm", "x [nm]", "x(nm)", "x (nm)"),
    "y_nm": ("y_nm", "y [nm]", "y(nm)", "y (nm)"),
    "z_nm": ("z_nm", "z [nm]", "z(nm)", "z (nm)"),
}


def positions_rows(path) -> tuple[int, str]:
    """(rows, "csv" | "hdf5") of a positions file without parsing it: the emitters it makes, for the
    memory estimate. CSV: its lines (an upper bound: the header and comments count too)."""
    p = str(path)
    head = read_head(p, _POS_EXPECTED)
    if is_hdf5(p, head):
        import h5py

        try:
            with h5py.File(p, "r") as f:
                for name in ("positions", "emitters", "x_nm"):
                    if name in f and isinstance(f[name], h5py.Dataset) and f[name].shape:
                        return int(f[name].shape[0]), "hdf5"
        except OSError:
            pass
        return 0, "hdf5"  # (load_positions says what is wrong with it)
    return file_lines(p), "csv"


def load_positions(path) -> np.ndarray:
    """Emitter positions as float64 (n, 2) [x_nm, y_nm] or (n, 3) [x_nm, y_nm, z_nm]."""
    p = str(path)
    head = read_head(p, _POS_EXPECTED)
    if is_hdf5(p, head):
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
        text = read_all(p, _POS_EXPECTED).decode("utf-8-sig")
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
