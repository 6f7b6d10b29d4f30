"""Training-set-sized sweeps (issue 20): many small jobs, one long job, and the start-up time (not a test).

(a) ``--jobs N`` small jobs: a ``[random]`` design of N draws (:data:`DESIGN`: emitters, photons and
    background drawn per job), each 32x32 px x 100 frames in one chunk, Gaussian PSF. Planned and
    run in this process (``pipeline.plan_sweep``,
    ``pipeline.run_sweep``), so that the run process's own CPU time can be read: the client, the
    scheduler (a LocalCluster's scheduler lives in the run process) and the progress loop. The
    *client overhead per job* is (CPU of the N-job run - CPU of a 1-job run) / (N - 1): the fixed
    start-up is taken out, what is left grows with the jobs. The 1-job run is the process's second
    (the first imports what later runs find imported), and the memory sampler's thread CPU is
    taken out of both (each sample costs ~1.5 ms: 3 % of a core at 20 Hz, more in a longer run).
(b) ``--frames F`` frames of one 64x64 job (~20 emitters per frame, Gaussian PSF, the layout ``plan``
    chooses: chunks of >= 1 MiB in shards, since render.chunk_frames is not set).
(c) start-up: ``python -m pipeline run`` of a one-job sweep as a subprocess, from its start to the
    first cache entry on disk (= the first finished chunk).

(a) also runs its sweep a second time, with every chunk reused: the wall and CPU time per job of
what a resumed or extended sweep pays for the jobs it keeps.

For each: frames/s, emitter-frames/s per worker (ground-truth rows = emitter-frames), files written
(per small job; per 10^4 frames), and the peak RSS of the worker processes (sampled every 50 ms and
their VmHWM), each against the issue's target with met / NOT met. Outputs go to a temporary folder,
deleted at the end.

    python benchmarks/training_set.py [--jobs 10000] [--frames 1000000] [--workers 2] [--skip-small]
                                      [--skip-long] [--tmpdir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # (worker processes import this file again)
import _common as C  # noqa: E402  (also takes benchmarks/ off sys.path again)
import psutil  # noqa: E402

from pipeline.forkserver import worker_processes  # noqa: E402


#: what (a) draws per job: a training set's spread of density, brightness and background
DESIGN = {"emitters.num_emitters": {"distribution": "uniform", "low": 5, "high": 40},
          "emitters.intensity_mu": {"distribution": "log-uniform", "low": 500.0, "high": 5000.0},
          "camera.background": {"distribution": "log-uniform", "low": 2.0, "high": 100.0}}


def long_job(frames: int) -> dict:
    # ~20 emitters on per frame: each is on ~2.5 frames (single blinking)
    return {"emitters": {"num_emitters": 8 * frames, "frames": frames, "area_px": 64.0},
            "optics": {"psf": "gaussian", "psf_radius_px": 4}, "camera": {"roi_size": 64, "background": 20.0}}


class PeakRSS:
    """Peak RSS of this process's descendant worker processes, sampled in a thread; ``cpu`` is the
    thread's own CPU seconds (1.5 ms or more per sample: not the run's, subtracted from it)."""

    def __init__(self):
        self.peak, self.cpu, self._stop = 0, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        me, start = os.getpid(), time.thread_time()
        while not self._stop.is_set():
            for child in worker_processes(me):
                try:
                    self.peak = max(self.peak, child.memory_info().rss, _hwm(child.pid))
                except (psutil.Error, OSError):
                    pass
            self.cpu = time.thread_time() - start
            self._stop.wait(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def _run(path: Path, output: Path, workers: int):
    import pipeline

    sweep = pipeline.load_sweep(path)
    t0 = time.perf_counter()
    plan = pipeline.plan_sweep(sweep)
    plan_s = time.perf_counter() - t0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with PeakRSS() as rss:
        result = pipeline.run_sweep(sweep, output=output, workers=workers, progress=False)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0 - rss.cpu
    assert result.ok, [j.error for j in result.failed][:1]
    return plan, plan_s, wall, cpu, rss.peak


def small_jobs(folder: Path, n: int, workers: int) -> None:
    rows = []
    one = C.write_sweep(folder, "small1", C.SMALL_JOB, random={"n": 1, **DESIGN})
    _run(one, folder / "small1-warm", workers)  # imports what a run imports once per process
    _, _, _, cpu_one, _ = _run(one, folder / "small1", workers)  # the fixed cost of a run
    path = C.write_sweep(folder, "small", C.SMALL_JOB, random={"n": n, **DESIGN})
    plan, plan_s, wall, cpu, peak = _run(path, folder / "small", workers)
    frames = n * 100
    locs = C.localizations(folder / "small")
    overhead_ms = (cpu - cpu_one) / (n - 1) * 1e3
    files = _files(folder / "small") / n
    # the same sweep again: every chunk reused, nothing exported (what a resumed or extended
    # sweep pays for the jobs it keeps: status, preflight, groups, cache entries, consolidation)
    _, _, again_wall, again_cpu, _ = _run(path, folder / "small", workers)
    print(f"(a) {n} small jobs of a random design (32x32 x 100 frames, one chunk each), {workers} workers: plan {plan_s:.2f} s, "
          f"run {wall:.1f} s wall, run-process CPU {cpu:.1f} s (1-job run: {cpu_one:.2f} s)")
    rows += [
        ("plan of the sweep", f"{plan_s:.2f} s", f"<= 10 s for 10^4 jobs ({n} here)", C.verdict(plan_s * 1e4 / n <= 10)),
        ("client/scheduler overhead per job", f"{overhead_ms:.2f} ms", "<= 5 ms", C.verdict(overhead_ms <= 5)),
        ("frames/s", f"{frames / wall:.0f}", "-", ""),
        ("emitter-frames/s per worker", f"{locs / wall / workers:.0f}", "-", ""),
        ("files per small job", f"{files:.1f}", "<= 6", C.verdict(files <= 6)),
        ("peak worker RSS", f"{peak / 2**20:.0f} MiB", "-", ""),
        ("re-run, all reused: wall per job", f"{again_wall / n * 1e3:.2f} ms", "-", ""),
        ("re-run, all reused: run-process CPU per job", f"{again_cpu / n * 1e3:.2f} ms", "-", ""),
    ]
    print(C.table(["(a) small jobs", "measured", "target", ""], rows, "lrll"))


def long_job_run(folder: Path, frames: int, workers: int) -> None:
    path = C.write_sweep(folder, "long", long_job(frames))
    plan, plan_s, wall, cpu, peak = _run(path, folder / "long", workers)
    (job,) = plan.jobs
    locs = C.localizations(folder / "long")
    files = _files(folder / "long")
    print(f"(b) one {frames}-frame 64x64 job, {workers} workers: layout {job.chunk_frames} frames per chunk, "
          f"{job.shard_frames or '-'} per shard ({len(job.chunks)} files), run {wall:.1f} s wall")
    rows = [
        ("frames/s", f"{frames / wall:.0f}", "-", ""),
        ("emitter-frames/s per worker", f"{locs / wall / workers:.0f}", "-", ""),
        ("files per 10^4 frames", f"{files / frames * 1e4:.1f}", "bounded (a few per shard)", ""),
        ("peak worker RSS", f"{peak / 2**20:.0f} MiB", "flat (O(one shard))", ""),
    ]
    print(C.table(["(b) long job", "measured", "target", ""], rows, "lrll"))


def startup(folder: Path, workers: int, reps: int) -> None:
    """Also the run process's own CPU seconds up to that chunk, and those of its imports alone: one
    process's CPU is serial, so where it exceeds the target no overlap with the cluster reaches it."""
    path = C.write_sweep(folder, "first", C.SMALL_JOB, workers=workers)
    times, cpus, imports = [], [], []
    for i in range(reps):
        output = folder / f"first{i}"
        entries = output / "cache" / "chunks"
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(path), "--output", str(output)],
                                cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run, cpu = psutil.Process(proc.pid), 0.0
        while not (entries.is_dir() and any(entries.glob("*.json"))) and proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                cpu = sum(run.cpu_times()[:2])
            time.sleep(0.005)
        times.append(time.perf_counter() - start)
        cpus.append(cpu)
        proc.wait()
        imports.append(float(subprocess.run(
            [sys.executable, "-c", "import time; t = time.process_time(); import pipeline.run; "
                                   "print(time.process_time() - t)"],
            cwd=folder, capture_output=True, text=True, check=True).stdout))
    first = C.median(times)
    print(C.table([f"(c) start-up (median of {reps} runs)", "measured", "target", ""],
                  [("run start to first finished chunk", f"{first:.2f} s", "<= 1.0 s", C.verdict(first <= 1.0)),
                   ("  run-process CPU up to that chunk", f"{C.median(cpus):.2f} s", "-", ""),
                   ("  of which its imports (import pipeline.run)", f"{C.median(imports):.2f} s", "-", "")],
                  "lrll"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--frames", type=int, default=1000000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the start-up measurement")
    parser.add_argument("--skip-small", action="store_true")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--tmpdir")
    args = parser.parse_args()
    C.header("training-set sweeps: many small jobs, one long job, start-up", 1)
    with C.workdir("training_set_", args.tmpdir) as folder:
        C.check_disk(folder, 2.5 * args.frames * 64 * 64 * 2 + 4e4 * args.jobs, "the benchmark")
        startup(folder, args.workers, args.reps)
        if not args.skip_small:
            small_jobs(folder, args.jobs, args.workers)
        if not args.skip_long:
            long_job_run(folder, args.frames, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
