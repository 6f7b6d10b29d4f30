"""Reading a finished job back, one chunk at a time: its cache entries, stored frames and ground truth.

Every chunk read is checked against its cache entry (frames and ground truth by checksum).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..plan import Job
from ..store import (
    FRAMES, CacheDir, DamagedTruth, check_group, holds_chunk, holds_documents_of, same_frames, store_path, stored_chunks,
)
from .malloc import release_memory


def entries_of(output: Path, job: Job) -> list[dict]:
    """The cache entries of every chunk; RuntimeError naming the missing ones if the job is unfinished."""
    cache = CacheDir(output)
    entries, missing = [], []
    for t0, t1 in job.chunks:
        entry = cache.read_entry(job.fingerprint, t0, t1)
        if entry is None:
            missing.append((t0, t1))
        entries.append(entry)
    if missing:
        shown = ", ".join(f"[{t0}, {t1})" for t0, t1 in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise RuntimeError(
            f"job {job.name} is not finished: {len(missing)} of {len(job.chunks)} chunks have no cache entry "
            f"(frames {shown}); run the sweep again to finish it, then export"
        )
    return entries


def check_frames(output: Path, job: Job) -> None:
    """What :func:`frames_array` checks, without zarr (0.3-0.5 s to import, in a run's export task)
    where the group holds exactly the documents written for the job."""
    if not holds_documents_of(output, job):
        frames_array(output, job)


def frames_array(output: Path, job: Job):
    import zarr

    path = store_path(output) / job.name
    check_group(output, job.name)  # one line naming a damaged metadata file
    try:
        group = zarr.open_group(path, mode="r")
    except Exception:  # noqa: BLE001 - zarr raises several types for a missing group
        raise RuntimeError(f"job {job.name}: no group in {store_path(output)}") from None
    if group.attrs.get("fingerprint") != job.fingerprint:
        raise RuntimeError(
            f"job {job.name}: the store holds fingerprint {group.attrs.get('fingerprint')}, expected "
            f"{job.fingerprint} (the sweep changed since it ran; run it again)"
        )
    frames = group[FRAMES]
    if frames.shape != job.shape or frames.dtype != job.dtype:
        raise RuntimeError(f"job {job.name}: frames are {frames.shape} {frames.dtype}, expected {job.shape} {job.dtype}")
    return frames


def iter_chunks(output: Path, job: Job, entries: list[dict] | None = None,
                skip: frozenset[int] = frozenset()) -> Iterator[tuple[int, np.ndarray]]:
    """(t0, frames[t0:t1]) of every chunk (but those starting at a frame in ``skip``), read one chunk
    at a time; checked against the entries' checksums."""
    check_frames(output, job)
    array = None  # (opened through zarr for the first chunk read: a streamed export reads none)
    for i, (t0, t1) in enumerate(job.chunks):
        if t0 in skip:
            continue
        array = frames_array(output, job) if array is None else array
        block = array[t0:t1]
        if entries is not None and not same_frames(block, entries[i]["checksum"]):
            raise RuntimeError(
                f"job {job.name}: frames [{t0}, {t1}) do not match their cache entry's checksum "
                f"(the store was modified or is corrupt); run `python -m pipeline verify` and the sweep again"
            )
        yield t0, block
        del block
        release_memory()


def iter_frames(output: Path, job: Job, entries: list[dict] | None = None) -> Iterator[np.ndarray]:
    """Frames one by one, holding one chunk at a time."""
    for _, block in iter_chunks(output, job, entries):
        yield from block
        del block  # before the next chunk is read (and the freed memory trimmed)


def check_stored(output: Path, job: Job, entries: list[dict]) -> None:
    """RuntimeError when the store no longer holds a chunk as its entry recorded it (the run's cheap
    check, :func:`~pipeline.store.holds_chunk`): refused before an export touches anything."""
    stored = stored_chunks(output, job.name)
    missing = [entry["frames"] for entry in entries
               if not holds_chunk(entry, stored.get(entry["frames"][0] // job.unit_frames))]
    if missing:
        shown = ", ".join(f"[{t0}, {t1})" for t0, t1 in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise RuntimeError(f"job {job.name}: frames {shown} are no longer in the store as their cache entries "
                           "recorded them; run the sweep again (it recomputes them)")


def truth_rows(cache: CacheDir, job: Job, entry: dict) -> np.ndarray:
    """One chunk's ground-truth rows, read through its entry's checksum (and counted as the entry counts)."""
    t0, t1 = entry["frames"]
    try:
        rows = cache.read_truth(entry)
    except DamagedTruth as exc:
        raise RuntimeError(f"job {job.name}: ground truth of frames [{t0}, {t1}): {exc}; "
                           "run the sweep again (it recomputes that chunk)") from None
    if len(rows) != entry["localizations"]:
        raise RuntimeError(
            f"job {job.name}: ground truth of frames [{t0}, {t1}) has {len(rows)} rows, its cache entry says "
            f"{entry['localizations']}"
        )
    return rows


def iter_truth(output: Path, job: Job, entries: list[dict]) -> Iterator[np.ndarray]:
    """Ground-truth rows (``kernels.render.TRUTH_DTYPE``) chunk by chunk, each checked against its entry."""
    cache = CacheDir(output)
    for entry in entries:
        rows = truth_rows(cache, job, entry)
        yield rows
        del rows
        release_memory()
