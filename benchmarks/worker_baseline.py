"""RSS of an idle dask worker process that has imported what a chunk task needs (pipeline.plan.memory.WORKER_BASELINE).

Starts a LocalCluster like `run` does (processes, 1 thread), makes every worker import the chunk
task's modules (then, in a second round, also the scipy modules chunks import on first use),
waits for memory to settle and prints each worker's RSS and USS. Only prints.

    python benchmarks/worker_baseline.py [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# benchmarks/kernels.py is not the kernels package (also in the spawned workers, which re-run this file)
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]


def _import_chunk_modules(lazy: bool = False) -> int:
    import gc

    import pipeline.run.graph  # noqa: F401  - commit_chunk and everything it imports (kernels, zarr, exports)

    if lazy:  # what nearly every chunk imports on first use: scipy's special functions (and optimizers)
        import scipy.optimize  # noqa: F401
        import scipy.special  # noqa: F401
    gc.collect()
    return os.getpid()


def measure(workers: int, lazy: bool = False) -> list[tuple[float, float]]:
    import psutil
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      host="127.0.0.1") as cluster, Client(cluster) as client:
        pids = client.run(_import_chunk_modules, lazy).values()
        time.sleep(2)
        return [(psutil.Process(pid).memory_info().rss / 2**20, psutil.Process(pid).memory_full_info().uss / 2**20)
                for pid in pids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for lazy, what in ((False, "the chunk task's imports"), (True, "+ scipy.special and scipy.optimize")):
        rss, uss = [], []
        for _ in range(args.repeats):
            for r, u in measure(args.workers, lazy):
                rss.append(r)
                uss.append(u)
                print(f"worker ({what}): RSS {r:.0f} MiB, USS {u:.0f} MiB")
        print(f"{what}: median over {len(rss)} workers: RSS {statistics.median(rss):.0f} MiB "
              f"(max {max(rss):.0f}), USS {statistics.median(uss):.0f} MiB")


if __name__ == "__main__":
    main()
