"""Writing one stored chunk (encoded with the array's own codec, made durable before its cache entry),
and listing which chunks a job's group holds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import zarr
from numcodecs import Blosc
from zarr.codecs import BloscCodec, BloscShuffle, BytesCodec
from zarr.codecs.bytes import Endian

from ..atomic import fsync_dir, fsync_file, write_bytes
from .metadata import FRAMES, store_path


def _blosc_of(array: zarr.Array) -> Blosc | None:
    """numcodecs' Blosc that encodes a chunk of ``array`` exactly as zarr does, or None when the
    array's codecs are not just (little-endian bytes, Blosc)."""
    codecs = array.metadata.codecs
    if not (len(codecs) == 2 and isinstance(codecs[0], BytesCodec) and codecs[0].endian == Endian.little
            and isinstance(codecs[1], BloscCodec)):
        return None
    blosc = codecs[1]
    shuffle = {BloscShuffle.noshuffle: Blosc.NOSHUFFLE, BloscShuffle.shuffle: Blosc.SHUFFLE,
               BloscShuffle.bitshuffle: Blosc.BITSHUFFLE}[blosc.shuffle]
    return Blosc(cname=blosc.cname.value, clevel=blosc.clevel, shuffle=shuffle, blocksize=blosc.blocksize,
                 typesize=blosc.typesize)


def write_chunk(output: Path, job_name: str, t0: int, frames: np.ndarray) -> int:
    """Write one whole zarr chunk and make it durable (fsync) before the cache entry follows; returns
    the chunk file's size in bytes (0: zarr stored no file, the chunk is all fill value), which the
    entry records so that a run can tell the chunk is still there (:func:`stored_chunks`).

    The chunk is encoded here with the array's own codec (the same bytes zarr writes) and
    written by temp file + fsync + rename (:func:`atomic.write_bytes`): zarr's generic write path costs ~6 ms more per 1200² frame
    (an extra copy, the empty-chunk scan, its I/O thread), which for noise-limited frames is
    more than the encoding itself.
    """
    array = zarr.open_array(store_path(output) / job_name / FRAMES, mode="r+")
    chunk_frames = array.chunks[0]
    path = store_path(output) / job_name / FRAMES / array.metadata.encode_chunk_key((t0 // chunk_frames, 0, 0))
    blosc = _blosc_of(array)
    if blosc is None or t0 % chunk_frames or frames.dtype != array.dtype or frames.shape[1:] != array.shape[1:]:
        array[t0:t0 + frames.shape[0]] = frames
        if not path.exists():  # (zarr does not write an all-zero chunk)
            return 0
        fsync_file(path)
        fsync_dir(path.parent)
        size = path.stat().st_size
    else:
        if frames.shape[0] < chunk_frames:  # the last chunk: zarr stores whole chunks, padded with the fill value
            padding = np.full((chunk_frames - frames.shape[0], *frames.shape[1:]), array.fill_value, frames.dtype)
            frames = np.concatenate([frames, padding])
        path.parent.mkdir(parents=True, exist_ok=True)
        encoded = blosc.encode(np.ascontiguousarray(frames, dtype=frames.dtype.newbyteorder("<")))
        write_bytes(path, encoded)
        size = len(encoded)
    for folder in (path.parent.parent, path.parent.parent.parent):
        fsync_dir(folder)  # the chunk's folders may be new: their names must be durable too
    return size


def stored_chunks(output: Path, job_name: str) -> dict[int, int]:
    """Chunk index along t → byte size of every chunk file the job's ``frames`` array holds.

    One walk of the chunk-key folders (``frames/c/<i>/0/0``, zarr's default key encoding, which
    :func:`~.groups.prepare_job` creates), each listed once with ``os.scandir``: the listing says
    what is a folder, and a file's size is its entry's ``stat()``, which on a network file system
    comes with the listing (NFS READDIRPLUS fills the attribute cache) instead of one lookup per
    chunk on the server. A missing group or array is an empty dict; names that are not chunk keys
    (temporaries) are ignored.
    """
    sizes: dict[int, int] = {}

    def walk(folder: str, key: tuple[str, ...]) -> None:
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if not entry.name.isdigit():
                continue
            if len(key) < 2 and entry.is_dir(follow_symlinks=False):
                walk(entry.path, (*key, entry.name))
            elif len(key) == 2 and key[1] == "0" and entry.name == "0" and entry.is_file():
                sizes[int(key[0])] = entry.stat().st_size

    walk(str(store_path(output) / job_name / FRAMES / "c"), ())
    return sizes
