"""Build a job's :class:`kernels.render.Scene` from its configuration and input files.

This is where files are read (zmap, sCMOS maps, positions) and where the job's random streams
are keyed; the kernels then only see arrays.
"""

from __future__ import annotations

import numpy as np

from kernels.camera import Camera
from kernels.photophysics import markov_events, place_emitters, single_events, total_photons
from kernels.psf import AstigmaticPSF, GaussianPSF, ZernikePSF
from kernels.render import Scene
from kernels.rng import generator, key_words

from .config import JobConfig
from .inputs import load_camera_maps, load_positions
from .plan import Job
from .zmap import ZMap, load_zmap


def psf_model(config: JobConfig, noll: tuple[int, ...] = ()):
    """The PSF model named by ``optics.psf``; ``noll`` = modes of per-emitter coefficients."""
    optics, render = config.optics, config.render
    common = dict(pixel_size_nm=optics.pixel_size_nm, radius_px=optics.psf_radius_px)
    if optics.psf == "gaussian":
        return GaussianPSF(sigma_nm=optics.sigma_nm, **common)
    if optics.psf == "astigmatic":
        return AstigmaticPSF(sigma0_nm=optics.sigma_nm, focal_offset_nm=optics.astig_d_nm,
                             depth_nm=optics.astig_depth_nm, **common)
    return ZernikePSF(wavelength_nm=optics.wavelength_nm, na=optics.na, immersion_index=optics.immersion_index,
                      global_coeffs_nm=tuple(optics.zernike.items()), noll=noll, mode=render.mode,
                      oversample=render.oversample, **common)


def camera_model(config: JobConfig, maps: dict[str, np.ndarray] | None = None) -> Camera:
    cam = config.camera
    return Camera(kind=cam.type, add_noise=cam.add_noise, shot_noise=cam.shot_noise, qe=cam.qe,
                  readout_noise_e=cam.readout_noise, e_per_adu=cam.e_per_adu, baseline_adu=cam.baseline_adu,
                  em_gain=cam.em_gain, bit_depth=cam.bit_depth, **(maps or {}))


def load_inputs(config: JobConfig) -> tuple[ZMap | None, dict | None, np.ndarray | None]:
    """Read and validate the job's input files (raises InputFileError with a one-line reason)."""
    roi = config.camera.roi_shape
    zmap = load_zmap(config.optics.zmap_path, roi) if config.optics.zmap_path and config.optics.psf == "zernike" else None
    maps = load_camera_maps(config.camera.maps_path, roi) if config.camera.maps_path else None
    positions = load_positions(config.emitters.positions_file) if config.emitters.positions_file else None
    return zmap, maps, positions


def build_scene(job: Job) -> Scene:
    """Emitters, on-events, per-emitter aberrations, PSF and camera of a job (built once per job)."""
    config = job.config
    em, optics, cam = config.emitters, config.optics, config.camera
    zmap, maps, positions = load_inputs(config)
    key = key_words(job.sweep_seed, job.seed_digest)
    emitters = place_emitters(
        generator(key, "emitters"), em.num_emitters, cam.roi_shape, optics.pixel_size_nm, em.area_px,
        em.z_range_um, em.intensity_mu, em.intensity_sigma, positions_nm=positions,
    )
    blinking = generator(key, "blinking")
    if em.blinking == "single":
        events = single_events(blinking, len(emitters), em.frames, em.lifetime_avg)
    else:
        events = markov_events(blinking, len(emitters), em.frames, em.lifetime_avg, em.off_time_avg, em.bleach_prob)
    coeffs = None
    if zmap is not None:
        coeffs = zmap.at(emitters.x_nm / optics.pixel_size_nm, emitters.y_nm / optics.pixel_size_nm)
    return Scene(
        key=key, roi_shape=cam.roi_shape, pixel_size_nm=optics.pixel_size_nm, background_photons=cam.background,
        emitters=emitters, events=events, psf=psf_model(config, zmap.noll if zmap else ()),
        camera=camera_model(config, maps), coeffs_nm=coeffs,
    )


def emitter_table(scene: Scene, frames: int) -> np.ndarray:
    """Ground-truth table ``emitters`` (design §6): one row per emitter."""
    em, ev = scene.emitters, scene.events
    n = len(em)
    table = np.zeros(n, dtype=[("id", "<i8"), ("x_nm", "<f8"), ("y_nm", "<f8"), ("z_nm", "<f8"),
                               ("flux_photons", "<f8"), ("t_on", "<f8"), ("t_off", "<f8"), ("total_photons", "<f8")])
    table["id"] = np.arange(n)
    table["x_nm"], table["y_nm"], table["z_nm"] = em.x_nm, em.y_nm, em.z_nm
    table["flux_photons"] = em.flux_photons
    # first on and last off of each emitter (one event each for "single" blinking)
    table["t_on"] = np.inf
    table["t_off"] = -np.inf
    np.minimum.at(table["t_on"], ev.emitter, ev.t_on)
    np.maximum.at(table["t_off"], ev.emitter, ev.t_off)
    never = ~np.isfinite(table["t_on"])
    table["t_on"][never] = np.nan
    table["t_off"][never] = np.nan
    table["total_photons"] = total_photons(ev, em.flux_photons, frames)
    return table
