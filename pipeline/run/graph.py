"""Lazy dask graphs of frame chunks.

Per job: one ``scene-<job>`` task (emitters, events, PSF, camera; built once and shared by every
chunk of the job) and one task per chunk. :func:`job_array` is the movie as a lazy
``dask.array`` (one block per chunk, for computing in a REPL); :func:`commit_tasks` are the
run's tasks, each of which renders a chunk, stores it and leaves its cache entry.
"""

from __future__ import annotations

import fnmatch
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import dask
import numpy as np

from kernels.crlb import truth_crlb
from kernels.render import render_chunk

from ..errors import naming_full_disk
from ..exports import TiffStream, csv_lines, export_job, open_stream, start_stream
from ..plan import Job
from ..scene import build_scene
from ..store import CacheDir, write_chunk, write_new_group
from ..store.cache import frames_summary
from .status import error_record


#: Fault injection for the reliability tests: the chunk tasks of jobs whose names match this
#: shell pattern raise (in the worker, like any bug would). Unset in normal use.
FAULT_ENV = "SMLM_SWEEP_FAULT"
#: ... and the chunk tasks of jobs matching this one kill their own worker process (SIGKILL), as
#: the kernel's OOM killer would
KILL_ENV = "SMLM_SWEEP_KILL"


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
    #: frames rendered at a time within a task's range (a sharded job's chunk), 0 = the range at once
    render_frames: int = 0


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


