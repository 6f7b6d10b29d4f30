"""Time to re-run a finished 9-job sweep (not a test).

A 3x3 sweep (``emitters.num_emitters`` x ``camera.background``) of small jobs (128x128 px,
``--frames`` (200) frames, Gaussian PSF r = 5, chunks of 20 frames, 2 workers) is run once into a
temporary folder (that first run's wall time is printed for scale); then the very same command
``python -m pipeline run SWEEP --output DIR`` is timed ``--reps`` (3) more times. Every chunk has a
valid cache entry and every export its marker, so a re-run must only check them (no cluster is
started). The script checks that the re-run says "nothing to compute" and "0 exports".

Printed side by side, as floors of any re-run: ``python -c pass`` (interpreter start) and
``python -m pipeline plan SWEEP`` (imports + sweep validation, writes nothing).
Issue 7 target: re-run < 3 s.

Run:  python benchmarks/resume.py [--frames 200] [--reps 3] [--tmpdir DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import _common as C


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()

    C.header(f"resume: re-run of a finished 9-job sweep (3x3, 128x128 px, {args.frames} frames each, "
             f"2 workers)", args.reps)
    base = {
        "emitters": {"num_emitters": 2 * args.frames, "frames": args.frames, "area_px": 128.0},
        "optics": {"psf": "gaussian", "psf_radius_px": 5},
        "camera": {"roi_size": 128},
        "render": {"chunk_frames": 20},
    }
    variables = {"emitters.num_emitters": [args.frames, 2 * args.frames, 4 * args.frames],
                 "camera.background": [20.0, 100.0, 200.0]}
    with C.workdir("resume_", args.tmpdir) as work:
        sweep = C.write_sweep(work, "resume", base, workers=2, variables=variables)
        out = work / "out"
        first = C.run_pipeline(sweep, out)
        print(f"  first run: {first.wall_s:.1f} s")
        reruns, pythons, plans = [], [], []
        for rep in range(args.reps):
            pythons.append(timed([sys.executable, "-c", "pass"], work))
            plans.append(timed([sys.executable, "-m", "pipeline", "plan", str(sweep), "--output", str(out)], work))
            run = C.run_pipeline(sweep, out)
            reruns.append(run.wall_s)
            summary = next((l for l in run.log.splitlines() if l.startswith("sweep ") and "to compute" in l), "")
            m = re.search(r"(\d+) jobs, (\d+ chunks|nothing) to compute, (\d+) chunks reused, (\d+) exports", summary)
            noop = bool(m) and m.group(2) == "nothing" and m.group(4) == "0"
            started = "dashboard:" in run.log
            print(f"  re-run {rep + 1}: {run.wall_s:.2f} s  ({summary.split(' -> ')[0]}"
                  f"{'' if noop else '  <- NOT a no-op'}{'; a cluster was started' if started else ''})", flush=True)
    r = C.median(reruns)
    print()
    print(C.table(["command", "reps", "median s", "/ re-run"],
                  [["python -m pipeline run (first run)", 1, f"{first.wall_s:.2f}", f"{first.wall_s / r:.2f}"],
                   ["python -m pipeline run (re-run, all done)", args.reps, f"{r:.2f}", "1.00"],
                   ["python -m pipeline plan (same sweep)", args.reps, f"{C.median(plans):.2f}", f"{C.median(plans) / r:.2f}"],
                   ["python -c pass", args.reps, f"{C.median(pythons):.2f}", f"{C.median(pythons) / r:.2f}"]]))
    print(f"target: re-running a finished 9-job sweep < 3 s: {r:.2f} s -> {C.verdict(r < 3.0)}")


if __name__ == "__main__":
    main()
