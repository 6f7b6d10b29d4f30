"""The job's optics: its PSF model and its field-dependent aberrations (zmap)."""

from __future__ import annotations

import numpy as np

from kernels.psf import AstigmaticPSF, GaussianPSF, ZernikePSF
from kernels.vectorial import VectorialPSF

from ..config import JobConfig
from ..inputs import ZMap, load_spline, load_zmap


def psf_model(config: JobConfig, noll: tuple[int, ...] = ()):
    """The PSF model named by ``optics.psf``; ``noll`` = modes of per-emitter coefficients."""
    optics, render = config.optics, config.render
    if optics.psf == "spline":
        return load_spline(optics.psf_file).model(optics.psf_radius_px, optics.psf_clamp_z, optics.pixel_size_nm)
    common = dict(pixel_size_nm=optics.pixel_size_nm, radius_px=optics.psf_radius_px)
    if optics.psf == "gaussian":
        return GaussianPSF(sigma_nm=optics.sigma_nm, **common)
    if optics.psf == "astigmatic":
        return AstigmaticPSF(sigma0_nm=optics.sigma_nm, focal_offset_nm=optics.astig_d_nm,
                             depth_nm=optics.astig_depth_nm, **common)
    pupil = dict(wavelength_nm=optics.wavelength_nm, na=optics.na, immersion_index=optics.immersion_index,
                 global_coeffs_nm=tuple(optics.zernike.items()), noll=noll, mode=render.mode,
                 oversample=render.oversample, **common)
    if optics.psf == "vectorial":
        return VectorialPSF(sample_index=optics.sample_index, focus_depth_nm=optics.focus_depth_nm,
                            dipole=optics.dipole, wobble_rad=np.deg2rad(optics.dipole_wobble_deg), **pupil)
    return ZernikePSF(**pupil)


def _zmap(config: JobConfig) -> ZMap | None:
    if config.optics.zmap_path and config.optics.psf in ("zernike", "vectorial"):
        return load_zmap(config.optics.zmap_path, config.camera.roi_shape)
    return None