def _render(scene, t0: int, t1: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames and ground truth of [t0, t1), rendered ``step`` frames at a time (a shard chunk by chunk,
    so the render's working set stays that of one chunk): the same bytes, every stream being keyed by
    the absolute frame."""
    if not step or t1 - t0 <= step:
        return render_chunk(scene, t0, t1)
    parts = [render_chunk(scene, c0, min(c0 + step, t1)) for c0 in range(t0, t1, step)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def commit_chunk(scene, target: ChunkTarget, t0: int, t1: int, tiff: TiffStream | None = None,
                 csv: bool = True) -> dict:
    """Render frames [t0, t1), store them, then their ground truth, then the cache entry.

    ``tiff`` (else ``target.tiff``): the job's streamed OME-TIFF, which gets the frames too.
    ``csv``: also store the chunk's ThunderSTORM lines, formatted here so that the export of a job
    of many chunks only concatenates them; the export of a one-chunk job formats its one chunk
    itself (the same work, one file fewer per job).
    """
    start = time.perf_counter()
    tiff = tiff if tiff is not None else target.tiff
    pattern = os.environ.get(FAULT_ENV)
    if pattern and fnmatch.fnmatchcase(target.job_name, pattern):
        raise InjectedFault(f"injected fault in {target.job_name} frames [{t0}, {t1}) (${FAULT_ENV}={pattern})")
    if fnmatch.fnmatchcase(target.job_name, os.environ.get(KILL_ENV) or "\0"):
        os.kill(os.getpid(), signal.SIGKILL)
    frames, truth = _render(scene, t0, t1, target.render_frames)
    if target.crlb:
        truth = with_crlb(truth, truth_crlb(scene, truth))
    output = Path(target.output)
    cache = CacheDir(output)
    with naming_full_disk(output):  # (a bare ENOSPC from write() names no file)
        # the two copies of the frames (store, TIFF) go out in threads while this one sums them up
        # and writes the ground truth: a direct write leaves the CPU idle while the device works
        writer = _writer()
        writes = [writer.submit(write_chunk, output, target.job_name, t0, frames)]
        if tiff is not None:
            writes.append(writer.submit(tiff.write, t0, frames))
        try:
            summary = frames_summary(frames)
            truth_checksum = cache.write_truth(target.fingerprint, t0, t1, truth)
            csv_checksum = cache.write_csv_lines(target.fingerprint, t0, t1, csv_lines(truth)) if csv else None
        finally:
            wait(writes)  # (never leave a write behind a failed task: its retry writes there too)
        stored_bytes = writes[0].result()
        writes[-1].result()
        seconds = time.perf_counter() - start
        cache.write_entry(target.job_name, target.fingerprint, t0, t1, summary, truth_checksum, len(truth), seconds,
                          stored_bytes, csv_checksum)
    return {"job": target.job_name, "frames": [t0, t1], "seconds": seconds, "localizations": len(truth)}


_writers: dict[int, ThreadPoolExecutor] = {}


def _writer() -> ThreadPoolExecutor:
    """This process's threads for the chunk tasks' large writes (kept: each has its own aligned
    staging buffer for direct I/O, :mod:`pipeline.direct_io`)."""
    pid = os.getpid()  # (a forked child starts with none: threads do not survive a fork)
    if pid not in _writers:
        _writers[pid] = ThreadPoolExecutor(max_workers=8, thread_name_prefix="smlm-write")
    return _writers[pid]


def _target(job: Job, output: str) -> ChunkTarget:
    return ChunkTarget(output, job.name, job.fingerprint, None, job.config.render.crlb,
                       job.chunk_frames if job.shard_frames else 0)


def commit_whole_job(job: Job, target: ChunkTarget, t0: int, t1: int, token: str | None) -> dict:
    """The one chunk of a one-chunk job, scene and OME-TIFF layout included (``token``: the run's
    streamed TIFF, None when the TIFF is written from the store): one task instead of three, since
    for small jobs the scheduler's cost per task is the run's cost."""
    tiff = _lay_out(Path(target.output), job, token) if token is not None else None
    return commit_chunk(build_scene(job), target, t0, t1, tiff, csv=False)


def commit_tasks(job: Job, output: Path, chunks: list[tuple[int, int]], token: str, stream: bool = False) -> list:
    """Delayed commit tasks of the given chunks of a job (all sharing one scene task).

    ``token`` identifies the run (keys ``chunk-<job>-<fingerprint>-<token>-<index>``); with
    ``stream``, each task also puts its frames into the job's OME-TIFF, laid out by a task of its own
    (``tiff-<job>-<fingerprint>-<token>``, :func:`~pipeline.exports.start_stream`) on a worker.
    A job of one chunk is one task (:func:`commit_whole_job`).
    """
    if not chunks:
        return []
    target = _target(job, str(output))
    index = {c: i for i, c in enumerate(job.chunks)}
    tag = _tag(job, token)
    if len(job.chunks) == 1:
        ((t0, t1),) = chunks
        return [dask.delayed(commit_whole_job, pure=False)(job, target, t0, t1, token if stream else None,
                                                           dask_key_name=f"chunk-{tag}-00000")]
    scene = scene_task(job, token)
    tiff = dask.delayed(_lay_out, pure=False)(output, job, token, dask_key_name=f"tiff-{tag}") if stream else None
    return [
        dask.delayed(commit_chunk, pure=False)(scene, target, t0, t1, tiff,
                                               dask_key_name=f"chunk-{tag}-{index[(t0, t1)]:05d}")
        for t0, t1 in chunks
    ]


class SmallJobs:
    """The jobs of one :func:`run_small_jobs` task: (job, t0, t1, write its new group first), in an
    object dask does not walk into (it would inspect every field of every job when building the graph)."""

    def __init__(self, items: list[tuple[Job, int, int, bool]]):
        self.items = items


def run_small_jobs(batch: SmallJobs, output: str, token: str | None, compression: str,
                   tries: int = 3) -> list[dict]:
    """Several one-chunk jobs in one task, each rendered, committed and exported in turn.

    For jobs of a few milliseconds, the scheduler's cost per task (~1 ms, in the run process) and
    one round trip per task were the run's cost: a batch pays them once for many jobs. Each job
    stays on its own: its chunk and its export are tried ``tries`` times (as the run's own tasks
    are retried), and a job that still fails is reported in its outcome while the batch goes on.
    ``token``: the run's streamed OME-TIFFs (None: written from the store by the export).

    Returns one outcome per job: ``job``, ``frames``, ``committed``, ``exported``, ``error``
    (None, or type, message, traceback, time as status.json records it).
    """
    outcomes = []
    for job, t0, t1, new_group in batch.items:
        target = _target(job, output)
        outcome = {"job": job.name, "frames": t1 - t0, "committed": False, "exported": False, "error": None}
        outcome["committed"] = _tried(outcome, tries, _commit_small, job, target, t0, t1, token, new_group)
        if outcome["committed"]:
            outcome["exported"] = _tried(outcome, tries, export_task, Path(output), job, token=token,
                                         streamed=frozenset([t0]), compression=compression)
        outcomes.append(outcome)
    return outcomes


def _commit_small(job: Job, target: ChunkTarget, t0: int, t1: int, token: str | None, new_group: bool) -> None:
    if new_group:  # (the run left a new job's group to its task: written here, off the run process)
        with naming_full_disk(Path(target.output)):
            write_new_group(Path(target.output), job)
    commit_whole_job(job, target, t0, t1, token)


def _tried(outcome: dict, tries: int, call, *args, **kwargs) -> bool:
    """Call up to ``tries`` times; on the last failure, record it in ``outcome["error"]``."""
    for attempt in range(tries):
        try:
            call(*args, **kwargs)
            return True
        except Exception as exc:  # noqa: BLE001 - a job's failure is its outcome, not the batch's
            if attempt == tries - 1:
                outcome["error"] = error_record(exc)
    return False


def _lay_out(output: Path, job: Job, token: str) -> TiffStream:
    with naming_full_disk(output):
        return start_stream(output, job, token)


def export_task(output: Path, job: Job, token: str | None = None, **kwargs) -> dict:
    """:func:`pipeline.exports.export_job` as the run's export task (a full disk names the output).

    ``token``: the run whose chunk tasks streamed the job's OME-TIFF (its layout, if still there,
    is finished instead of writing the TIFF from the store).
    """
    with naming_full_disk(output):
        if token is not None:
            kwargs["stream"] = open_stream(output, job, token)
        return export_job(output, job, **kwargs)
