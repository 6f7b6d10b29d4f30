"""Build a job's :class:`kernels.render.Scene` from its configuration and input files.

This is where files are read (zmap, sCMOS maps, positions, images, spline PSF, a ground truth to
re-render) and where the job's random streams are keyed; the kernels then only see arrays.
:func:`build_sample` (:mod:`.sample`) is the part that the ground truth needs (emitters and their
on-events); :func:`build_scene` adds the optics (:mod:`.optics`) and the camera (:mod:`.camera`).
"""

from __future__ import annotations

from kernels.render import Scene

from ..plan import Job
from .camera import background_photons_map, camera_defects, camera_model, _maps
from .checks import check_inputs
from .optics import _zmap, psf_model
from .sample import Sample, build_sample, illumination_at, job_drift, structure_sites

__all__ = ["Sample", "background_photons_map", "build_sample", "build_scene", "camera_defects", "camera_model",
           "check_inputs", "illumination_at", "job_drift", "psf_model", "structure_sites"]


def build_scene(job: Job) -> Scene:
    """Emitters, on-events, per-emitter aberrations, PSF and camera of a job (built once per job)."""
    config = job.config
    sample = build_sample(job)
    zmap = _zmap(config)
    pixel_nm = config.optics.pixel_size_nm
    per_row = sample.drift_nm is not None or sample.source is not None
    # the zmap is indexed by (x, y) in pixels: column first; each row where it is when rows move (drift)
    coeffs = None if zmap is None or per_row else zmap.at(sample.emitters.x_nm / pixel_nm, sample.emitters.y_nm / pixel_nm)
    maps = {**(_maps(config) or {}), **(camera_defects(config, sample.key) or {})}
    maps.pop("hot", None), maps.pop("dead", None)  # (recorded for the user; the camera sees dark_e and response)
    if "dsnu_adu" in maps and not maps["dsnu_adu"].any():
        del maps["dsnu_adu"]  # adding 0.0 changes no value: hot or dead pixels alone need no dense pass per frame
    bg = config.background
    return Scene(
        key=sample.key, roi_shape=config.camera.roi_shape, pixel_size_nm=pixel_nm,
        background_photons=config.camera.background, emitters=sample.emitters, events=sample.events,
        psf=psf_model(config, zmap.noll if zmap else ()), camera=camera_model(config, maps), coeffs_nm=coeffs,
        psf_params=sample.dipoles, drift_nm=sample.drift_nm, source=sample.source,
        coeffs_at=zmap.at if zmap is not None and per_row else None,
        background_map=background_photons_map(config, sample.key), background_bleach_tau_frames=bg.bleach_tau_frames,
        background_fluctuation=bg.fluctuation,
    )
