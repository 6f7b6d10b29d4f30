"""Would a forkserver shorten the start-up to the first finished task? (issue 20, not a test)

Each repetition runs two fresh interpreters side by side in time (interleaved), both starting a
LocalCluster as `run` does (2 worker processes, 1 thread, loopback) and running one task that
imports ``pipeline.run.graph`` (what a chunk task imports first):

- ``spawn``: distributed's default, every worker a fresh interpreter that imports distributed and
  then, in the task, the chunk modules;
- ``forkserver``: multiprocessing's forkserver started first, preloaded with distributed and
  ``pipeline.run.graph``, and dask told to use it, so the workers fork from an interpreter that
  has imported everything (while the client imports distributed itself).

Prints, per method, the seconds from interpreter start to: distributed imported, cluster up,
first task done (medians). Only prints.

Run:  python benchmarks/startup_forkserver.py [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import _common as C

CHILD = r'''
import json, sys, time
T0 = time.perf_counter()


def first_task():
    import pipeline.run.graph  # noqa: F401
    return 1


def main(method):
    if method == "forkserver":
        import multiprocessing as mp
        from multiprocessing import forkserver
        mp.get_context("forkserver").set_forkserver_preload(["distributed", "pipeline.run.graph"])
        forkserver.ensure_running()
        import dask
        dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    from distributed import Client, LocalCluster
    imported = time.perf_counter() - T0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        up = time.perf_counter() - T0
        client.submit(first_task, pure=False).result()
        done = time.perf_counter() - T0
    print(json.dumps({"imported": imported, "cluster": up, "first_task": done}))


if __name__ == "__main__":
    main(sys.argv[1])
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    C.header("start-up to the first finished task: spawn vs a preloaded forkserver (2 workers)", args.reps)
    methods = ("spawn", "forkserver")
    times = {m: [] for m in methods}
    with C.workdir("startup_") as folder:
        child = folder / "child.py"  # a file: spawned and forked workers re-import the main module by path
        child.write_text(CHILD)
        for rep in range(args.reps):
            for method in methods:
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, str(child), method], cwd=folder, capture_output=True, text=True)
                wall = time.perf_counter() - start
                if proc.returncode != 0:
                    raise RuntimeError(f"{method}: exited {proc.returncode}:\n{proc.stderr[-2000:]}")
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                times[method].append(result)
                print(f"  rep {rep + 1} {method:10s}: distributed imported {result['imported']:.2f} s, cluster up "
                      f"{result['cluster']:.2f} s, first task done {result['first_task']:.2f} s (process {wall:.2f} s)",
                      flush=True)
    print()
    rows = [[m] + [f"{C.median([r[k] for r in times[m]]):.2f}" for k in ("imported", "cluster", "first_task")]
            for m in methods]
    print(C.table(["method", "distributed imported s", "cluster up s", "first task s"], rows))


if __name__ == "__main__":
    main()
