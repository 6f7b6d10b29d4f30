"""Local-cluster workers forked from the preloaded server (pipeline.forkserver) — issue 20's start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import REPO

from pipeline import forkserver
from pipeline.run.cluster import ClusterSpec, connect

pytestmark = pytest.mark.skipif(not forkserver.available(), reason="no forkserver on this platform")


def _workers(tmp_path) -> list[dict]:
    """What each worker of a new local cluster reports about itself."""

    def probe():  # (a local function: pickled by value, the worker imports nothing for it)
        import gc
        import re

        blocked = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", open("/proc/self/status").read(), re.M).group(1), 16)
        return {"parent": os.getppid(), "preloaded": all(m in sys.modules for m in forkserver.PRELOAD),
                "added": os.environ.get("SMLM_TEST_ADDED"), "mmap": os.environ.get("MALLOC_MMAP_THRESHOLD_"),
                "omp": os.environ.get("OMP_NUM_THREADS"), "seed": os.environ.get("PYTHONHASHSEED"),
                "sigint_blocked": bool(blocked & (1 << (signal.SIGINT - 1))),
                "sighup_blocked": bool(blocked & (1 << (signal.SIGHUP - 1))), "frozen": gc.get_freeze_count(),
                "collecting": gc.isenabled()}

    spec = ClusterSpec(workers=2, dashboard_address="127.0.0.1:0", spill_dir=str(tmp_path / "spill"))
    with connect(spec) as client:
        return list(client.run(probe).values())


def test_workers_fork_from_the_server_with_what_a_spawned_worker_gets(tmp_path, monkeypatch):
    assert forkserver.start()
    server = forkserver.forkserver._forkserver._forkserver_pid
    monkeypatch.setenv("SMLM_TEST_ADDED", "yes")  # set after the server started: the nanny passes it on
    workers = _workers(tmp_path)
    assert len(workers) == 2
    for w in workers:
        assert w["parent"] == server and w["preloaded"]
        assert w["added"] == "yes"
        expected = forkserver.worker_environ()  # (distributed's values unless this environment has its own)
        assert (w["mmap"], w["omp"], w["seed"]) == (expected["MALLOC_MMAP_THRESHOLD_"], expected["OMP_NUM_THREADS"],
                                                    expected["PYTHONHASHSEED"])
        assert w["sigint_blocked"] and w["sighup_blocked"]
        assert w["frozen"] > 0  # what the server imported is out of the collector's way (pipeline._preloaded)
        assert w["collecting"]  # (paused during the preload only: pipeline._preloading)
    # what glibc and OpenBLAS read when they load: the server's environment as it was exec'd
    with open(f"/proc/{server}/environ", "rb") as f:
        started = dict(item.decode().split("=", 1) for item in f.read().split(b"\0") if b"=" in item)
    for key in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        assert started.get(key) == expected[key], key


def test_spawned_when_switched_off_or_a_fork_cannot_give_the_environment(tmp_path, monkeypatch):
    assert forkserver.start()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # read when numpy loads: a fork keeps the server's
    for w in _workers(tmp_path / "a"):
        assert w["parent"] == os.getpid() and not w["preloaded"] and w["omp"] == "2"  # (the environment's wins)
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("SMLM_SWEEP_FORKSERVER", "0")
    for w in _workers(tmp_path / "b"):
        assert w["parent"] == os.getpid() and not w["preloaded"]
        assert w["sigint_blocked"] and w["sighup_blocked"]


def test_fork_environ(monkeypatch):
    assert forkserver.start()
    environ = forkserver.worker_environ()
    before = forkserver.fork_environ(environ)  # (pytest and dask set a few variables of their own)
    assert before is not None and "SMLM_TEST_ADDED" not in before
    monkeypatch.setenv("SMLM_TEST_ADDED", "1")
    assert forkserver.fork_environ(environ) == {**before, "SMLM_TEST_ADDED": "1"}
    assert forkserver.fork_environ({**environ, "MALLOC_MMAP_THRESHOLD_": "1"}) is None  # the nanny's differs
    monkeypatch.setenv("PYTHONWARNINGS", "error")  # read at interpreter start
    assert forkserver.fork_environ(environ) is None
    monkeypatch.delenv("PYTHONWARNINGS")
    monkeypatch.delenv("PATH")  # removed since the server started
    assert forkserver.fork_environ(environ) is None


def test_a_server_that_died_is_started_again_with_our_preload_and_environment(tmp_path):
    import time

    import psutil

    assert forkserver.start()
    old = forkserver.forkserver._forkserver._forkserver_pid
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while psutil.Process(old).status() != psutil.STATUS_ZOMBIE:  # (dead, not yet reaped)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # distributed's nanny sets its own preload list; a server multiprocessing restarted for it would have that
    forkserver.multiprocessing.get_context("forkserver").set_forkserver_preload(["distributed"])
    assert forkserver.start()
    new = forkserver.forkserver._forkserver._forkserver_pid
    while not psutil.Process(new).cmdline():  # (forked, not yet exec'd)
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert new != old and "pipeline.run.graph" in " ".join(psutil.Process(new).cmdline())
    for w in _workers(tmp_path):
        assert w["parent"] == new and w["preloaded"] and w["sigint_blocked"]


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout


def test_forked_workers_start_without_distributed_importing_its_preload_list_here():
    # a nanny asks distributed.utils.get_mp_context for the context: for a forkserver it would
    # first import every package of distributed's version list (pandas: 0.34 s) in the run process
    out = _python("import sys\n"
                  "import dask, distributed.utils\n"
                  "from pipeline.run import cluster\n"
                  "method, _ = cluster._start_method()\n"
                  "with dask.config.set(method):  # as connect() starts the cluster\n"
                  "    distributed.utils.get_mp_context()\n"
                  "print(method['distributed.worker.multiprocessing-method'], 'pandas' in sys.modules)")
    assert out.split() == ["forkserver", "False"]


def test_the_command_line_leaves_its_objects_to_the_exit():
    # the interpreter's last collection over them took 0.9 s after a run; program() freezes them
    out = _python("import atexit, gc\n"
                  "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
                  "from pipeline.cli import program\n"
                  "raise SystemExit(program(['plan', 'configs/noise_study.toml']))")
    assert out.splitlines()[-1] == "frozen True"
