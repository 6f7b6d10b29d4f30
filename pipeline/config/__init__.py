"""The sweep file: schema (pydantic models), loading, legacy JSON translation."""

from .load import PATH_KEYS, LoadedSweep, job_config, leaf_keys, load_sweep
from .models import (
    CameraSection,
    ClusterSection,
    EmittersSection,
    JobConfig,
    OpticsSection,
    RenderSection,
    SamplesSection,
    SweepFile,
    SweepSection,
)

__all__ = [
    "PATH_KEYS", "LoadedSweep", "job_config", "leaf_keys", "load_sweep",
    "CameraSection", "ClusterSection", "EmittersSection", "JobConfig", "OpticsSection",
    "RenderSection", "SamplesSection", "SweepFile", "SweepSection",
]
