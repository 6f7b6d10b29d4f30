"""Every input file of a job read and validated before a run starts."""

from __future__ import annotations

from ..config import JobConfig
from ..errors import UserError
from ..inputs.images import load_image
from ..inputs.truth_source import open_source
from ..plan.spline_check import check_spline
from .camera import _maps
from .optics import _zmap
from .sample import _positions


def check_inputs(config: JobConfig) -> None:
    """Read and validate every input file of a job (raises InputFileError with a one-line reason)."""
    _zmap(config), _maps(config), _positions(config)
    em = config.emitters
    ill, bg = config.illumination, config.background
    shapes = {path: load_image(path).shape for path in (em.density_file if em.structure == "density" else "", ill.file,
                                                        bg.map_file) if path}
    if bg.map_file and shapes[bg.map_file] != tuple(config.camera.roi_shape):
        raise UserError(f"background.map_file {bg.map_file}: an image of shape {shapes[bg.map_file]}, "
                        f"the ROI is {list(config.camera.roi_shape)}")
    if ill.profile == "file" and ill.file:
        _check_covers_roi(config, ill.file, shapes[ill.file], ill.file_pixel_size_nm or config.optics.pixel_size_nm)
    if em.source:
        source = open_source(em.source)
        if source.frames > em.frames:
            raise UserError(f"emitters.source {em.source} has localizations up to frame {source.frames - 1} (0-based) "
                            f"but emitters.frames = {em.frames}: set emitters.frames >= {source.frames}")
    if config.optics.psf == "spline":
        check_spline(config)


def _check_covers_roi(config: JobConfig, path: str, shape: tuple[int, int], pixel_nm: float) -> None:
    """An illumination image must span the ROI: outside its pixel centres the profile only repeats
    the edge values, which would pass for a measured intensity."""
    roi_pixel = config.optics.pixel_size_nm
    height, width = config.camera.roi_shape
    need, have = (height * roi_pixel, width * roi_pixel), (shape[0] * pixel_nm, shape[1] * pixel_nm)
    if any(h < n * (1 - 1e-9) for h, n in zip(have, need)):
        raise UserError(f"illumination.file {path}: an image of {shape[0]}x{shape[1]} px of {pixel_nm:g} nm covers "
                        f"{have[1] / 1e3:g} x {have[0] / 1e3:g} um (x by y), the ROI {need[1] / 1e3:g} x "
                        f"{need[0] / 1e3:g} um: give an image that covers the ROI, or its pixel size in "
                        "illumination.file_pixel_size_nm")
