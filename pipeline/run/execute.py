"""Executing a validated plan: every job's missing chunks on a dask.distributed cluster, then its export.

Order of events: take the output's lock → prepare the Zarr groups → find chunks without a valid
cache entry → submit all jobs' chunk tasks together → follow them (progress, status.json,
per-job failure isolation), exporting each job as soon as its chunks are done → consolidate the
store's metadata. SIGINT, SIGTERM and SIGHUP (:mod:`pipeline.signals`) leave a consistent,
resumable state: futures cancelled, status "interrupted" naming the signal, cluster closed, lock
released.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dask
from distributed import as_completed

from .. import atomic, signals
from ..clock import now
from ..config.dump import to_toml
from ..exports import export_compression, export_is_current, forget_export, job_dir
from ..plan import Job, Plan, chunk_bounds
from ..store import (
    FRAMES, CacheDir, consolidate, fingerprint_index, group_folders, prepare_job, repair_root, store_path,
    stored_chunks,
)
from .cluster import ClusterSpec, connect
from .graph import SmallJobs, commit_tasks, export_task, run_small_jobs
from .lock import RunLock
from .preflight import check_chunks
from .progress import Progress
from .status import JobStatus, RunStatus, SaveSchedule, read_status, status_table


def _drop_entries(cache: CacheDir, job: Job, chunk_frames: int) -> None:
    """Forget the chunks of a job's former layout: its array was rebuilt, their bytes are gone."""
    for t0, t1 in chunk_bounds(job.frames, chunk_frames):
        cache.entry_path(job.fingerprint, t0, t1).unlink(missing_ok=True)


def _move_export(output: Path, old: str, new: str) -> None:
    """A renamed job's export folder follows it; it is re-exported, since its files carry the name."""
    source, target = job_dir(output, old), job_dir(output, new)
    if source.is_dir() and not target.exists():
        os.replace(source, target)
        forget_export(output, new)


@dataclass
class Work:
    """What a run has to do: per job the chunks to compute, and the jobs to export."""

    todo: dict[str, list[tuple[int, int]]]
    to_export: set[str]
    new_groups: set[str] = field(default_factory=set)  # groups the jobs' tasks write (prepare_job defer)

    @property
    def chunks(self) -> int:
        return sum(len(c) for c in self.todo.values())


def _forget_stale(cache: CacheDir, job: Job, stale: dict[tuple[int, int], str], echo: Callable[[str], None]) -> None:
    """Entries whose chunk files are no longer what they say are removed (an entry ⇒ its chunk is
    in the store), and said so: the run recomputes those chunks."""
    for t0, t1 in stale:
        cache.entry_path(job.fingerprint, t0, t1).unlink(missing_ok=True)
    if stale:
        reasons = ", ".join(f"{why}: {n}" for why, n in Counter(stale.values()).items())
        echo(f"{job.name}: recomputing {len(stale)} finished chunk(s) whose files no longer match their "
             f"entries ({reasons})")


def _open_frames(output: Path, job: Job):
    import zarr  # (here: only a group whose metadata was rebuilt needs it)

    return zarr.open_array(store_path(output) / job.name / FRAMES, mode="r")


def _prepare(plan: Plan, output: Path, resume: bool, status: RunStatus, echo: Callable[[str], None]) -> Work:
    """Create or keep every job's group (rebuilding damaged metadata), and find the chunks and exports still to do."""
    atomic.write_bytes(output / "sweep.toml", to_toml(plan.sweep.model.model_dump(mode="json")).encode())
    compression = export_compression(output)
    cache = CacheDir(output)
    cache.ensure()
    (output / "jobs").mkdir(exist_ok=True)
    work = Work({}, set())
    repaired = repair_root(output)
    if repaired:
        echo(repaired)
    groups = fingerprint_index(output)
    keys = cache.entry_keys()
    for job in plan.jobs:
        prepared = prepare_job(output, job, groups, defer=True)
        if prepared.deferred:
            work.new_groups.add(job.name)
        for line in prepared.rebuilt:
            echo(line)
        if prepared.old_chunk_frames:
            _drop_entries(cache, job, prepared.old_chunk_frames)
        if prepared.moved_from:
            _move_export(output, prepared.moved_from, job.name)
        frames = _open_frames(output, job) if prepared.unsure else None
        check = check_chunks(job, cache, stored_chunks(output, job.name), resume, frames, keys)
        _forget_stale(cache, job, check.stale, echo)
        work.todo[job.name] = check.todo
        js = status.jobs[job.name]
        js.chunks_reused = js.chunks_done = len(check.done)
        if check.todo or not export_is_current(output, job, check.entries, compression):
            work.to_export.add(job.name)
        js.exported = job.name not in work.to_export
        js.state = "pending" if job.name in work.to_export else "done"
    return work


