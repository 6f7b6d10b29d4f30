"""Exports: a finished job's files for other tools — OME-TIFF, ground truth (HDF5, ThunderSTORM CSV),
job.json — and reading a job back from the store and cache, one chunk at a time.
"""

from .job import export_job, export_sweep, job_from_group, software_versions
from .layout import (
    COMPRESSIONS, CSV, FILES, H5, JOB_JSON, MARKER, TIFF, export_compression, export_is_current, forget_export, job_dir,
    set_export_compression,
)
from .readback import iter_chunks, iter_frames, iter_truth
from .thunderstorm import CSV_HEADER, csv_lines
from .tiff import TiffStream, open_stream, start_stream

__all__ = ["COMPRESSIONS", "CSV", "CSV_HEADER", "FILES", "H5", "JOB_JSON", "MARKER", "TIFF", "TiffStream",
           "csv_lines", "export_compression", "export_is_current", "export_job", "export_sweep", "forget_export", "iter_chunks",
           "iter_frames", "iter_truth", "job_dir", "job_from_group", "set_export_compression", "software_versions",
           "open_stream", "start_stream"]
