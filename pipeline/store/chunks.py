"""Writing one stored chunk (encoded with the array's own codec, made durable before its cache entry),
and listing which chunks a job's group holds.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..atomic import fsync_file, write_bytes
from .documents import FramesLayout, frames_layout
from .metadata import FRAMES, node_document, store_path


def write_chunk(output: Path, job_name: str, t0: int, frames: np.ndarray) -> int:
    """Write one whole zarr chunk (or shard) and make it durable (fsync) before the cache entry
    follows; returns the chunk file's size in bytes (0: zarr stored no file, the chunk is all fill
    value), which the entry records so that a run can tell the chunk is still there (:func:`stored_chunks`).

    The chunk is encoded here with the array's own codec (the same bytes zarr writes), its layout
    read from the array's ``zarr.json`` (:func:`~.documents.frames_layout`), and written by temp
    file + fsync + rename (:func:`atomic.write_bytes`): zarr's generic write path costs ~6 ms more per 1200² frame
    (an extra copy, the empty-chunk scan, its I/O thread), which for noise-limited frames is
    more than the encoding itself. An array of another layout is written through zarr.
    """
    folder = store_path(output) / job_name / FRAMES
    layout = frames_layout(node_document(folder, "array")[0])
    if layout is None or frames.dtype != layout.dtype or frames.shape[1:] != layout.shape[1:]:
        return _write_with_zarr(folder, job_name, t0, frames)
    if layout.shard_frames:
        return _write_shard(folder, job_name, layout, t0, frames)
    if t0 % layout.chunk_frames:
        return _write_with_zarr(folder, job_name, t0, frames)
    if frames.shape[0] < layout.chunk_frames:  # the last chunk: zarr stores whole chunks, padded with the fill value
        padding = np.full((layout.chunk_frames - frames.shape[0], *frames.shape[1:]), layout.fill_value, frames.dtype)
        frames = np.concatenate([frames, padding])
    path = folder / layout.key(t0 // layout.chunk_frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded = layout.blosc.encode(np.ascontiguousarray(frames, dtype=frames.dtype.newbyteorder("<")))
    # the bytes reach the disk before the entry is written; the file's name and folders need no
    # fsync of their own: every run lists the chunk files, and one lost in a crash is recomputed
    write_bytes(path, encoded, sync_folder=False)
    return len(encoded)


def _whole_shard(job_name: str, t0: int, frames: np.ndarray, shard_frames: int, length: int) -> None:
    if t0 % shard_frames or frames.shape[0] != min(shard_frames, length - t0):
        raise ValueError(f"{job_name}: frames [{t0}, {t0 + frames.shape[0]}) are not one whole shard of {shard_frames}")


def _write_with_zarr(folder: Path, job_name: str, t0: int, frames: np.ndarray) -> int:
    """Through zarr's own write path (a sharded array: still one whole shard, so that zarr writes it
    without reading it back first)."""
    import zarr

    array = zarr.open_array(folder, mode="r+")
    unit = (array.shards or array.chunks)[0]
    if array.shards:
        _whole_shard(job_name, t0, frames, unit, array.shape[0])
    array[t0:t0 + frames.shape[0]] = frames
    path = folder / array.metadata.encode_chunk_key((t0 // unit, 0, 0))
    if not path.exists():  # (zarr does not write an all-zero chunk)
        return 0
    fsync_file(path)
    return path.stat().st_size


def encode_shard(frames: np.ndarray, chunk_frames: int, chunks_per_shard: int, fill_value, blosc) -> bytes:
    """A shard file as zarr's sharding codec writes it: the inner chunks (each padded to
    ``chunk_frames`` with the fill value and Blosc-encoded) one after the other, then the index —
    per inner chunk (offset, length) as little-endian uint64, 2^64 − 1 for a chunk not stored — and
    the index's CRC32C (little-endian uint32).

    ``frames`` may end before the shard does (the movie's last shard): inner chunks past its end
    are not stored, as zarr leaves them out. Unlike zarr, an inner chunk that is all fill value is
    stored too (zarr leaves it out); both decode to the same array.
    """
    import google_crc32c

    index = np.full((chunks_per_shard, 2), 2**64 - 1, dtype="<u8")
    parts, offset = [], 0
    for i, c0 in enumerate(range(0, frames.shape[0], chunk_frames)):
        block = frames[c0:c0 + chunk_frames]
        if block.shape[0] < chunk_frames:
            padding = np.full((chunk_frames - block.shape[0], *block.shape[1:]), fill_value, block.dtype)
            block = np.concatenate([block, padding])
        encoded = blosc.encode(np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("<")))
        index[i] = offset, len(encoded)
        parts.append(encoded)
        offset += len(encoded)
    index_bytes = index.tobytes()
    crc = np.uint32(google_crc32c.value(index_bytes)).astype("<u4").tobytes()
    return b"".join([*parts, index_bytes, crc])


def _write_shard(folder: Path, job_name: str, layout: FramesLayout, t0: int, frames: np.ndarray) -> int:
    """Write one whole shard (a single task owns it: never a partial shard), durably; returns its size.
    Encoded here as zarr's sharding codec does (tested byte for byte)."""
    _whole_shard(job_name, t0, frames, layout.shard_frames, layout.shape[0])
    encoded = encode_shard(frames, layout.chunk_frames, layout.shard_frames // layout.chunk_frames,
                           layout.fill_value, layout.blosc)
    path = folder / layout.key(t0 // layout.shard_frames)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, encoded, sync_folder=False)  # (as a chunk file: see write_chunk)
    return len(encoded)


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
