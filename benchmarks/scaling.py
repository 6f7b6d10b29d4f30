"""1 worker vs 2 workers on a sweep of 4 jobs (not a test).

The sweep: the peer job's settings (1200x1200 px, Gaussian PSF r = 5, read noise 10, chunks of 10
frames, 20 emitters per frame-length unit as in the peer job) shortened to ``--frames`` (100) frames
per job, over 4 backgrounds (50, 100, 150, 200 photons) -- or any sweep file given with ``--sweep``.
Each repetition runs the whole ``python -m pipeline run SWEEP --output DIR --workers N`` for N = 1
and N = 2 (interleaved, so both see the same machine state; output deleted after every run) and
records the wall time (cluster start-up and exports included) and the sum of the chunk tasks' own
seconds (from the cache entries).

Prints median wall times, the speed-up wall(1) / wall(2) (issue 7 target: >= 1.8) and the parallel
efficiency; also the chunk-task seconds of both, which show whether a worker got slower when two
run side by side (shared memory bandwidth, disk, other load: on a 2-core machine the client and
scheduler share the cores with the workers).

Run:  python benchmarks/scaling.py [--frames 100] [--reps 3] [--sweep PATH] [--tmpdir DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import _common as C


def chunk_seconds(output: Path) -> float:
    return sum(float(json.loads(p.read_text())["seconds"]) for p in (Path(output) / "cache" / "chunks").glob("*.json"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=100, help="frames per job (emitters scale with it)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sweep", default=None, help="use this sweep file instead of the built-in 4-job sweep")
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args()

    what = args.sweep or (f"4 jobs: peer-job settings, {args.frames} frames each, "
                          f"background 50/100/150/200")
    C.header(f"scaling: 1 vs 2 workers, {what}; wall of `python -m pipeline run --workers N`", args.reps)
    if not args.sweep:
        C.check_disk(Path(args.tmpdir or "/tmp"), 4 * C.peer_bytes(args.frames), "the 4-job sweep")
    walls = {1: [], 2: []}
    tasks = {1: [], 2: []}
    with C.workdir("scaling_", args.tmpdir) as work:
        if args.sweep:
            sweep = Path(args.sweep).resolve()
        else:
            sweep = C.write_sweep(work, "scaling", C.peer_job(args.frames),
                                  variables={"camera.background": [50.0, 100.0, 150.0, 200.0]})
        for rep in range(args.reps):
            for w in (1, 2):
                out = work / f"out_w{w}"
                run = C.run_pipeline(sweep, out, workers=w)
                walls[w].append(run.wall_s)
                tasks[w].append(chunk_seconds(out))
                print(f"  {w} worker{'s' if w > 1 else ' '} rep {rep + 1}: wall {run.wall_s:6.1f} s, "
                      f"chunk tasks {tasks[w][-1]:6.1f} s, {C.localizations(out)} localizations", flush=True)
                C.clear(out)
    w1, w2 = C.median(walls[1]), C.median(walls[2])
    t1, t2 = C.median(tasks[1]), C.median(tasks[2])
    print()
    print(C.table(["workers", "reps", "wall s", "speed-up", "efficiency", "chunk tasks s"],
                  [["1", args.reps, f"{w1:.1f}", "1.00", "1.00", f"{t1:.1f}"],
                   ["2", args.reps, f"{w2:.1f}", f"{w1 / w2:.2f}", f"{w1 / w2 / 2:.2f}", f"{t2:.1f}"]]))
    print(f"chunk-task seconds with 2 workers / with 1: {t2 / t1:.2f} (1.00 = a task costs the same when two run)")
    print(f"target: 2 workers >= 1.8x one worker: {w1 / w2:.2f}x -> {C.verdict(w1 / w2 >= 1.8)}")


if __name__ == "__main__":
    main()