def execute(plan: Plan, output: Path, spec: ClusterSpec, resume: bool, sweep_jobs: set[str] | None = None,
            client=None, echo: Callable[[str], None] = print, progress: bool = True) -> RunStatus:
    """Run a validated plan into ``output``; returns the final status (state done, failed or interrupted).

    ``client``: an existing :class:`distributed.Client` to use (kept open); otherwise ``spec`` says
    which cluster to start or connect to.
    """
    output.mkdir(parents=True, exist_ok=True)
    with RunLock(output) as lock:
        if lock.message:
            echo(lock.message)
        status = RunStatus(sweep=plan.name, output=str(output), subset=plan.subset,
                           jobs={j.name: JobStatus(j.name, j.fingerprint, len(j.chunks)) for j in plan.jobs})
        previous, damaged = read_status(output)
        if damaged:
            echo(f"status.json: {damaged}; rebuilt")
        previous = previous or {}
        failing = False
        status.others = [j for j in previous.get("jobs", [])
                         if j.get("name") in (sweep_jobs or set()) and j.get("name") not in status.jobs]
        try:
            with signals.at_forced_exit(lambda name: (status.interrupt(name), lock.release())):
                _execute(plan, output, spec, resume, sweep_jobs, client, echo, progress, status)
            return status
        except KeyboardInterrupt as exc:  # SIGINT, SIGTERM or SIGHUP (pipeline.signals)
            failing = True
            status.interrupt(signals.describe(exc)[0])
            raise
        except BaseException as exc:
            failing = True
            status.state = "crashed"
            status.finished = now()
            status.error = {"type": type(exc).__name__, "message": str(exc),
                            "traceback": traceback.format_exc(), "time": now()}
            with contextlib.suppress(OSError):  # a full disk refuses this too: then the crash itself is the news
                status.save()
            raise
        finally:  # also after a signal or a crash: groups may have been created, moved or rebuilt
            try:
                note = consolidate(output)
            except OSError:
                if not failing:  # (never hide why the run stopped behind a second full-disk error)
                    raise
            else:
                if note:
                    echo(note)


def _execute(plan: Plan, output: Path, spec: ClusterSpec, resume: bool, sweep_jobs: set[str] | None, client,
             echo: Callable[[str], None], progress: bool, status: RunStatus) -> None:
    """The steps of a run, between taking the output's lock and releasing it."""
    work = _prepare(plan, output, resume, status, echo)
    status.stale = [name for name in group_folders(output) if name not in (sweep_jobs or status.jobs)]
    status.save()
    total = sum(len(j.chunks) for j in plan.jobs)
    todo = f"{work.chunks} chunks to compute" if work.chunks else "nothing to compute"
    echo(f"sweep {plan.name!r}: {len(plan.jobs)} jobs, {todo}, {total - work.chunks} chunks reused, "
         f"{len(work.to_export)} exports -> {output}")
    if work.to_export:
        signals.check()
        with connect(spec, client) as c:
            echo(f"dashboard: {c.dashboard_link}{_moved(spec, c.dashboard_link)}")
            with warnings.catch_warnings():
                # the tasks hold the jobs' descriptions (~2 KB each: 22 MB for 10^4 jobs), never
                # frames: distributed's advice past 10 MB (load the data with dask) is not for them
                warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
                _compute(c, plan, output, work, status, progress)
    failed = any(j.state == "failed" for j in status.jobs.values())
    status.state = "failed" if failed else "done"
    status.finished = now()
    status.save()
    cache_summary(output, status)
    echo(status_table(atomic.read_json(status.path)))


def _moved(spec: ClusterSpec, link: str) -> str:
    """Say so when the local dashboard took another port than the configured (taken) one."""
    from urllib.parse import urlparse

    wanted = spec.dashboard_address.rpartition(":")[2]
    port = urlparse(link).port
    if spec.address or wanted in ("", "0") or port is None or str(port) == wanted:
        return ""
    return f" (port {wanted} was taken)"


