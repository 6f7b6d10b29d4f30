"""The OME-TIFF of a running job, filled by its chunk tasks as they finish.

An uncompressed OME-TIFF stores its frames contiguously at a fixed offset, so the file's layout
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

__all__ = ["TiffStream"]


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
            while view:  # pwrite may write less than asked for large buffers
                written = os.pwrite(fd, view, position)
                view, position = view[written:], position + written
        finally:
            os.close(fd)

    def exists(self) -> bool:
        return Path(self.path).is_file()
