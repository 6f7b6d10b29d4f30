"""Lazy dask graphs of frame chunks.

Per job: one ``scene-<job>`` task (emitters, events, PSF, camera; built once and shared by every
chunk of the job) and one task per chunk. :func:`job_array` is the movie as a lazy
``dask.array`` (one block per chunk, for computing in a REPL); :func:`commit_tasks` are the
run's tasks, each of which renders a chunk, stores it and leaves its cache entry.
"""

from __future__ import annotations

import fnmatch
import os
import time
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np

from kernels.crlb import truth_crlb
from kernels.render import render_chunk

from ..errors import naming_full_disk
from ..exports import TiffStream, csv_lines, export_job
from ..plan import Job
from ..scene import build_scene
from ..store import CacheDir, write_chunk


#: Fault injection for the reliability tests: the chunk tasks of jobs whose names match this
#: shell pattern raise (in the worker, like any bug would). Unset in normal use.
FAULT_ENV = "SMLM_SWEEP_FAULT"


class InjectedFault(RuntimeError):
    """Raised by chunk tasks of jobs named by ``$SMLM_SWEEP_FAULT``."""


@dataclass(frozen=True)
class ChunkTarget:
    """Where a chunk's results go (small, pickled into every chunk task)."""

    output: str
    job_name: str
    fingerprint: str
    tiff: TiffStream | None = None  # the job's OME-TIFF being exported while it runs
    crlb: bool = False  # ground truth with each row's Cramér–Rao bounds (render.crlb)


def _tag(job: Job, token: str) -> str:
    """Readable and unique: the job's name, its fingerprint and the run, so that two runs sharing
    one scheduler never share a task."""
    return f"{job.name}-{job.fingerprint[:8]}-{token}"


def scene_task(job: Job, token: str = "lazy"):
    """The job's scene as a delayed value with a readable key."""
    return dask.delayed(build_scene, pure=True)(job, dask_key_name=f"scene-{_tag(job, token)}")


def _render_frames(scene, t0: int, t1: int) -> np.ndarray:
    return render_chunk(scene, t0, t1)[0]


def job_array(job: Job, scene=None) -> dask.array.Array:
    """The job's movie as a lazy (frames, Y, X) dask array, one block per chunk."""
    import dask.array as da  # (here: workers and the run never need it, and it imports pandas)

    scene = scene if scene is not None else scene_task(job)
    height, width = job.config.camera.roi_shape
    blocks = []
    for i, (t0, t1) in enumerate(job.chunks):
        value = dask.delayed(_render_frames, pure=True)(scene, t0, t1,
                                                        dask_key_name=f"render-{_tag(job, 'lazy')}-{i:05d}")
        blocks.append(da.from_delayed(value, shape=(t1 - t0, height, width), dtype=job.dtype))
    return da.concatenate(blocks, axis=0)


def with_crlb(truth: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """The ground-truth rows with the bound columns appended."""
    out = np.empty(len(truth), dtype=np.dtype(truth.dtype.descr + bounds.dtype.descr))
    for name in truth.dtype.names:
        out[name] = truth[name]
    for name in bounds.dtype.names:
        out[name] = bounds[name]
    return out


def commit_chunk(scene, target: ChunkTarget, t0: int, t1: int) -> dict:
    """Render frames [t0, t1), store them, then their ground truth, then the cache entry."""
    start = time.perf_counter()
    pattern = os.environ.get(FAULT_ENV)
    if pattern and fnmatch.fnmatchcase(target.job_name, pattern):
        raise InjectedFault(f"injected fault in {target.job_name} frames [{t0}, {t1}) (${FAULT_ENV}={pattern})")
    frames, truth = render_chunk(scene, t0, t1)
    if target.crlb:
        truth = with_crlb(truth, truth_crlb(scene, truth))
    output = Path(target.output)
    cache = CacheDir(output)
    with naming_full_disk(output):  # (a bare ENOSPC from write() names no file)
        stored_bytes = write_chunk(output, target.job_name, t0, frames)
        if target.tiff is not None:
            target.tiff.write(t0, frames)
        truth_checksum = cache.write_truth(target.fingerprint, t0, t1, truth)
        csv_checksum = cache.write_csv_lines(target.fingerprint, t0, t1, csv_lines(truth))
        seconds = time.perf_counter() - start
        cache.write_entry(target.job_name, target.fingerprint, t0, t1, frames, truth_checksum, len(truth), seconds,
                          stored_bytes, csv_checksum)
    return {"job": target.job_name, "frames": [t0, t1], "seconds": seconds, "localizations": len(truth)}


def commit_tasks(job: Job, output: Path, chunks: list[tuple[int, int]], token: str,
                 tiff: TiffStream | None = None) -> list:
    """Delayed commit tasks of the given chunks of a job (all sharing one scene task).

    ``token`` identifies the run (keys ``chunk-<job>-<fingerprint>-<token>-<index>``); with
    ``tiff``, each task also puts its frames into the job's OME-TIFF.
    """
    if not chunks:
        return []
    scene = scene_task(job, token)
    target = ChunkTarget(str(output), job.name, job.fingerprint, tiff, job.config.render.crlb)
    index = {c: i for i, c in enumerate(job.chunks)}
    return [
        dask.delayed(commit_chunk, pure=False)(scene, target, t0, t1,
                                               dask_key_name=f"chunk-{_tag(job, token)}-{index[(t0, t1)]:05d}")
        for t0, t1 in chunks
    ]


def export_task(output: Path, job: Job, **kwargs) -> dict:
    """:func:`pipeline.exports.export_job` as the run's export task (a full disk names the output)."""
    with naming_full_disk(output):
        return export_job(output, job, **kwargs)
