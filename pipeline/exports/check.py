"""Is a job's export what its marker says? (``verify``): the marker against the cache's current entries,
every file's size, the OME-TIFF's pixels against the chunks' checksums (streamed, one chunk of memory)
and emitters.h5 and the CSV against the checksums recorded when they were written.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..plan import Job
from ..store import file_checksum, same_frames
from .layout import CALIBRATION, CSV, H5, TIFF, inputs_digest, job_dir, marker_problem, read_marker
from .tiff import pixels_offset


@contextlib.contextmanager
def _quiet_tifffile() -> Iterator[None]:
    """tifffile logs a warning per damaged IFD or tag it meets; here damage is the expected finding."""
    logger = logging.getLogger("tifffile")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _frames_of(data: bytes, job: Job, byteorder: str) -> np.ndarray:
    return np.frombuffer(data, dtype=job.dtype.newbyteorder(byteorder)).astype(job.dtype, copy=False)


def tiff_problem(path: Path, job: Job, entries: list[dict]) -> str | None:
    """What is wrong with a job's OME-TIFF, or None when it holds exactly the chunks of ``entries``.

    An uncompressed TIFF stores frames t0..t1 as exactly the chunk's bytes (in the file's byte
    order), read here straight from the file; a compressed one is decoded page by page.
    """
    import tifffile

    frame_nbytes = job.frame_nbytes
    try:
        with _quiet_tifffile(), tifffile.TiffFile(path) as tif, open(path, "rb") as raw:
            series = tif.series[0]
            if not tif.is_ome or tuple(series.shape) != job.shape or series.dtype != job.dtype:
                return f"{TIFF} holds {tuple(series.shape)} {series.dtype}, expected an OME-TIFF {job.shape} {job.dtype}"
            offset = pixels_offset(tif, job.frames, frame_nbytes)
            for entry in entries:
                t0, t1 = entry["frames"]
                if offset is None:
                    block = tif.asarray(key=range(t0, t1))
                else:
                    raw.seek(offset + t0 * frame_nbytes)
                    data = raw.read((t1 - t0) * frame_nbytes)
                    if len(data) < (t1 - t0) * frame_nbytes:
                        return f"{TIFF} is truncated (frames [{t0}, {t1}) end past its end)"
                    block = _frames_of(data, job, tif.byteorder)
                if not same_frames(block, entry["checksum"]):
                    return f"{TIFF}: frames [{t0}, {t1}) differ from their chunk's checksum"
                del block
    except Exception as exc:  # noqa: BLE001 - tifffile raises many types for a damaged file
        return f"{TIFF} unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
    return None


def export_problems(output: Path, job: Job, entries: list[dict]) -> list[str]:
    """What is wrong with the job's export (one line per damaged file), [] when it is sound and current.

    ``entries``: the cache entries of every chunk of the job, in frame order.
    """
    folder = job_dir(output, job.name)
    marker = read_marker(output, job.name)
    problem = marker_problem(marker, job, folder, inputs_digest(entries))
    if problem:
        return [problem]
    problems = []
    recorded = marker.get("sha256") if isinstance(marker.get("sha256"), dict) else {}
    for name in (H5, CSV, CALIBRATION) if CALIBRATION in recorded else (H5, CSV):
        if file_checksum(folder / name) != recorded.get(name):
            problems.append(f"{name} differs from the checksum recorded when it was written")
    tiff = tiff_problem(folder / TIFF, job, entries)
    if tiff:
        problems.append(tiff)
    return problems
