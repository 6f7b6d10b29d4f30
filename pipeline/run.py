"""``run``: preflight checks, then every job's missing chunks on a dask.distributed cluster.

Order of events: validate everything (nothing written on a refusal, exit 2) → take the output's
lock → prepare the Zarr groups → find chunks without a valid cache entry → submit all jobs'
chunk tasks together → follow them (progress, status.json, per-job failure isolation) →
consolidate the store's metadata → summary. Exit 0 / 1 (some job failed) / 130 (Ctrl-C).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

from distributed import as_completed

from . import atomic
from .cache import CacheDir
from .cluster import ClusterSpec, cluster_spec, connect
from .config import load_sweep
from .config.dump import to_toml
from .errors import UserError
from .export import MARKER, export_is_current, export_job, job_dir, start_stream
from .graph import commit_tasks
from .lock import RunLock
from .plan import Job, Plan, check_memory, chunk_bounds, plan_sweep
from .progress import Progress
from .scene import load_inputs
from .status import JobStatus, RunStatus, load_status, now, status_table
from .store import consolidate, fingerprint_index, job_groups, prepare_job
from .table import human_bytes


def _existing_ancestor(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def check_scheduler(address: str) -> None:
    """An existing scheduler must answer before anything is written."""
    import socket
    from urllib.parse import urlparse

    if not address.startswith("tcp://"):
        return  # other protocols: connecting is the only check
    url = urlparse(address)
    try:
        socket.create_connection((url.hostname, url.port), timeout=10).close()
    except (OSError, ValueError) as exc:
        raise UserError(f"scheduler {address} does not answer ({exc}); start it or fix --scheduler/cluster.address") from None


def check_output(output: Path, from_command_line: bool) -> None:
    """The output folder must be creatable and writable (``--output``'s parent must exist)."""
    if output.exists() and not output.is_dir():
        raise UserError(f"output {output} exists and is not a folder")
    if from_command_line and not output.parent.is_dir():
        raise UserError(f"--output {output}: parent folder {output.parent} does not exist")
    anchor = _existing_ancestor(output)
    try:  # os.access says yes to root even where the file system refuses (read-only mounts, /proc)
        with tempfile.TemporaryFile(dir=anchor):
            pass
    except OSError:
        raise UserError(f"output {output}: {anchor} is not writable") from None


def check_inputs(plan: Plan) -> None:
    """Every input file of every job exists and is valid for that job (else exit 2, path named)."""
    seen = set()
    for job in plan.jobs:
        if job.missing_inputs:
            raise UserError(f"input file {job.missing_inputs[0]} does not exist (needed by {job.name})")
        c = job.config
        key = (c.optics.zmap_path if c.optics.psf == "zernike" else "", c.camera.maps_path,
               c.emitters.positions_file, c.camera.roi_shape)
        if key not in seen:
            seen.add(key)
            load_inputs(c)


def remaining_chunks(job: Job, cache: CacheDir, resume: bool) -> list[tuple[int, int]]:
    if not resume or not cache.chunks.is_dir():
        return list(job.chunks)
    return [(t0, t1) for t0, t1 in job.chunks if cache.read_entry(job.fingerprint, t0, t1) is None]


def check_disk(plan: Plan, output: Path, cache: CacheDir, resume: bool, force: bool) -> None:
    """Refuse when the store + OME-TIFF of the remaining chunks (uncompressed) exceed the free space."""
    need = 0
    for job in plan.jobs:
        frames = sum(t1 - t0 for t0, t1 in remaining_chunks(job, cache, resume))
        need += 2 * frames * job.nbytes // job.frames
    free = shutil.disk_usage(_existing_ancestor(output)).free
    if need > free and not force:
        raise UserError(f"output {output}: the sweep needs up to {human_bytes(need)} (store + OME-TIFF, "
                        f"uncompressed) but only {human_bytes(free)} is free; use --force to run anyway")


def _drop_entries(cache: CacheDir, job: Job, chunk_frames: int) -> None:
    """Forget the chunks of a job's former layout: its array was rebuilt, their bytes are gone."""
    for t0, t1 in chunk_bounds(job.frames, chunk_frames):
        cache.entry_path(job.fingerprint, t0, t1).unlink(missing_ok=True)


def _move_export(output: Path, old: str, new: str) -> None:
    """A renamed job's export folder follows it; it is re-exported, since its files carry the name."""
    source, target = job_dir(output, old), job_dir(output, new)
    if source.is_dir() and not target.exists():
        os.replace(source, target)
        (target / MARKER).unlink(missing_ok=True)


def _stale_groups(output: Path, sweep_jobs: set[str]) -> list[str]:
    """Groups in the store that are no job of the sweep (a ``--jobs`` subset does not make others stale)."""
    return [name for name in job_groups(output) if name not in sweep_jobs]


def run_command(args) -> int:
    sweep = load_sweep(args.sweep)
    full = plan_sweep(sweep)
    plan = full.select(args.jobs)
    output = sweep.output_dir(args.output)
    spec = cluster_spec(sweep, args.workers, args.scheduler, output)
    for warning in plan.warnings:
        if "does not exist" not in warning:
            print(f"warning: {warning}")
    check_output(output, from_command_line=bool(args.output))
    check_inputs(plan)
    if spec.address:
        check_scheduler(spec.address)
    if not spec.address:
        for warning in check_memory(plan, spec.memory_limit, spec.threads_per_worker):
            print(f"warning: {warning}")
    resume = not args.no_resume
    check_disk(plan, output, CacheDir(output), resume, args.force)
    return execute(plan, output, spec, resume, sweep_jobs={j.name for j in full.jobs})


def execute(plan: Plan, output: Path, spec: ClusterSpec, resume: bool, sweep_jobs: set[str] | None = None) -> int:
    """Run a validated plan into ``output``; returns the exit code."""
    output.mkdir(parents=True, exist_ok=True)
    lock = RunLock(output)
    lock.acquire()
    if lock.message:
        print(lock.message)
    status = RunStatus(sweep=plan.name, output=str(output),
                       jobs={j.name: JobStatus(j.name, j.fingerprint, len(j.chunks)) for j in plan.jobs})
    previous = load_status(output) or {}
    status.others = [j for j in previous.get("jobs", [])
                     if j.get("name") in (sweep_jobs or set()) and j.get("name") not in status.jobs]
    try:
        atomic.write_bytes(output / "sweep.toml", to_toml(plan.sweep.model.model_dump(mode="json")).encode())
        cache = CacheDir(output)
        cache.ensure()
        (output / "jobs").mkdir(exist_ok=True)
        todo, to_export = {}, set()
        groups = fingerprint_index(output)
        for job in plan.jobs:
            prepared = prepare_job(output, job, groups)
            if prepared.old_chunk_frames:
                _drop_entries(cache, job, prepared.old_chunk_frames)
            if prepared.moved_from:
                _move_export(output, prepared.moved_from, job.name)
            todo[job.name] = remaining_chunks(job, cache, resume)
            js = status.jobs[job.name]
            js.chunks_reused = js.chunks_done = len(job.chunks) - len(todo[job.name])
            if todo[job.name] or not export_is_current(output, job):
                to_export.add(job.name)
            js.exported = job.name not in to_export
            js.state = "pending" if job.name in to_export else "done"
        status.stale = _stale_groups(output, sweep_jobs or {j.name for j in plan.jobs})
        status.save()
        computed = sum(len(c) for c in todo.values())
        print(f"sweep {plan.name!r}: {len(plan.jobs)} jobs, {computed} chunks to compute, "
              f"{sum(len(j.chunks) for j in plan.jobs) - computed} reused, {len(to_export)} exports -> {output}")
        if to_export:
            _compute(plan, output, spec, todo, to_export, status)
        failed = [j for j in status.jobs.values() if j.state == "failed"]
        status.state = "failed" if failed else "done"
        status.finished = now()
        status.save()
        cache.write_summary(_summary_counts(status))
        print(status_table(atomic.read_json(status.path)))
        for job in failed:
            print(f"failed: {job.name}: {job.error['type']}: {job.error['message']}", file=sys.stderr)
        return 1 if failed else 0
    except KeyboardInterrupt:
        status.state = "interrupted"
        status.finished = now()
        for js in status.jobs.values():
            if js.state in ("pending", "running"):
                js.state = "interrupted"
        status.save()
        print("\ninterrupted: finished chunks are kept; run again to resume", file=sys.stderr)
        return 130
    except BaseException as exc:
        status.state = "crashed"
        status.finished = now()
        status.error = {"type": type(exc).__name__, "message": str(exc),
                        "traceback": traceback.format_exc(), "time": now()}
        status.save()
        raise
    finally:
        try:  # also after Ctrl-C or a crash: groups may have been created, moved or rebuilt
            consolidate(output)
        finally:
            lock.release()


def _summary_counts(status: RunStatus) -> dict:
    jobs = status.jobs.values()
    return {"jobs": len(status.jobs), "chunks_total": sum(j.chunks_total for j in jobs),
            "chunks_computed": sum(j.chunks_computed for j in jobs),
            "chunks_reused": sum(j.chunks_reused for j in jobs),
            "jobs_failed": sum(j.state == "failed" for j in jobs), "time": now()}


def _compute(plan: Plan, output: Path, spec: ClusterSpec, todo: dict, to_export: set[str], status: RunStatus) -> None:
    """Submit every missing chunk, then each job's export as soon as its chunks are done."""
    jobs = {j.name: j for j in plan.jobs}
    with connect(spec) as client:
        print(f"dashboard: {client.dashboard_link}", flush=True)
        tasks, owner = [], {}
        token = uuid.uuid4().hex[:6]
        streams = {name: start_stream(output, jobs[name], token) for name, chunks in todo.items() if chunks}
        for name, chunks in todo.items():
            for task, (t0, t1) in zip(commit_tasks(jobs[name], output, chunks, token, streams.get(name)), chunks):
                tasks.append(task)
                owner[task.key] = (name, t1 - t0)
        started = time.monotonic()
        futures = client.compute(tasks, retries=2)
        exports = {}

        def export(name: str) -> None:
            streamed = frozenset(t0 for t0, _ in todo[name])
            future = client.submit(export_job, output, jobs[name], stream=streams.get(name), streamed=streamed,
                                   pure=False, key=f"export-{name}-{token}")
            exports[future.key] = name
            pending.add(future)

        pending = as_completed(futures)
        for name, chunks in todo.items():  # (every job with chunks to compute is in to_export)
            if name in to_export:
                status.jobs[name].state = "running"
                if not chunks:
                    export(name)
        progress = Progress(len(tasks), sum(n for _, n in owner.values()))
        last_save = 0.0
        try:
            for future in pending:
                if future.key in exports:
                    js = status.jobs[exports[future.key]]
                    if future.status == "finished":
                        js.exported, js.state = True, "done"
                    else:
                        js.fail(future.exception(), future.traceback())
                    continue
                name, frames = owner[future.key]
                js = status.jobs[name]
                if future.status == "finished":
                    js.chunks_done += 1
                    js.chunks_computed += 1
                    js.frames += frames
                    progress.update(chunks=1, frames=frames)
                    if js.chunks_done == js.chunks_total:
                        export(name)
                else:
                    if js.error is None:  # the job's first failing chunk is its error
                        js.fail(future.exception(), future.traceback())
                    progress.update(failed=1)
                js.seconds = round(time.monotonic() - started, 2)
                if time.monotonic() - last_save > 0.5:
                    status.save()
                    last_save = time.monotonic()
        except KeyboardInterrupt:
            client.cancel(futures + list(pending.futures))
            raise
        finally:
            progress.close()
        status.save()
