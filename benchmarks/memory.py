"""Peak worker memory vs movie length: one job of 256x256 frames, same chunk size (not a test).

Acceptance check of the engine (design §8, "a worker holds O(one chunk), whatever the movie
length"): the peak RSS of the dask worker processes for 1 000, 5 000 and 20 000 frames with
``chunk_frames = 50`` must be flat, within 15 %.

For every movie length the script writes a one-job sweep (emitter density per frame held fixed:
``num_emitters = 2 * frames``; Gaussian PSF, r = 6 px; 2 workers) into a temporary folder, runs
``python -m pipeline run sweep.toml --output <tmp>/out`` as a subprocess and, every ~50 ms, reads
the memory of the run process and of all its descendants with psutil:

- the run process itself is the *client*: it also hosts the LocalCluster's scheduler and the
  nannies (both are asyncio objects in that process);
- each nanny starts one *worker* process through ``multiprocessing`` (command line
  ``... -c "from multiprocessing.spawn import spawn_main; ..."`` or a forkserver child); those are
  the processes the acceptance criterion is about;
- a ``multiprocessing.resource_tracker`` helper process (tiny) is listed but not counted.

Two numbers per process: the largest sampled RSS, and the kernel's own high-water mark
(``VmHWM`` in /proc/PID/status, exact even for peaks shorter than the sampling interval; the last
value read before the process exits is kept). The table reports the high-water mark; the
sampled peak is printed with ``--verbose``.

Run:  python benchmarks/memory.py [--frames 1000 5000 20000] [--repeats 3] [--verbose]
Prints one line per run, then a table: frames, median peak worker RSS, median client peak RSS,
median wall time, and the worker-RSS ratios to the shortest movie (pass: all within 15 %).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

MiB = 1024 ** 2
FRAME_BYTES = 256 * 256 * 2  # uint16
TOLERANCE = 0.15

SWEEP = """\
[sweep]
name = "memory_{frames}"
seed = 1

[cluster]
workers = {workers}
dashboard_address = ":0"

[base.emitters]
num_emitters = {emitters}
frames = {frames}
area_px = 256.0

[base.optics]
psf = "gaussian"
psf_radius_px = 6

[base.camera]
roi_size = 256

[base.render]
chunk_frames = {chunk}
"""


def role(proc: psutil.Process) -> str:
    """'worker', 'helper' (resource tracker / forkserver) or 'other', from the command line."""
    try:
        cmd = " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "other"
    if "resource_tracker" in cmd or "forkserver import main" in cmd:
        return "helper"
    if "multiprocessing" in cmd or "spawn_main" in cmd or "forkserver" in cmd:
        return "worker"
    return "other"


def vm_hwm(pid: int) -> int | None:
    """Peak resident set size of a live process, bytes (Linux), or None."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class Peak:
    role: str
    cmd: str
    rss: int = 0   # largest sampled RSS
    hwm: int = 0   # last VmHWM read (kernel high-water mark)

    def update(self, rss: int, hwm: int | None) -> None:
        self.rss = max(self.rss, rss)
        if hwm is not None:
            self.hwm = max(self.hwm, hwm)

    @property
    def peak(self) -> int:
        return max(self.rss, self.hwm)


@dataclass
class RunResult:
    frames: int
    wall_s: float
    client: Peak
    descendants: dict[int, Peak] = field(default_factory=dict)

    @property
    def workers(self) -> dict[int, Peak]:
        return {pid: p for pid, p in self.descendants.items() if p.role == "worker"}

    @property
    def worker_peak(self) -> int:
        return max((p.peak for p in self.workers.values()), default=0)


def _sample(proc: psutil.Process, peak: Peak) -> None:
    try:
        rss = proc.memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return
    peak.update(rss, vm_hwm(proc.pid))


def run_once(frames: int, workers: int, chunk: int, root: Path, interval: float) -> RunResult:
    text = SWEEP.format(frames=frames, emitters=2 * frames, workers=workers, chunk=chunk)
    return run_measured(text, frames, root, interval)


