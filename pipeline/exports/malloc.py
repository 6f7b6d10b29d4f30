"""glibc malloc tuning for the exporting process: freed chunk buffers go back to the OS.

A no-op where glibc is not the allocator.
"""

from __future__ import annotations

import os
import sys


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - glibc only (not musl)
        return libc
    except (OSError, AttributeError, TypeError):
        return None


_LIBC = _glibc()
_M_TRIM_THRESHOLD = -1
_tuned = False


def tune_malloc() -> None:
    """Make glibc return freed chunk buffers to the OS (once per process; a no-op elsewhere).

    zarr decodes every chunk into fresh multi-MB buffers on its own threads. With glibc's dynamic
    mmap threshold these end up in per-thread arenas that are kept after being freed, and the
    resident size creeps up with the number of chunks although the live data stay one chunk.
    A fixed trim threshold (which also fixes the mmap threshold) keeps the peak RSS flat; it is
    what dask's nanny sets for its workers (``MALLOC_TRIM_THRESHOLD_=65536``). Respects an
    explicit ``MALLOC_TRIM_THRESHOLD_`` in the environment.
    """
    global _tuned
    if _tuned or _LIBC is None:
        return
    _tuned = True
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        _LIBC.mallopt(_M_TRIM_THRESHOLD, 65536)


def release_memory() -> None:
    """Hand freed heap memory back to the OS now (glibc ``malloc_trim``; a no-op elsewhere)."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
