"""The job's OME-TIFF: written from the store by ``export``, or filled by the run's chunk tasks.

Written from the store (:func:`write_tiff`): one page per frame, streamed chunk by chunk, optionally
zlib-compressed, BigTIFF when it may exceed 4 GiB.

Filled while the job runs (:func:`start_stream`, :class:`TiffStream`): an uncompressed OME-TIFF stores its frames contiguously at a fixed offset, so the file's layout
(header, IFDs, OME-XML) can be written before any frame exists and every chunk task can then put
its frames at their place with one ``pwrite``, in any order and in parallel. The job's export task
only fills in the chunks that were reused from an earlier run, makes the file durable and renames
it into place: the movie is not read back from Zarr and re-encoded after the last chunk.

The file lives under a temporary name (``.simulation.ome.tiff.run-<token>.tmp``) until then, so an
interrupted run never leaves a complete-looking TIFF; the next run removes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import atomic
from ..direct_io import pwrite_all
from ..plan import Job
from .layout import TIFF, job_dir, remove_temporaries
from .readback import iter_chunks, iter_frames

#: classic TIFF addresses 4 GiB; keep a margin for IFDs and the OME-XML (tifffile's own rule)
_CLASSIC_TIFF_LIMIT = 2**32 - 2**25


@dataclass(frozen=True)
class TiffStream:
    """Where a job's frames go in its pre-laid-out OME-TIFF (small, pickled into every chunk task)."""

    path: str          # the temporary file
    final: str         # its name once complete
    offset: int        # byte offset of frame 0's first pixel
    frame_nbytes: int  # bytes per frame (Y·X·itemsize, little-endian)
    bigtiff: bool

    def write(self, t0: int, frames: np.ndarray) -> None:
        """Put frames ``t0 .. t0 + len(frames) - 1`` at their place in the file."""
        frames = np.ascontiguousarray(frames, dtype=frames.dtype.newbyteorder("<"))
        if frames[0].nbytes != self.frame_nbytes:
            raise ValueError(f"{self.path}: a frame has {frames[0].nbytes} bytes, the layout expects {self.frame_nbytes}")
        view = memoryview(frames).cast("B")
        position = self.offset + t0 * self.frame_nbytes
        fd = os.open(self.path, os.O_WRONLY)  # never O_CREAT: the layout must exist
        try:
            pwrite_all(fd, self.path, view, position)
        finally:
            os.close(fd)

    def exists(self) -> bool:
        return Path(self.path).is_file()


def bigtiff_needed(job: Job, compression: str, bigtiff: bool | None) -> bool:
    if bigtiff is not None:
        return bool(bigtiff)
    # zlib never grows incompressible data by more than ~0.1 %, plus a few hundred bytes per page
    estimate = job.nbytes * (1.01 if compression == "zlib" else 1.0) + job.frames * 1024
    return estimate > _CLASSIC_TIFF_LIMIT


def _ome_metadata(job: Job) -> dict:
    return {
        "axes": "TYX", "Name": job.name,
        "PhysicalSizeX": job.pixel_size_um, "PhysicalSizeXUnit": "µm",
        "PhysicalSizeY": job.pixel_size_um, "PhysicalSizeYUnit": "µm",
        "TimeIncrement": job.frame_interval_s, "TimeIncrementUnit": "s",
    }


def write_tiff(path: Path, output: Path, job: Job, entries: list[dict] | None, compression: str = "none",
               bigtiff: bool | None = None) -> bool:
    """Stream the movie into an OME-TIFF at ``path`` (one page per frame); returns whether it is BigTIFF."""
    import tifffile

    big = bigtiff_needed(job, compression, bigtiff)
    with tifffile.TiffWriter(path, bigtiff=big, ome=True) as tif:
        tif.write(data=iter_frames(output, job, entries), shape=job.shape, dtype=job.dtype,
                  photometric="minisblack", metadata=_ome_metadata(job),
                  compression=None if compression == "none" else "zlib")
    return big


def start_stream(output: Path, job: Job, token: str) -> TiffStream:
    """Lay out the job's uncompressed OME-TIFF (no pixels yet: a sparse file) for its chunk tasks to fill.

    Removes what earlier, interrupted runs left under temporary names; a finished export stays
    valid until :func:`export_job` replaces it. Idempotent for one ``token``: a layout of this run
    that is already there is kept with the frames written into it (the run's task that lays it out
    may be computed again when the worker holding its result is lost).
    """
    import tifffile

    folder = job_dir(Path(output), job.name)
    path = folder / f".{TIFF}.run-{token}.tmp"
    big = bigtiff_needed(job, "none", None)
    frame_nbytes = job.frame_nbytes
    if path.is_file():
        kept = open_stream(output, job, token)
        if kept is not None:
            return kept
    folder.mkdir(parents=True, exist_ok=True)
    remove_temporaries(folder)
    with tifffile.TiffWriter(path, bigtiff=big, ome=True, byteorder="<") as tif:
        tif.write(shape=job.shape, dtype=job.dtype, photometric="minisblack", metadata=_ome_metadata(job))
    with tifffile.TiffFile(path) as tif:  # the frames must be where the stream will put them
        offset = pixels_offset(tif, job.frames, frame_nbytes)
    if offset is None:
        raise RuntimeError(f"{path}: tifffile did not lay out the frames contiguously")
    return TiffStream(str(path), str(folder / TIFF), offset, frame_nbytes, big)


def open_stream(output: Path, job: Job, token: str) -> TiffStream | None:
    """The layout :func:`start_stream` made for run ``token``, or None when it is not there (any more)."""
    import tifffile

    folder = job_dir(Path(output), job.name)
    path = folder / f".{TIFF}.run-{token}.tmp"
    frame_nbytes = job.frame_nbytes
    try:
        with tifffile.TiffFile(path) as tif:
            offset = pixels_offset(tif, job.frames, frame_nbytes)
    except (OSError, tifffile.TiffFileError):
        return None
    if offset is None:
        return None
    return TiffStream(str(path), str(folder / TIFF), offset, frame_nbytes, bigtiff_needed(job, "none", None))


def pixels_offset(tif, frames: int, frame_nbytes: int) -> int | None:
    """Byte offset of frame 0's pixels when the file stores all frames uncompressed and contiguously
    (frame t at offset + t · frame_nbytes), else None. Checked on pages 0, 1 and the last: the
    last page's offset without parsing every IFD (seconds for 100 000 frames)."""
    import tifffile

    last = frames - 1
    tif.pages.useframes = True
    if tif.pages[0].compression != tifffile.COMPRESSION.NONE:
        return None
    offsets = {t: int(tif.pages[t].dataoffsets[0]) for t in {0, min(1, last), last}}
    if any(offset != offsets[0] + t * frame_nbytes for t, offset in offsets.items()):
        return None
    return offsets[0]


def finish_stream(stream: TiffStream, output: Path, job: Job, entries: list[dict], streamed: frozenset[int]) -> None:
    """Fill in the chunks the run did not compute (reused ones), then make the file durable and final."""
    for t0, block in iter_chunks(output, job, entries, skip=streamed):
        stream.write(t0, block)
        del block
    atomic.publish(Path(stream.path), Path(stream.final), sync_folder=False)  # (export.json vouches by size)
