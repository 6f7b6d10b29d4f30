"""Stage drift: where the sample is, relative to the camera, in every frame.

Pure numpy. Drift is a polynomial in the frame index plus an optional Gaussian random walk; it is
applied to every emitter of a frame alike (the ground-truth localizations are the drifted positions,
what the camera sees; the emitters table keeps the undrifted ones).
"""

from __future__ import annotations

import numpy as np

__all__ = ["drift_table"]


def drift_table(rng: np.random.Generator, frames: int, x_nm=(), y_nm=(), z_nm=(), walk_nm: float = 0.0,
                walk_z_nm: float = 0.0) -> np.ndarray:
    """Drift of every frame, nm.

    Parameters
    ----------
    rng : numpy.random.Generator
        The job's ``"drift"`` stream.
    frames : int
        Movie length.
    x_nm, y_nm, z_nm : sequences of float
        Polynomial coefficients, constant first: ``x(f) = x_nm[0] + x_nm[1] f + x_nm[2] f² + …`` at
        frame index ``f`` (0-based), nm. Empty = no drift along that axis.
    walk_nm, walk_z_nm : float
        Standard deviation of each frame's random-walk step in x and y (``walk_nm``) and in z, nm. The
        walk starts at 0 in frame 0; frame ``f`` has taken ``f`` steps.

    Returns
    -------
    ndarray (frames, 3) float64: x, y, z drift of each frame.

    Notes
    -----
    The steps are one ``(frames - 1, 3)`` standard-normal draw whatever the step sizes, so turning one
    axis' walk on or off leaves the others' unchanged.
    """
    frames = int(frames)
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if not (walk_nm >= 0 and walk_z_nm >= 0):
        raise ValueError(f"walk steps must be >= 0, got {walk_nm}, {walk_z_nm}")
    f = np.arange(frames, dtype=np.float64)
    table = np.zeros((frames, 3))
    for axis, coeffs in enumerate((x_nm, y_nm, z_nm)):
        if len(coeffs):
            table[:, axis] = np.polynomial.polynomial.polyval(f, np.asarray(coeffs, dtype=np.float64))
    if walk_nm or walk_z_nm:
        steps = rng.standard_normal((frames - 1, 3)) * np.array([walk_nm, walk_nm, walk_z_nm])
        table[1:] += np.cumsum(steps, axis=0)
    return table
