"""``calibration.h5``: the per-pixel truth of a job's scene that is not a localization — the background map
and its time course, the camera's defect maps, the illumination profile — for users who calibrate
against them. Written only for jobs that have any of them (design: "defect maps are written to the
job's output")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plan import Job

#: dataset -> (units, description)
DATASETS = {
    "background_map": ("photon/pixel/frame", "expected background of every pixel before its time course "
                                             "(camera.background x the structure of [base.background])"),
    "background_factor": ("1", "the background's factor in every frame (bleaching, fluctuation): the expected "
                               "background of frame f is background_map * background_factor[f]"),
    "illumination": ("1", "relative excitation at every pixel centre (peak 1): an emitter's photons scale with it"),
    "hot": ("bool", "hot pixels"),
    "dead": ("bool", "dead pixels: no charge, offset and read noise only"),
    "dark_e": ("electron/frame", "mean dark electrons of every pixel per frame (hot pixels)"),
    "dsnu_adu": ("ADU", "fixed-pattern offset added to every pixel (DSNU)"),
    "response": ("1", "relative photo-response of every pixel (PRNU; 0 for dead pixels)"),
}


def has_calibration(job: Job) -> bool:
    c = job.config
    return c.camera.defects or c.background.active or c.illumination.active


def calibration_arrays(job: Job) -> dict[str, np.ndarray]:
    """The arrays of a job's calibration.h5 (empty when it has none)."""
    from kernels.background import temporal_factor
    from kernels.rng import generator, key_words

    from ..scene import background_photons_map, camera_defects, illumination_at

    config = job.config
    key = key_words(job.sweep_seed, job.seed_digest)
    height, width = config.camera.roi_shape
    arrays = {}
    bg = config.background
    if bg.active:
        shape = config.camera.roi_shape
        structured = background_photons_map(config, key)
        arrays["background_map"] = (structured if structured is not None
                                    else np.full(shape, config.camera.background, dtype=np.float32))
        frames = np.arange(job.frames)
        rngs = [generator(key, "background", frame=int(f)) for f in frames] if bg.fluctuation else None
        arrays["background_factor"] = temporal_factor(frames, bg.bleach_tau_frames, bg.fluctuation, rngs)
    if config.illumination.active:
        pixel_nm = config.optics.pixel_size_nm
        x, y = np.meshgrid((np.arange(width) + 0.5) * pixel_nm, (np.arange(height) + 0.5) * pixel_nm)
        arrays["illumination"] = illumination_at(config, x, y)
    arrays.update(camera_defects(config, key) or {})
    return arrays


def write_calibration(path: Path, job: Job) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["job"] = job.name
        f.attrs["fingerprint"] = job.fingerprint
        f.attrs["conventions"] = "arrays (Y, X) as the frames: row i, column j is the pixel whose centre is at ((j+0.5)p, (i+0.5)p) nm"
        for name, values in calibration_arrays(job).items():
            dataset = f.create_dataset(name, data=values)
            dataset.attrs["units"], dataset.attrs["description"] = DATASETS[name]