def run_measured(text: str, frames: int, root: Path, interval: float) -> RunResult:
    """Run one sweep file's text as ``python -m pipeline run`` and sample the memory of every process."""
    work = Path(tempfile.mkdtemp(prefix=f"memory_{frames}_", dir=root))
    try:
        sweep = work / "sweep.toml"
        sweep.write_text(text)
        log = work / "run.log"
        cmd = [sys.executable, "-m", "pipeline", "run", str(sweep), "--output", str(work / "out")]
        with open(log, "wb") as out:
            t0 = time.perf_counter()
            # cwd: not benchmarks/, whose kernels.py would shadow the kernels package
            popen = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=work)
            main = psutil.Process(popen.pid)
            result = RunResult(frames, 0.0, Peak("client", " ".join(cmd)))
            while popen.poll() is None:
                _sample(main, result.client)
                try:
                    children = main.children(recursive=True)
                except psutil.NoSuchProcess:
                    children = []
                for child in children:
                    peak = result.descendants.get(child.pid)
                    if peak is None:
                        try:
                            cmdline = " ".join(child.cmdline())
                        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                            continue
                        peak = result.descendants[child.pid] = Peak(role(child), cmdline)
                    _sample(child, peak)
                time.sleep(interval)
            result.wall_s = time.perf_counter() - t0
        if popen.returncode != 0:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"pipeline run exited {popen.returncode} for {frames} frames:\n{tail}")
        if not result.workers:
            raise RuntimeError("no worker process seen: the role() heuristic does not match this "
                               "dask version; rerun with --verbose to see the descendants")
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, nargs="+", default=[1000, 5000, 20000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk-frames", type=int, default=50)
    ap.add_argument("--interval", type=float, default=0.05, help="sampling interval, s")
    ap.add_argument("--tmpdir", default=None, help="where the temporary outputs go (default: system temp)")
    ap.add_argument("--verbose", action="store_true", help="list every descendant process of every run")
    args = ap.parse_args()

    root = Path(args.tmpdir or tempfile.gettempdir())
    need = 2 * max(args.frames) * FRAME_BYTES  # run's own preflight: store + OME-TIFF, uncompressed
    free = shutil.disk_usage(root).free
    if need > free:
        sys.exit(f"{root}: {free / 2**30:.1f} GiB free, the largest run needs up to {need / 2**30:.1f} GiB")

    print(f"peak RSS per worker, 256x256 uint16 frames, chunk_frames={args.chunk_frames}, "
          f"{args.workers} workers, num_emitters = 2 x frames, Gaussian PSF r=6; "
          f"{args.repeats} repetitions, sampled every {args.interval * 1000:.0f} ms + VmHWM")
    print(f"python {sys.version.split()[0]}, psutil {psutil.__version__}, {os.cpu_count()} CPUs, "
          f"temp in {root} ({free / 2**30:.0f} GiB free)")
    results: dict[int, list[RunResult]] = {}
    for frames in args.frames:
        for rep in range(args.repeats):
            r = run_once(frames, args.workers, args.chunk_frames, root, args.interval)
            results.setdefault(frames, []).append(r)
            per_worker = ", ".join(f"{p.peak / MiB:.0f}" for p in r.workers.values())
            print(f"  frames {frames:>6}  rep {rep + 1}: wall {r.wall_s:6.1f} s  client {r.client.peak / MiB:6.0f} MiB"
                  f"  workers [{per_worker}] MiB", flush=True)
            if args.verbose:
                for pid, p in [(0, r.client), *r.descendants.items()]:
                    print(f"      {p.role:<7} pid {pid or '-':>7}  sampled {p.rss / MiB:7.1f}  VmHWM "
                          f"{p.hwm / MiB:7.1f} MiB  {p.cmd[:110]}")

    base = statistics.median(r.worker_peak for r in results[args.frames[0]])
    print()
    print(f"{'frames':>7} {'emitters':>9} {'reps':>5} {'worker peak MiB':>16} {'client peak MiB':>16} "
          f"{'wall s':>8} {'worker ratio':>13}")
    print("-" * 80)
    ratios = []
    for frames, runs in results.items():
        w = statistics.median(r.worker_peak for r in runs)
        c = statistics.median(r.client.peak for r in runs)
        t = statistics.median(r.wall_s for r in runs)
        ratio = w / base
        ratios.append(ratio)
        print(f"{frames:>7} {2 * frames:>9} {len(runs):>5} {w / MiB:>16.1f} {c / MiB:>16.1f} {t:>8.1f} "
              f"{ratio:>13.3f}")
    for frames, ratio in zip(args.frames[1:], ratios[1:]):
        print(f"worker RSS ratio {frames}/{args.frames[0]}: {ratio:.3f}")
    flat = all(abs(r - 1) <= TOLERANCE for r in ratios)
    print(f"flat within {TOLERANCE:.0%}: {'yes' if flat else 'NO'}"
          + ("" if args.repeats >= 3 else f"  (only {args.repeats} repetitions: below the guide's 3)"))
    print("(worker = the multiprocessing worker processes the nannies start; value = max over workers of "
          "max(sampled RSS, VmHWM), median over repetitions)")


if __name__ == "__main__":
    main()
