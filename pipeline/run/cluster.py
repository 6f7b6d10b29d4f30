"""The dask.distributed cluster a run uses: a LocalCluster by default, or an existing scheduler.

Worker memory management (fractions of each worker's memory limit; set explicitly so that a
run behaves the same whatever the user's dask config):

- ``target`` 0.60: above it, the worker spills least-recently-used task results to disk;
- ``spill`` 0.70: above it (process memory), spilling is forced;
- ``pause`` 0.80: the worker stops starting new tasks until memory falls;
- ``terminate`` 0.95: the nanny restarts the worker (its chunk is retried elsewhere).

A chunk task holds about one chunk (``plan`` prints the estimate), so these thresholds are
reached only when chunks are far too large for the limit — which ``plan``/``run`` refuse upfront.

Who can reach the local cluster: the scheduler, the workers and (unless configured otherwise) the
dashboard listen on the loopback address only; on a shared login node nobody else sees the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dask
import distributed.utils
import tornado.web
from distributed import Client, LocalCluster, WorkerPlugin
from distributed.core import Status

from .. import forkserver, signals

MEMORY_THRESHOLDS = {
    "distributed.worker.memory.target": 0.60,
    "distributed.worker.memory.spill": 0.70,
    "distributed.worker.memory.pause": 0.80,
    "distributed.worker.memory.terminate": 0.95,
    # (why: pipeline.forkserver.WORKER_ENVIRON)
    "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": forkserver.WORKER_ENVIRON["MALLOC_MMAP_THRESHOLD_"],
}


#: a local cluster's event loops wake less often: distributed's 20 ms tick (a diagnostic of a
#: blocked loop, which still warns past its 3 s limit; its own tests tick at 500 ms) in the
#: scheduler, every nanny and every worker, and the workers' 10 ms statistical profiler (the
#: dashboard's Profile page). With 2 workers doing nothing they took 9 % of a core in the run
#: process and 6 % in each worker; with these, 4 % and 1.3 %.
QUIET_LOOPS = {"distributed.admin.tick.interval": "500ms", "distributed.worker.profile.enabled": False}


def default_workers() -> int:
    """One worker process per core."""
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ClusterSpec:
    workers: int
    threads_per_worker: int = 1
    memory_limit: str | int = "auto"
    dashboard_address: str = "127.0.0.1:8787"
    address: str = ""
    spill_dir: str | None = None
    memory_auto: bool = True  # memory_limit "auto": RAM / workers
    workers_option: str = "--workers"  # where the worker count came from, for messages


def cluster_spec(sweep, workers: int | None, scheduler: str | None, output: Path) -> ClusterSpec:
    """The cluster of a sweep: ``[cluster]`` overridden by ``--workers``/``--scheduler``.

    ``memory_limit`` is resolved to bytes per worker ("auto" = RAM / workers).
    """
    from ..errors import UserError
    from ..plan import worker_memory_limit

    cfg = sweep.model.cluster
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: must be >= 1")
    if scheduler and not scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise UserError(f"--scheduler {scheduler!r}: expected an address such as tcp://host:8786")
    n = workers or cfg.workers or default_workers()
    option = "--workers" if workers else "cluster.workers" if cfg.workers else "workers (one per core)"
    return ClusterSpec(workers=n, threads_per_worker=cfg.threads_per_worker,
                       memory_limit=worker_memory_limit(cfg.memory_limit, n),
                       dashboard_address=cfg.dashboard_address, address=scheduler or cfg.address,
                       spill_dir=str(Path(output) / "dask-spill"),
                       memory_auto=cfg.memory_limit in ("auto", ""), workers_option=option)


def loopback_dashboard(address: str) -> str:
    """``[host]:port`` with the loopback address for a missing host.

    dask binds a bare port (``":8787"``) to every interface; here it means 127.0.0.1, so that the
    sweep files that spell it so (every output's sweep.toml of earlier versions) stay private. A
    host given explicitly (``"0.0.0.0:8787"``) is used as it is.
    """
    host, _, port = address.rpartition(":")
    return address if host else f"127.0.0.1:{port}"


def _keep_record(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Compute Failed")


class QuietTaskErrors(WorkerPlugin):
    """Drop distributed's "Compute Failed" log record (one per failed try, with its traceback).

    The run reports every failed job itself — one line on stderr, the traceback in status.json —
    so the worker's copy of each attempt is noise on the terminal. Registered as a plugin so that
    a worker restarted by its nanny gets it again.
    """

    name = "smlm-sweep-quiet-task-errors"

    def setup(self, worker) -> None:
        _quiet_task_errors()


def _quiet_task_errors() -> None:
    for name in ("distributed.worker", "distributed.scheduler", "distributed.client"):
        logger = logging.getLogger(name)
        if _keep_record not in logger.filters:
            logger.addFilter(_keep_record)


@contextlib.contextmanager
def connect(spec: ClusterSpec, client: Client | None = None) -> Iterator[Client]:
    """``client`` as given (left open), a client on an existing scheduler (``spec.address``), or one
    on a new LocalCluster of processes."""
    if client is not None:
        yield client
        return
    _quiet_task_errors()  # in this process: the client (and the local cluster's scheduler)
    with dask.config.set(MEMORY_THRESHOLDS):
        if spec.address:
            with Client(spec.address, timeout="20s") as client:
                yield client
            return
        spill = spec.spill_dir or tempfile.gettempdir()
        Path(spill).mkdir(parents=True, exist_ok=True)
        # the dashboard moves to a free port when the configured one is taken: not worth a warning
        logging.getLogger("distributed.node").setLevel(logging.ERROR)
        with contextlib.ExitStack() as stack:
            # a signal while the cluster starts stops the run as soon as the cluster is up and
            # registered to be closed (interrupted inside LocalCluster, it would leave its workers)
            with signals.deferred():
                method, env = _start_method()
                stack.enter_context(dask.config.set({**method, **QUIET_LOOPS}))  # (nannies pass it to workers)
                with _workers_block_terminal_signals(), warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=r"Port \d+ is already in use", category=UserWarning)
                    cluster = stack.enter_context(LocalCluster(
                        n_workers=spec.workers, threads_per_worker=spec.threads_per_worker, processes=True,
                        host="127.0.0.1", memory_limit=spec.memory_limit,
                        dashboard_address=loopback_dashboard(spec.dashboard_address),
                        local_directory=spill, silence_logs=logging.ERROR, env=env,
                        scheduler_kwargs={"dashboard": False},  # (its port listens now: _attach_dashboard)
                    ))
                client = stack.enter_context(Client(cluster))
            try:
                client.register_plugin(QuietTaskErrors())  # (an external cluster's workers log where their owner says)
                _attach_dashboard(cluster)
                yield client
            finally:
                _quiet_shutdown(client)


def _attach_dashboard(cluster: LocalCluster) -> None:
    """Give the running scheduler its dashboard pages, importing them in a thread meanwhile.

    The scheduler starts with its HTTP server listening on the dashboard's address (the printed
    link is right from the start) but without the dashboard's pages: their imports (bokeh, ~300
    modules, 0.45 s of this process's CPU) would lie on the path to the first chunk. They are
    imported while the first tasks are submitted and run, then attached on the scheduler's event
    loop as distributed itself does (``distributed.dashboard.scheduler.connect``). Until then a
    request waits (:class:`_PagesComing`). A run over before then closes without them.
    """
    scheduler, attached = cluster.scheduler, threading.Event()
    scheduler.http_application.add_application(_PagesComing(attached))

    def attach() -> None:
        try:
            if scheduler.status == Status.running:
                from distributed.dashboard.scheduler import connect as connect_dashboard

                connect_dashboard(scheduler.http_application, scheduler.http_server, scheduler, prefix="/")
        finally:
            attached.set()

    def load() -> None:
        try:
            import distributed.dashboard.scheduler  # noqa: F401
        except ImportError:  # (no bokeh: no pages, as distributed has none without it)
            attached.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
            cluster.loop.add_callback(attach)

    threading.Thread(target=load, name="smlm-dashboard-import", daemon=True).start()


class _WaitForPages(tornado.web.RequestHandler):
    """Answers, once the pages are attached, with a redirect to the same address (then served by them)."""

    def initialize(self, attached: threading.Event) -> None:
        self.attached = attached

    async def get(self) -> None:
        for _ in range(3000):  # (at most 60 s: then the redirect meets whatever is there)
            if self.attached.is_set():
                break
            await asyncio.sleep(0.02)
        self.redirect(self.request.uri)


class _PagesComing(tornado.web.Application):
    """Takes the requests that nothing else serves while the dashboard's pages are not attached
    (the scheduler's router asks its applications in order), none afterwards."""

    def __init__(self, attached: threading.Event):
        super().__init__([(r"/.*", _WaitForPages, {"attached": attached})])
        self.attached = attached

    def find_handler(self, request, **kwargs):
        return None if self.attached.is_set() else super().find_handler(request, **kwargs)


def _start_method() -> tuple[dict, dict | None]:
    """Fork the workers from the preloaded server (:mod:`pipeline.forkserver`, started now unless
    the CLI did) when it gives them the environment spawned ones would get; else spawn them.
    Returns the dask config and the nanny's ``env`` for that."""
    environ = forkserver.worker_environ(dask.config.get("distributed.nanny.pre-spawn-environ"))
    if dask.config.get("distributed.worker.multiprocessing-method") == "spawn" and forkserver.start(environ):
        extra = forkserver.fork_environ(environ)
        if extra is not None:
            # distributed's first forkserver start would set its own preload list, importing
            # pandas here for it (0.34 s before the first worker starts): ours is running already
            distributed.utils._forkserver_preload_set = True
            return {"distributed.worker.multiprocessing-method": "forkserver"}, extra or None
    return {}, None


def _silence_distributed() -> None:
    logging.getLogger("distributed").setLevel(logging.CRITICAL)


def _quiet_shutdown(client: Client) -> None:
    """Silence distributed's loggers in the workers and here (the scheduler) before the cluster closes.

    A worker's heartbeat that meets the closing scheduler logs "Failed to communicate with
    scheduler" with a traceback (a race in distributed's shutdown, frequent after Ctrl-C); at this
    point every result is in and nothing worth reporting can come from the logs.
    """
    _silence_distributed()  # first: after a SIGTERM to the process group, the broadcast meets dead workers
    with contextlib.suppress(Exception):
        client.run(_silence_distributed, wait=True)


@contextlib.contextmanager
def _workers_block_terminal_signals() -> Iterator[None]:
    """Start worker processes with SIGINT and SIGHUP blocked.

    A terminal sends Ctrl-C and hang-up to the whole process group; the run process handles them
    (cancel, status, exit 128 + the signal number) and shuts the cluster down, so the workers
    must not die on them with tracebacks of their own. The signal mask is per thread and
    inherited: the threads started meanwhile (among them distributed's event loop, which spawns
    the workers and later restarts them) and the processes they fork and exec keep them blocked.
    A handler (SIG_IGN) instead would be process-wide, and the run would miss its own signals
    meanwhile; unblocking here delivers a signal that came in meanwhile. SIGTERM stays: it is
    how multiprocessing stops its children when a process exits.
    """
    with forkserver.terminal_signals_blocked():
        yield
