"""Field-dependent quantities: bilinear interpolation of per-patch values.

Pure numpy, no file I/O. Used for field-dependent aberrations (zmap, design §5):
values are known at a grid of patch centres and evaluated at emitter positions,
bilinear between centres and clamped at the edges.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bilinear"]


def _axis_weights(centres: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower index, upper index and weight of the upper one for points ``p`` on one axis."""
    n = centres.shape[0]
    if n == 1:
        zero = np.zeros(p.shape, dtype=np.intp)
        return zero, zero, np.zeros(p.shape, dtype=np.float64)
    pc = np.clip(p, centres[0], centres[-1])
    i0 = np.searchsorted(centres, pc, side="right") - 1
    i0 = np.clip(i0, 0, n - 2)
    i1 = i0 + 1
    c0 = centres[i0]
    w = (pc - c0) / (centres[i1] - c0)
    # pc is clamped, so w is in [0, 1]; guard against rounding anyway.
    return i0, i1, np.clip(w, 0.0, 1.0)


def bilinear(centres_y, centres_x, values, y, x) -> np.ndarray:
    """Bilinear interpolation of ``values`` given at a grid of patch centres.

    Parameters
    ----------
    centres_y, centres_x : 1-D arrays, shapes (ny,) and (nx,), strictly increasing.
    values : array (ny, nx, m), the values at the centres.
    y, x : arrays of any (broadcastable) shape, in the same units as the centres.

    Returns
    -------
    array (*shape, m) float64: bilinear between centres; outside the outer centres the
    edge value (clamped). An axis with a single centre is constant along that axis.
    """
    cy = np.asarray(centres_y, dtype=np.float64).reshape(-1)
    cx = np.asarray(centres_x, dtype=np.float64).reshape(-1)
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 3 or v.shape[0] != cy.shape[0] or v.shape[1] != cx.shape[0]:
        raise ValueError(
            f"values must have shape (ny, nx, m) = ({cy.shape[0]}, {cx.shape[0]}, m); got {v.shape}"
        )
    if cy.size == 0 or cx.size == 0:
        raise ValueError("need at least one centre per axis")
    y, x = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64))
    iy0, iy1, wy = _axis_weights(cy, y)
    ix0, ix1, wx = _axis_weights(cx, x)
    wy = wy[..., None]
    wx = wx[..., None]
    top = v[iy0, ix0] * (1.0 - wx) + v[iy0, ix1] * wx
    bottom = v[iy1, ix0] * (1.0 - wx) + v[iy1, ix1] * wx
    return top * (1.0 - wy) + bottom * wy
