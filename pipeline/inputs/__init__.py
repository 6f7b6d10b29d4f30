"""Inputs: the user's files — aberration maps (zmap), sCMOS camera maps, emitter positions, spline PSFs.

Each reader validates its file and refuses it in one line naming the path, what was found and
what was expected (:class:`~pipeline.errors.InputFileError`).
"""

from .camera_maps import load_camera_maps
from .files import file_digest
from .positions import load_positions
from .spline_files import SplineCalibration, load_spline
from .zmap import ZMap, load_zmap
from .zmap_show import mode_name, show_zmap
from .zmap_synth import synth_zmap

__all__ = ["SplineCalibration", "ZMap", "file_digest", "load_camera_maps", "load_positions", "load_spline", "load_zmap",
           "mode_name", "show_zmap", "synth_zmap"]
