"""`run` with workers forked from the preloaded server vs spawned (SMLM_SWEEP_FORKSERVER=0). Not a test.

Two jobs, each run as ``python -m pipeline run`` in a fresh process, the two start methods
interleaved in every repetition (2 workers):

- ``small``: training_set.py's small job (32x32 px, 100 frames, one chunk): seconds from the
  command's start to its first cache entry on disk (the first finished chunk) and to its exit;
- ``peer``: the peer job (peer.py, 1200x1200 px, 500 frames): wall time of the whole command.

Prints the medians and the ratio spawn / forked. With ``--baseline DIR`` (another checkout, e.g. a
git worktree of an earlier commit, put first on ``PYTHONPATH`` of its runs) it compares instead
this checkout with that one, both forked.

Run:  python benchmarks/startup.py [--reps 5] [--frames 500] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import _common as C
METHODS = {"forked": {"SMLM_SWEEP_FORKSERVER": "1"}, "spawned": {"SMLM_SWEEP_FORKSERVER": "0"}}


def timed_run(sweep: Path, output: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the first cache entry, seconds to exit) of one run with ``env`` added."""
    entries = output / "cache" / "chunks"
    env = dict(os.environ, **env)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(sweep), "--output", str(output)],
                            cwd=sweep.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    first = None
    while proc.poll() is None:
        if first is None and entries.is_dir() and any(entries.glob("*.json")):
            first = time.perf_counter() - start
        time.sleep(0.005)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"run exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
    C.clear(output)
    return (first if first is not None else wall), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--baseline", help="another checkout to compare with (both forked)")
    args = ap.parse_args()
    if args.baseline:
        root = str(Path(args.baseline).resolve())
        variants = {"this": {"SMLM_SWEEP_FORKSERVER": "1", "PYTHONPATH": str(C.REPO)},
                    "baseline": {"SMLM_SWEEP_FORKSERVER": "1", "PYTHONPATH": root}}
        C.header(f"run: this checkout vs {root}, workers forked (2 workers)", args.reps)
    else:
        variants = METHODS
        C.header("run: workers forked from the preloaded server vs spawned (2 workers)", args.reps)
    this, other = variants  # prints other / this
    results = {(job, m): [] for job in ("small", "peer") for m in variants}
    with C.workdir("startup_") as folder:
        sweeps = {"small": C.write_sweep(folder, "small", C.SMALL_JOB, workers=2),
                  "peer": C.write_sweep(folder, "peer", C.peer_job(args.frames), workers=2)}
        for rep in range(args.reps):
            for job, sweep in sweeps.items():
                for variant, env in variants.items():
                    results[job, variant].append(timed_run(sweep, folder / f"{job}-{variant}", env))
                    first, wall = results[job, variant][-1]
                    print(f"  rep {rep + 1} {job:5s} {variant:7s}: first chunk {first:.2f} s, exit {wall:.2f} s", flush=True)
    print()
    rows = []
    for job in ("small", "peer"):
        med = {m: (C.median([r[0] for r in results[job, m]]), C.median([r[1] for r in results[job, m]]))
               for m in variants}
        for i, what in ((0, "first chunk"), (1, "exit")):
            rows.append([f"{job}: {what}", f"{med[this][i]:.2f}", f"{med[other][i]:.2f}",
                         f"{med[other][i] / med[this][i]:.2f}"])
    print(C.table(["run start to", f"{this} s", f"{other} s", f"{other} / {this}"], rows))


if __name__ == "__main__":
    main()
