"""The process the local cluster's workers are forked from: it has imported what a chunk task needs.

A spawned worker is a fresh interpreter: it imports distributed (~0.5 s) before it registers, and
the chunk modules (~0.6 s) in its first task, both on the critical path of every run. A worker
forked from this server starts with both done. ``python -m pipeline run`` starts the server first
of all (:func:`start`), so that its imports overlap the command's own imports and validation
(free of dask and numpy itself, this module costs nothing to import).

What a fork cannot change is fixed when the server starts, so it starts with what a nanny sets
for a spawned worker: the environment variables of ``distributed.nanny.pre-spawn-environ`` (malloc
thresholds, one BLAS thread: read by glibc and OpenBLAS when they load) and the hash seed dask
fixes, plus the terminal's signals blocked (the mask a spawned worker gets in
:func:`pipeline.run.cluster._workers_block_terminal_signals`). :func:`fork_environ` tells the
cluster whether the server can still give the workers the environment they would get now (and
what the nanny must add); if not, workers are spawned as before (as they are with
``SMLM_SWEEP_FORKSERVER=0``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from multiprocessing import forkserver, resource_tracker

#: imported by the server: distributed and what every chunk task imports (the export's h5py and
#: tifffile are left to the task that needs them: a longer preload delays every worker's start);
#: the first one pauses the garbage collector, the last one freezes what the others imported and
#: lets it run again (see their docstrings)
#: (not numcodecs, which the first chunk imports: preloaded, the peer job's chunks took 16.6 and
#: 18.9 s in all against 16.4 and 13.8 s without it, 2 interleaved pairs of runs; cause not found)
PRELOAD = ["pipeline._preloading", "distributed", "pipeline.run.graph", "scipy.special", "xxhash", "pipeline._preloaded"]

#: distributed's ``pre-spawn-environ`` defaults, and ours (pipeline.run.cluster.MEMORY_THRESHOLDS):
#: dask starts workers with MALLOC_TRIM_THRESHOLD_=65536 (memory goes back to the OS at once); glibc
#: then serves every allocation above 128 KiB by a fresh mmap, and each frame-sized temporary costs
#: its page faults again (+25 % per frame, measured). Below 32 MiB, serve them from the heap
#: instead: reused, yet still trimmed.
WORKER_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": 65536, "OMP_NUM_THREADS": 1, "MKL_NUM_THREADS": 1,
                  "OPENBLAS_NUM_THREADS": 1, "MALLOC_MMAP_THRESHOLD_": 32 * 2**20}

#: the signals of a terminal (Ctrl-C, hang-up): they reach the whole process group, workers included
TERMINAL_SIGNALS = {signal.SIGINT, signal.SIGHUP}

_started: dict[str, str] | None = None  # the environment of the server this process started
_server: int | None = None  # its process id


def available() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def worker_environ(pre_spawn: dict | None = None) -> dict[str, str]:
    """The variables a nanny sets before it starts a worker, as distributed computes them: the
    configured value unless the environment has the variable; the hash seed dask fixes."""
    env = {k: os.environ.get(k, str(v)) for k, v in (pre_spawn or WORKER_ENVIRON).items() if v is not None}
    if env.get("PYTHONHASHSEED") in (None, "0"):
        env["PYTHONHASHSEED"] = "6640"  # (distributed.nanny: consistent hashing across workers)
    return env


def start(environ: dict[str, str] | None = None) -> bool:
    """Start the server (once per process, or again if it died), preloaded, with ``environ``
    (default :func:`worker_environ`) on top of this process's environment and the terminal's
    signals blocked. False where the platform has no forkserver or it cannot start."""
    global _started, _server
    if not available() or os.environ.get("SMLM_SWEEP_FORKSERVER") == "0":
        return False
    environ = worker_environ() if environ is None else environ
    saved = {k: os.environ.get(k) for k in environ}
    with terminal_signals_blocked():
        os.environ.update(environ)
        try:
            # (again every time: distributed puts its own list there, for a server it would start)
            multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
            forkserver.ensure_running()  # a no-op while the server lives; a new one if it died
            if forkserver._forkserver._forkserver_pid != _server:
                _server, _started = forkserver._forkserver._forkserver_pid, dict(os.environ)
        except OSError:  # (no temporary folder for its socket, no processes left...): workers are spawned
            return False
        finally:
            for k, v in saved.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v
    return True


@contextlib.contextmanager
def terminal_signals_blocked() -> Iterator[None]:
    """SIGINT and SIGHUP blocked in this thread (and what it starts) for the block, with
    multiprocessing's resource tracker started inside it (:func:`start_resource_tracker`)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
    try:
        start_resource_tracker()
        signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)  # (starting it unblocked SIGINT here)
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


#: variables read when an interpreter or a library starts: a forked worker keeps the server's
_AT_START = ("PYTHON", "LD_", "MALLOC_", "OMP_", "MKL_", "OPENBLAS_")


def fork_environ(environ: dict[str, str]) -> dict[str, str] | None:
    """What the nanny must set in a worker forked from the running server so that it has the
    environment a spawned one would get now (this process's, with ``environ`` on top): the
    variables set or changed since the server started. None if the server cannot give that (not
    started here; a variable removed since, or one read at start-up changed): spawn instead."""
    if _started is None:
        return None
    now = {**os.environ, **environ}
    if any(k not in now for k in _started):
        return None
    changed = {k: v for k, v in now.items() if _started.get(k) != v}
    if any(k in environ or k.startswith(_AT_START) for k in changed):
        return None
    return changed


def start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (a process that every spawning process starts once) now.

    - Now, with the terminal's signals blocked: it ignores SIGINT and SIGTERM, not a hang-up.
      (Starting it unblocks SIGINT in the calling thread; started by the first worker's start,
      that worker would miss the mask.)
    - Without its leak warning: a worker killed in the middle of a task (after a signal, the
      nanny kills a worker that does not stop in time) leaves numcodecs' Blosc lock registered;
      the tracker unlinks it at the end, as it should, and says so in a three-line UserWarning
      after the run's one line.
    """
    options = list(sys.warnoptions)  # (the tracker's interpreter gets these as -W options)
    sys.warnoptions.append("ignore::UserWarning:multiprocessing.resource_tracker")
    try:
        resource_tracker.ensure_running()
    finally:
        sys.warnoptions[:] = options


def worker_processes(pid: int) -> list:
    """The local-cluster worker processes (psutil) among the descendants of process ``pid``: spawned
    ones, and those forked from a server (whose parent is the server: they share its command line)."""
    import psutil

    def command(process) -> str:
        try:
            return " ".join(process.cmdline())
        except psutil.Error:
            return ""

    server = "multiprocessing.forkserver import main"
    workers = []
    for child in psutil.Process(pid).children(recursive=True):
        line = command(child)
        try:
            forked = server in line and server in command(child.parent())
        except psutil.Error:
            forked = False
        if "spawn_main" in line or forked:
            workers.append(child)
    return workers
