"""sCMOS camera maps (``camera.maps_path``): per-pixel offset, gain and read-noise variance.

HDF5 with datasets ``offset`` (ADU), ``gain`` (ADU per electron), ``variance`` (ADU^2, read noise
variance), each (Y, X); or a TIFF with 3 pages/planes in that order.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputFileError
from .files import TIFF_SIGNATURES, is_hdf5, read_head, roi_tuple

_MAP_NAMES = ("offset", "gain", "variance")
_MAP_KEYS = {"offset": "offset_adu", "gain": "gain_adu_per_e", "variance": "variance_adu2"}
_MAPS_EXPECTED = "HDF5 with datasets 'offset', 'gain', 'variance' (each Y x X) or a TIFF with 3 pages (offset, gain, variance)"


def load_camera_maps(path, roi_shape) -> dict[str, np.ndarray]:
    """Per-pixel sCMOS maps: {'offset_adu', 'gain_adu_per_e', 'variance_adu2'}, float32 (Y, X).

    Shapes must equal roi_shape; gain > 0, variance >= 0, all finite.
    """
    p = str(path)
    roi = roi_tuple(roi_shape)
    head = read_head(p, _MAPS_EXPECTED)
    if is_hdf5(p, head):
        planes = _maps_from_hdf5(p, roi)
    elif head[:4] in TIFF_SIGNATURES:
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