def cache_summary(output: Path, status: RunStatus) -> None:
    jobs = status.jobs.values()
    CacheDir(output).write_summary({
        "jobs": len(status.jobs), "chunks_total": sum(j.chunks_total for j in jobs),
        "chunks_computed": sum(j.chunks_computed for j in jobs), "chunks_reused": sum(j.chunks_reused for j in jobs),
        "jobs_failed": sum(j.state == "failed" for j in jobs), "time": now()})


#: one-chunk jobs per batch task (run_small_jobs): enough to pay the scheduler's cost per task once
#: for many small jobs, few enough that every worker gets several batches
BATCH_MAX = 64


def batch_sizes(jobs: int, workers: int) -> list[int]:
    """How many one-chunk jobs go into each batch: about 8 batches per worker, at most ``BATCH_MAX``
    jobs each, sizes differing by at most one."""
    if jobs == 0:
        return []
    batches = max(-(-jobs // BATCH_MAX), min(jobs, 8 * max(1, workers)))
    small, extra = divmod(jobs, batches)
    return [small + 1] * extra + [small] * (batches - extra)


class _Run:
    """The futures of one run: chunk tasks (and which job and frames each is), batches of one-chunk
    jobs, export tasks."""

    def __init__(self, client, plan: Plan, output: Path, work: Work):
        self.client, self.output, self.work = client, output, work
        self.jobs = {j.name: j for j in plan.jobs}
        self.token = uuid.uuid4().hex[:6]
        # chunk tasks fill the job's OME-TIFF as they go only when it is uncompressed (its pixels then
        # lie at fixed offsets); a compressed one is written from the store by the export task
        self.compression = export_compression(output)
        self.streamed = {name for name, chunks in work.todo.items() if chunks and self.compression == "none"}
        # new one-chunk jobs are rendered and exported in batches (run_small_jobs), the others chunk by chunk
        small = [name for name, chunks in work.todo.items()
                 if len(self.jobs[name].chunks) == 1 and len(chunks) == 1 and name in work.to_export]
        tasks, self.owner, self.batches = [], {}, {}
        for name, chunks in work.todo.items():
            if name in small:
                continue
            for task, (t0, t1) in zip(commit_tasks(self.jobs[name], output, chunks, self.token,
                                                   stream=name in self.streamed), chunks):
                tasks.append(task)
                self.owner[task.key] = (name, t1 - t0)
        start = 0
        workers = sum(client.nthreads().values()) if small else 0
        for i, size in enumerate(batch_sizes(len(small), workers)):
            names = small[start:start + size]
            start += size
            batch = SmallJobs([(self.jobs[name], *work.todo[name][0], name in work.new_groups) for name in names])
            tasks.append(dask.delayed(run_small_jobs, pure=False)(
                batch, str(output), self.token if self.compression == "none" else None, self.compression,
                dask_key_name=f"jobs-{self.token}-{i:05d}"))
            self.batches[tasks[-1].key] = names
        self.futures = client.compute(tasks, retries=2)
        self.pending = as_completed(self.futures)
        self.exports: dict[str, str] = {}

    @property
    def chunks(self) -> int:
        return len(self.owner) + sum(len(names) for names in self.batches.values())

    @property
    def frames(self) -> int:
        return (sum(n for _, n in self.owner.values())
                + sum(self.jobs[name].frames for names in self.batches.values() for name in names))

    def export(self, name: str) -> None:
        """Submit a job's export (after its last chunk)."""
        streamed = frozenset(t0 for t0, _ in self.work.todo[name])
        future = self.client.submit(export_task, self.output, self.jobs[name],
                                    token=self.token if name in self.streamed else None,
                                    streamed=streamed, compression=self.compression, pure=False,
                                    key=f"export-{name}-{self.token}")
        self.exports[future.key] = name
        self.pending.add(future)

    def split(self, names: list[str]) -> list[str]:
        """After a batch failed as a whole (a job that kills its worker takes the batch with it):
        the jobs it finished anyway (chunk and export on disk), which are returned; the others are
        submitted again, one batch each, so that the failing job fails alone."""
        finished, cache = [], CacheDir(self.output)
        for name in names:
            job = self.jobs[name]
            check = check_chunks(job, cache, stored_chunks(self.output, name))
            if not check.todo and export_is_current(self.output, job, check.entries, self.compression):
                finished.append(name)
                continue
            batch = SmallJobs([(job, *self.work.todo[name][0], name in self.work.new_groups)])
            future = self.client.submit(run_small_jobs, batch, str(self.output),
                                        self.token if self.compression == "none" else None, self.compression,
                                        retries=0, pure=False, key=f"jobs-{self.token}-{name}")  # (its batch had its tries)
            self.batches[future.key] = [name]
            self.pending.add(future)
        return finished

    def cancel(self) -> None:
        self.client.cancel(self.futures + list(self.pending.futures))


def _compute(client, plan: Plan, output: Path, work: Work, status: RunStatus, show_progress: bool) -> None:
    """Submit every missing chunk, then each job's export as soon as its chunks are done."""
    run = _Run(client, plan, output, work)
    for name, chunks in work.todo.items():  # (every job with chunks to compute is in to_export)
        if name in work.to_export:
            status.jobs[name].state = "running"
            if not chunks:
                run.export(name)
    progress = Progress(run.chunks, run.frames, enabled=show_progress)
    started, schedule = time.monotonic(), SaveSchedule()
    try:
        for future in run.pending:
            _record(run, future, status, progress)
            for name in [run.owner[future.key][0]] if future.key in run.owner else run.batches.get(future.key, ()):
                status.jobs[name].seconds = round(time.monotonic() - started, 2)
            if schedule.due():  # (status.json is O(jobs): saved at a rate bounded by its cost)
                schedule.save(status)
    except KeyboardInterrupt as exc:
        run.cancel()
        # recorded before the cluster closes (seconds, more while a worker finishes its task): a
        # second signal or the SIGKILL that follows a SIGTERM (SLURM, docker) finds it said already
        status.interrupt(signals.describe(exc)[0])
        raise
    finally:
        progress.close()
    status.save()


def _record(run: _Run, future, status: RunStatus, progress: Progress) -> None:
    """Book one finished future: an export, a batch of small jobs, or a chunk (whose job is exported
    after its last chunk)."""
    if future.key in run.batches:
        _record_batch(run, future, status, progress)
        return
    if future.key in run.exports:
        js, error = status.jobs[run.exports[future.key]], task_error(future)
        if error is None:
            js.exported, js.state = True, "done"
        else:
            js.fail(error, future.traceback())
        return
    name, frames = run.owner[future.key]
    js, error = status.jobs[name], task_error(future)
    if error is None:
        _computed(js, frames, progress)
        if js.chunks_done == js.chunks_total:
            run.export(name)
    else:
        if js.error is None:  # the job's first failing chunk is its error
            js.fail(error, future.traceback())
        progress.update(failed=1)


def task_error(future) -> BaseException | None:
    """What failed the task of a future that ``as_completed`` gave back; None if it finished.

    Its status may have moved on since: a worker that dies after the task finished loses the result
    it held ("lost", then "pending" while the scheduler computes it again for us). The task's work
    is on disk all the same (chunk tasks and exports return nothing the run needs), so it counts as
    finished, and the future is cancelled so that the scheduler does not compute it a second time.
    """
    if future.status == "error":
        return future.exception()
    if future.status == "cancelled":
        return FutureCancelled(f"task {future.key} was cancelled by the scheduler")
    if future.status != "finished":
        future.cancel()
    return None


class FutureCancelled(RuntimeError):
    """A task the scheduler cancelled, not the run (a run that cancels its tasks is interrupted)."""


def _computed(js: JobStatus, frames: int, progress: Progress) -> None:
    """Book one chunk of ``frames`` frames computed by this run."""
    js.chunks_done += 1
    js.chunks_computed += 1
    js.frames += frames
    progress.update(chunks=1, frames=frames)


def _record_batch(run: _Run, future, status: RunStatus, progress: Progress) -> None:
    """Book a batch of one-chunk jobs: each job's outcome; a batch that failed as a whole is split
    (:meth:`_Run.split`), a job alone in its batch fails with the batch's error."""
    names, error = run.batches[future.key], task_error(future)
    if future.status != "finished":  # failed, or its outcomes lost with a worker (error None: on disk)
        if error is not None and len(names) == 1:
            status.jobs[names[0]].fail(error, future.traceback())
            progress.update(failed=1)
            return
        for name in run.split(names):
            js = status.jobs[name]
            _computed(js, run.jobs[name].frames, progress)
            js.exported, js.state = True, "done"
        return
    for outcome in future.result():
        js = status.jobs[outcome["job"]]
        if outcome["committed"]:
            _computed(js, outcome["frames"], progress)
        else:
            progress.update(failed=1)
        if outcome["exported"]:
            js.exported, js.state = True, "done"
        else:
            js.state, js.error = "failed", outcome["error"]
