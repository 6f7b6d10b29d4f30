"""The job's camera: its model, its sCMOS and defect maps, and the background it records."""

from __future__ import annotations

import numpy as np

from kernels.background import background_map, smooth_field
from kernels.camera import Camera
from kernels.defects import defect_maps
from kernels.rng import generator

from ..config import JobConfig
from ..inputs import load_camera_maps
from ..inputs.images import load_image


def camera_model(config: JobConfig, maps: dict[str, np.ndarray] | None = None) -> Camera:
    cam = config.camera
    return Camera(kind=cam.type, add_noise=cam.add_noise, shot_noise=cam.shot_noise, qe=cam.qe,
                  readout_noise_e=cam.readout_noise, e_per_adu=cam.e_per_adu, baseline_adu=cam.baseline_adu,
                  em_gain=cam.em_gain, bit_depth=cam.bit_depth, cic_probability=cam.cic_probability,
                  em_stages=cam.em_stages, full_well_e=cam.full_well_e, **(maps or {}))


def camera_defects(config: JobConfig, key: tuple[int, ...]) -> dict[str, np.ndarray] | None:
    """The job's fixed-pattern defect maps (hot, dead, dark_e, dsnu_adu, response), from a stream of their own."""
    cam = config.camera
    if not cam.defects:
        return None
    return defect_maps(generator(key, "defects"), cam.roi_shape, cam.hot_fraction, cam.hot_dark_e,
                       cam.dead_fraction, cam.dsnu_adu, cam.prnu)


def background_photons_map(config: JobConfig, key: tuple[int, ...]) -> np.ndarray | None:
    """Expected background photons per pixel per frame, before its time course (None: uniform)."""
    bg, shape = config.background, config.camera.roi_shape
    if not bg.structured:
        return None
    field = smooth_field(generator(key, "background-field"), shape, bg.field_length_px) if bg.field_amplitude else None
    image = load_image(bg.map_file) if bg.map_file else None
    return background_map(config.camera.background, shape, field, bg.field_amplitude, image)


def _maps(config: JobConfig) -> dict | None:
    return load_camera_maps(config.camera.maps_path, config.camera.roi_shape) if config.camera.maps_path else None
