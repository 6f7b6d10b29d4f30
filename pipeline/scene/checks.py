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
    for path in (em.density_file if em.structure == "density" else "", config.illumination.file, config.background.map_file):
        if path:
            load_image(path)
    if config.background.map_file and load_image(config.background.map_file).shape != tuple(config.camera.roi_shape):
        raise UserError(f"background.map_file {config.background.map_file}: an image of shape "
                        f"{load_image(config.background.map_file).shape}, the ROI is {list(config.camera.roi_shape)}")
    if em.source:
        source = open_source(em.source)
        if source.frames > em.frames:
            raise UserError(f"emitters.source {em.source} has localizations up to frame {source.frames - 1} (0-based) "
                            f"but emitters.frames = {em.frames}: set emitters.frames >= {source.frames}")
    if config.optics.psf == "spline":
        check_spline(config)
