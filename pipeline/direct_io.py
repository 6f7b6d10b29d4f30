"""Large writes that bypass the page cache (``O_DIRECT``) where the file system allows it.

A chunk's frames are written once and made durable at once (zarr chunk and shard files are
fsynced before their cache entry; the streamed OME-TIFF before it is renamed into place), and no
task of the run reads them back. Through the page cache every byte is first copied into freshly
allocated cache pages, then written to the disk: on a virtual machine whose guest memory is
handed back to the host when freed, allocating those pages is the slowest part of a chunk
(measured: ``benchmarks/direct_io.py``). Direct I/O hands the buffer to the device instead.

Only block-aligned parts go direct: the unaligned head and tail of a range (and every write
below :data:`MIN_DIRECT_BYTES`) are ordinary ``pwrite`` calls, as is everything on a file system
or platform that refuses ``O_DIRECT``. The bytes in the file are the same either way; a reader
never sees the difference (the kernel keeps cached and direct writes of a file coherent).
``SMLM_SWEEP_DIRECT_IO=0`` turns direct I/O off.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading

__all__ = ["MIN_DIRECT_BYTES", "direct_io_enabled", "pwrite_all", "write_file"]

#: alignment of offsets, lengths and memory for O_DIRECT: a multiple of every common logical block size
BLOCK = max(4096, mmap.PAGESIZE)  # (whole pages: a direct write never shares one with a buffered write)
#: smaller writes are not worth a second descriptor and the copy into the aligned buffer
MIN_DIRECT_BYTES = 1 << 20
_BOUNCE_BYTES = 8 << 20  # one aligned staging buffer per thread (anonymous mmap: page-aligned), reused
_ENV = "SMLM_SWEEP_DIRECT_IO"

_local = threading.local()
_refused: set[int] = set()  # devices (st_dev) whose file system refused O_DIRECT: not tried again
_REFUSALS = (errno.EINVAL, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP))


def direct_io_enabled() -> bool:
    """Whether large writes try ``O_DIRECT`` (the platform has it and ``SMLM_SWEEP_DIRECT_IO`` is not 0)."""
    return hasattr(os, "O_DIRECT") and os.environ.get(_ENV, "1").strip() not in ("0", "false", "no", "off")


def _bounce() -> mmap.mmap:
    buffer = getattr(_local, "bounce", None)
    if buffer is None:  # private: a forked child must not stage its data in its parent's pages
        buffer = _local.bounce = mmap.mmap(-1, _BOUNCE_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return buffer


def _pwrite_buffered(fd: int, view: memoryview, position: int) -> None:
    while view:  # pwrite may write less than asked for large buffers
        written = os.pwrite(fd, view, position)
        view, position = view[written:], position + written


def _pwrite_direct(path: str, view: memoryview, position: int, device: int) -> int:
    """Write the block-aligned part of ``view`` at ``position`` through an O_DIRECT descriptor;
    returns how many leading bytes of ``view`` (from the first aligned offset) it wrote. A file
    system that refuses O_DIRECT is remembered (``device``); any other error leaves the rest to
    the buffered write, which raises it if it persists (a full disk)."""
    bounce, done = _bounce(), 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
    except OSError as exc:
        if exc.errno in _REFUSALS:
            _refused.add(device)
        return 0
    try:
        while len(view) - done >= BLOCK:
            n = min(_BOUNCE_BYTES, (len(view) - done) // BLOCK * BLOCK)
            bounce[:n] = view[done:done + n]
            written = os.pwrite(fd, memoryview(bounce)[:n], position + done)
            if written <= 0 or written % BLOCK:
                # (a short direct write is block-aligned in practice; anything else goes buffered)
                return done + max(written, 0) // BLOCK * BLOCK
            done += written
    except OSError as exc:
        if exc.errno in _REFUSALS and not done:
            _refused.add(device)
    finally:
        os.close(fd)
    return done


def pwrite_all(fd: int, path: str, data, position: int) -> None:
    """Write all of ``data`` (a buffer) at byte ``position`` of the open file ``fd`` (``path``).

    The block-aligned middle goes through a second, ``O_DIRECT`` descriptor of ``path`` when
    :func:`direct_io_enabled`, the file system takes it and the range is large enough; the rest
    through ``fd``.
    """
    view = memoryview(data).cast("B")
    if len(view) < MIN_DIRECT_BYTES or not direct_io_enabled():
        _pwrite_buffered(fd, view, position)
        return
    device = os.fstat(fd).st_dev
    if device in _refused:
        _pwrite_buffered(fd, view, position)
        return
    head = -position % BLOCK
    _pwrite_buffered(fd, view[:head], position)
    done = _pwrite_direct(path, view[head:], position + head, device)
    _pwrite_buffered(fd, view[head + done:], position + head + done)


def write_file(path, data) -> None:
    """Create (or truncate) ``path`` with the bytes ``data`` (as :func:`pwrite_all` writes them)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        pwrite_all(fd, os.fspath(path), data, 0)
    finally:
        os.close(fd)
