"""``run_sweep``: the Python face of ``python -m pipeline run`` (the CLI calls exactly this)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from .. import signals
from ..config import LoadedSweep, load_sweep
from ..errors import DiskFull, RunAborted, RunInterrupted, is_disk_full
from ..plan import check_memory, check_workers, plan_sweep
from ..store import CacheDir
from ..table import human_bytes
from .cluster import cluster_spec
from .execute import execute
from .preflight import bytes_to_write, free_bytes, preflight


@dataclass(frozen=True)
class JobResult:
    """One job's outcome: ``state`` is done, failed or interrupted (pending if never started)."""

    name: str
    state: str
    chunks_total: int
    chunks_computed: int
    chunks_reused: int
    exported: bool
    error: dict | None = None


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_sweep` did: per-job results, the output folder, warnings printed or not."""

    output: Path
    state: str  # done | failed
    jobs: dict[str, JobResult]
    warnings: list[str] = field(default_factory=list)
    disk_full: str | None = None  # some job failed on a full disk: where, and how much is left to write

    @property
    def ok(self) -> bool:
        return self.state == "done"

    @property
    def failed(self) -> list[JobResult]:
        return [j for j in self.jobs.values() if j.state == "failed"]

    @property
    def chunks_computed(self) -> int:
        return sum(j.chunks_computed for j in self.jobs.values())

    @property
    def chunks_reused(self) -> int:
        return sum(j.chunks_reused for j in self.jobs.values())


def run_sweep(sweep_or_path: LoadedSweep | str | Path, output: str | Path | None = None, workers: int | None = None,
              scheduler: str | None = None, client=None, resume: bool = True, jobs: str | None = None,
              progress: bool = True, force: bool = False) -> RunResult:
    """Run a sweep (every job's missing chunks, then its export) and return per-job results.

    Parameters
    ----------
    sweep_or_path
        A sweep file (``.toml`` or the original tool's ``.json``) or :func:`pipeline.load_sweep`'s result.
    output
        Output folder (default: ``sweep.output``, else ``runs/<name>`` under the current directory).
    workers, scheduler
        Local cluster size, or the address of an existing scheduler (override ``[cluster]``).
    client
        An existing :class:`distributed.Client` to run on (left open afterwards).
    resume
        False: recompute every chunk (``--no-resume``).
    jobs
        Only the jobs whose names match this shell pattern.
    progress
        Print what the CLI prints (first line, dashboard, progress, summary table).
    force
        Run even when the free disk space looks too small.

    Raises
    ------
    pipeline.errors.UserError
        Bad input, before anything is written.
    pipeline.errors.RunInterrupted
        SIGINT (Ctrl-C), SIGTERM or SIGHUP (``signal_name``, ``exit_code`` = 128 + its number); the
        output stays resumable. In the main thread the run handles these three signals itself and
        puts the previous handlers back when it returns.
    pipeline.errors.RunAborted
        The environment stopped the run (a full disk, an unwritable file); one line, resumable.
    """
    with signals.handling():
        try:
            signals.check()  # (a signal during the imports that something swallowed)
            return _run(sweep_or_path, output, workers, scheduler, client, resume, jobs, progress, force)
        except KeyboardInterrupt as exc:
            raise RunInterrupted.of(exc) from None


def _run(sweep_or_path, output, workers, scheduler, client, resume, jobs, progress, force) -> RunResult:
    echo = functools.partial(print, flush=True) if progress else (lambda *_: None)
    sweep = sweep_or_path if isinstance(sweep_or_path, LoadedSweep) else load_sweep(sweep_or_path)
    full = plan_sweep(sweep)
    plan = full.select(jobs)
    out = sweep.output_dir(output)
    spec = cluster_spec(sweep, workers, scheduler, out)
    warnings = [w for w in plan.warnings if "does not exist" not in w]  # (missing inputs are refused below)
    preflight(plan, out, spec.address, resume, force, output_given=output is not None)
    if not spec.address and client is None:
        check_workers(plan, spec.workers, spec.memory_limit, spec.memory_auto, spec.threads_per_worker,
                      spec.workers_option)
        warnings += check_memory(plan, spec.memory_limit, spec.threads_per_worker)
    for note in plan.notes:
        echo(f"note: {note}")
    for warning in warnings:
        echo(f"warning: {warning}")
    try:
        status = execute(plan, out, spec, resume, sweep_jobs={j.name for j in full.jobs}, client=client,
                         echo=echo, progress=progress)
    except Exception as exc:  # the environment stopped the run: one line (crashes of our own code keep their traceback)
        if is_disk_full(exc):
            raise RunAborted(disk_full_advice(plan, out, getattr(exc, "filename", None))) from None
        if isinstance(exc, OSError):
            raise RunAborted(f"{exc}; the run stopped (traceback in {out / 'status.json'}); "
                             "fix it, then run again to resume") from None
        raise
    results = {name: JobResult(name, js.state, js.chunks_total, js.chunks_computed, js.chunks_reused, js.exported,
                               js.error) for name, js in status.jobs.items()}
    full_disk = any(j.error and j.error["type"] == DiskFull.__name__ for j in results.values())
    return RunResult(output=out, state=status.state, jobs=results, warnings=warnings,
                     disk_full=disk_full_advice(plan, out) if full_disk else None)


def disk_full_advice(plan, output: Path, path: str | None = None) -> str:
    """One line for a full disk: where, how much the run still has to write, that it resumes."""
    need = bytes_to_write(plan, CacheDir(output))
    return (f"no space left on device in {path or output}: the run still has about {human_bytes(need)} to write "
            f"(store + OME-TIFF, uncompressed; {human_bytes(free_bytes(output))} free); free space, then run the "
            "same command again: it resumes")
