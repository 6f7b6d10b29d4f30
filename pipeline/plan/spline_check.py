"""A spline PSF's job checks, made when planning: the calibration fits the camera and the emitters' z.

An emitter outside the calibrated z range has no PSF: ``plan`` (and so ``run``) refuses the job
with both ranges named, unless ``optics.psf_clamp_z`` asks for the nearest calibrated plane.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..config import JobConfig
from ..errors import UserError
from ..inputs import load_positions, load_spline

#: z rounding that still counts as inside the calibrated range (nm)
Z_SLACK_NM = 1e-6


@lru_cache(maxsize=16)
def _positions_z(path: str, mtime_ns: int, size: int) -> tuple[float, float] | None:
    pos = load_positions(path)
    return (float(pos[:, 2].min()), float(pos[:, 2].max())) if pos.shape[1] == 3 else None


def emitter_z_range_nm(config: JobConfig) -> tuple[float, float]:
    """The z range (nm) a job's emitters occupy: the positions file's z column, else ±z_range_um/2."""
    em = config.emitters
    if em.positions_file and Path(em.positions_file).is_file():
        st = os.stat(em.positions_file)
        z = _positions_z(em.positions_file, st.st_mtime_ns, st.st_size)
        if z is not None:
            return z
    half = em.z_range_um * 1000.0 / 2
    return -half, half


def check_spline(config: JobConfig, file: str = "", what: str = "") -> None:
    """Refuse a spline job whose calibration does not fit it (UserError, one line; exit 2).

    ``file`` and ``what`` name the sweep file and the job in the message. Nothing to check when
    the PSF is not a spline or the calibration does not exist yet (plan warns about it).
    """
    optics = config.optics
    if optics.psf != "spline" or not Path(optics.psf_file).is_file():
        return
    cal = load_spline(optics.psf_file)
    head = f"{file}: " if file else ""
    tail = f" (with {what})" if what and what != "the base" else ""
    if cal.pixel_size_nm and abs(cal.pixel_size_nm - optics.pixel_size_nm) > 1e-6 * optics.pixel_size_nm:
        raise UserError(f"{head}optics.pixel_size_nm = {optics.pixel_size_nm:g} but {cal.path} is calibrated for "
                        f"{cal.pixel_size_nm:g} nm pixels (a spline's lateral voxel is the camera pixel){tail}")
    lo, hi = emitter_z_range_nm(config)
    zl, zh = cal.z_range_nm
    if (lo < zl - Z_SLACK_NM or hi > zh + Z_SLACK_NM) and not optics.psf_clamp_z:
        source = "the positions file" if lo != -hi or config.emitters.positions_file else "emitters.z_range_um"
        raise UserError(f"{head}emitters reach z = {lo:g} .. {hi:g} nm ({source}) but {cal.path} is calibrated for "
                        f"z = {zl:g} .. {zh:g} nm; keep the emitters inside, or set optics.psf_clamp_z = true to give "
                        f"them the nearest calibrated plane{tail}")
