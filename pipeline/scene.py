"""Build a job's :class:`kernels.render.Scene` from its configuration and input files.

This is where files are read (zmap, sCMOS maps, positions, spline PSF) and where the job's random streams
are keyed; the kernels then only see arrays. :func:`build_sample` is the part that the ground
truth needs (emitters and their on-events); :func:`build_scene` adds the optics and the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels.camera import Camera
from kernels.photophysics import Emitters, Events, markov_events, place_emitters, single_events
from kernels.psf import AstigmaticPSF, GaussianPSF, ZernikePSF
from kernels.vectorial import VectorialPSF
from kernels.render import Scene
from kernels.rng import generator, key_words

from .config import JobConfig
from .inputs import ZMap, load_camera_maps, load_positions, load_spline, load_zmap
from .plan import Job
from .plan.spline_check import check_spline


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


def camera_model(config: JobConfig, maps: dict[str, np.ndarray] | None = None) -> Camera:
    cam = config.camera
    return Camera(kind=cam.type, add_noise=cam.add_noise, shot_noise=cam.shot_noise, qe=cam.qe,
                  readout_noise_e=cam.readout_noise, e_per_adu=cam.e_per_adu, baseline_adu=cam.baseline_adu,
                  em_gain=cam.em_gain, bit_depth=cam.bit_depth, **(maps or {}))


def _zmap(config: JobConfig) -> ZMap | None:
    if config.optics.zmap_path and config.optics.psf in ("zernike", "vectorial"):
        return load_zmap(config.optics.zmap_path, config.camera.roi_shape)
    return None


def _maps(config: JobConfig) -> dict | None:
    return load_camera_maps(config.camera.maps_path, config.camera.roi_shape) if config.camera.maps_path else None


def _positions(config: JobConfig) -> np.ndarray | None:
    return load_positions(config.emitters.positions_file) if config.emitters.positions_file else None


def check_inputs(config: JobConfig) -> None:
    """Read and validate every input file of a job (raises InputFileError with a one-line reason)."""
    _zmap(config), _maps(config), _positions(config)
    if config.optics.psf == "spline":
        check_spline(config)


@dataclass(frozen=True, eq=False)
class Sample:
    """What a job's ground truth is made of: its random-stream key, emitters and on-events."""

    key: tuple[int, ...]
    emitters: Emitters
    events: Events
    dipoles: dict[str, np.ndarray] | None = None  # fixed dipoles: polar_rad, azimuth_rad per emitter


def build_sample(job: Job) -> Sample:
    """Emitters and on-events of a job (reads only the positions file, never builds a PSF)."""
    config = job.config
    em, optics, cam = config.emitters, config.optics, config.camera
    key = key_words(job.sweep_seed, job.seed_digest)
    emitters = place_emitters(
        generator(key, "emitters"), em.num_emitters, cam.roi_shape, optics.pixel_size_nm, em.area_px,
        em.z_range_um, em.intensity_mu, em.intensity_sigma, positions_nm=_positions(config),
    )
    blinking = generator(key, "blinking")
    if em.blinking == "single":
        events = single_events(blinking, len(emitters), em.frames, em.lifetime_avg)
    else:
        events = markov_events(blinking, len(emitters), em.frames, em.lifetime_avg, em.off_time_avg, em.bleach_prob)
    return Sample(key, emitters, events, _dipoles(config, key, len(emitters)))


def _dipoles(config: JobConfig, key: tuple[int, ...], n: int) -> dict[str, np.ndarray] | None:
    """Fixed dipoles' orientations, from a stream of their own (the other streams, and so every other
    job's bytes, are untouched): uniform on the sphere (an axial vector: polar angle in [0, pi/2]), or
    at ``dipole_polar_deg`` from the axis with uniform azimuths."""
    optics = config.optics
    if optics.psf != "vectorial" or optics.dipole != "fixed":
        return None
    rng = generator(key, "dipoles")
    cos_polar = rng.random(n)
    polar = np.arccos(cos_polar) if optics.dipole_polar_deg is None else np.full(n, np.deg2rad(optics.dipole_polar_deg))
    return {"polar_rad": polar, "azimuth_rad": 2.0 * np.pi * rng.random(n)}


def build_scene(job: Job) -> Scene:
    """Emitters, on-events, per-emitter aberrations, PSF and camera of a job (built once per job)."""
    config = job.config
    sample = build_sample(job)
    zmap = _zmap(config)
    pixel_nm = config.optics.pixel_size_nm
    # the zmap is indexed by (x, y) in pixels: column first
    coeffs = zmap.at(sample.emitters.x_nm / pixel_nm, sample.emitters.y_nm / pixel_nm) if zmap is not None else None
    return Scene(
        key=sample.key, roi_shape=config.camera.roi_shape, pixel_size_nm=pixel_nm,
        background_photons=config.camera.background, emitters=sample.emitters, events=sample.events,
        psf=psf_model(config, zmap.noll if zmap else ()), camera=camera_model(config, _maps(config)), coeffs_nm=coeffs,
        psf_params=sample.dipoles,
    )
